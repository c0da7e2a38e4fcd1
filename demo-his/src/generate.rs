//! The deterministic generator of demo-his: the same options give the same database. It runs
//! the parts of each record (GP, hospital summary, documents) and writes them in batches.

use crate::options::{GeneratorOptions, MAX_PATIENTS, MIN_PATIENTS};
use crate::parts::{bgz, documents, gp};
use crate::schema;
use crate::tables::{Rng, Summary, Tables};
use crate::writer::DemoWriter;

/// A demo access token and the BSN it stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoToken {
    pub token: String,
    pub bsn: String,
}

/// One token per patient, in patient order.
pub fn demo_tokens(opts: &GeneratorOptions) -> Vec<DemoToken> {
    (0..opts.patients).map(|i| DemoToken { token: token(opts.seed, i), bsn: crate::bsn::nth(i) }).collect()
}

/// A UUID-shaped token, from the seed and the patient number.
fn token(seed: u64, i: u32) -> String {
    let mut rng = Rng(seed ^ 0x70C3_u64.wrapping_mul(u64::from(i) + 1));
    let (a, b) = (rng.next(), rng.next());
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

/// Creates the schema and fills it. The caller gives an empty database.
pub fn generate(writer: &mut dyn DemoWriter, opts: &GeneratorOptions) -> anyhow::Result<Summary> {
    if !(MIN_PATIENTS..=MAX_PATIENTS).contains(&opts.patients) {
        anyhow::bail!("--patients must be between {MIN_PATIENTS} and {MAX_PATIENTS}, not {}", opts.patients);
    }
    writer.execute_batch(&schema::ddl(writer.dialect()))?;
    let mut t = Tables::new();
    gp::reference_data(&mut t);
    writer.in_transaction(&mut |w| {
        let mut ids = gp::Ids::default();
        for i in 0..opts.patients {
            let patient = gp::patient(&mut t, &mut ids, opts, i);
            let context = patient.context(opts);
            bgz::patient(&mut t, &context);
            documents::patient(&mut t, &context);
            if i % 500 == 499 {
                t.flush(w)?;
            }
        }
        t.flush(w)
    })?;
    writer.execute_batch(&schema::analyze(writer.dialect()))?;
    Ok(Summary { rows: t.written() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use dva_source_api::{RowSource, Statement};

    fn options(patients: u32, seed: u64) -> GeneratorOptions {
        GeneratorOptions { patients, seed, anchor: NaiveDate::from_ymd_opt(2026, 3, 29).expect("date") }
    }

    #[test]
    fn tokens_are_deterministic_and_distinct() {
        let opts = options(10, 1);
        assert_eq!(demo_tokens(&opts), demo_tokens(&opts));
        let tokens: std::collections::HashSet<String> = demo_tokens(&opts).into_iter().map(|t| t.token).collect();
        assert_eq!(tokens.len(), 10);
    }

    /// Same options, same database: compared table by table, row by row.
    #[test]
    fn generation_is_deterministic() {
        let dir = std::env::temp_dir().join(format!("dva-gen-det-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let opts = options(300, 9);
        let dump = |name: &str| {
            let path = dir.join(name);
            let mut w = dva_source_diesel::SqliteWriter::create(&path).expect("db");
            let summary = generate(&mut w, &opts).expect("generate");
            drop(w);
            let limits = dva_source_diesel::SourceLimits { max_rows: 1_000_000, ..Default::default() };
            let source = dva_source_diesel::SqliteSource::open(&path, limits).expect("open");
            let tables: Vec<_> = schema::table_names()
                .map(|t| {
                    let sql = format!("SELECT * FROM {t} ORDER BY 1");
                    source.query(&Statement { sql, binds: vec![] }).expect("dump").rows
                })
                .collect();
            (summary, tables)
        };
        let (a, b) = (dump("a.sqlite"), dump("b.sqlite"));
        assert_eq!(a.0, b.0);
        assert!(a.1 == b.1, "the two databases differ");
        assert!(a.0.rows.iter().all(|(_, n)| *n > 0), "a table stayed empty: {:?}", a.0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn patient_count_is_bounded() {
        let dir = std::env::temp_dir().join(format!("dva-gen-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let mut w = dva_source_diesel::SqliteWriter::create(&dir.join("x.sqlite")).expect("db");
        assert!(generate(&mut w, &options(MIN_PATIENTS - 1, 1)).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
