//! One patient with 100,000 lab results in PostgreSQL: the first page, every page after it
//! through the `next` links, and `$lastn`, with the server's memory after each step.
//!
//! `cargo bench --bench scale [-- --rows N]` (or `scripts/bench`); the report is printed and
//! written to target/bench-scale.md.

#[path = "support/mod.rs"]
mod support;

use dva_demo_his::{self as demo, GeneratorOptions};
use dva_source_diesel::PostgresWriter;
use std::fmt::Write as _;
use std::time::{Duration, Instant};
use support::{statement, Args, Latencies, Server, PG};

const DATABASE: &str = "dva_scale";
const BASE: &str = "/fhir/stu3/gp-data";
const LAB: &str = "https://referentiemodel.nhg.org/tabellen/nhg-tabel-45-diagnostische-bepalingen";

fn main() {
    let args = Args::parse();
    let rows = args.number("--rows", 100_000);
    let dir = support::scratch_dir("scale");
    let options = GeneratorOptions { patients: 10, seed: 3, anchor: chrono::Local::now().date_naive() };
    support::ensure_postgres_database(DATABASE, &options);
    let tokens = demo::demo_tokens(&options);
    support::write_tokens(&dir, &tokens);
    let url = format!("{PG}/{DATABASE}");
    let patient = &tokens[0];
    let total = give_lab_rows(&url, &patient.bsn, rows);
    eprintln!("patient 1 has {total} lab results");

    let server = Server::start(&dir, &format!("kind = \"postgres\"\nurl = \"{url}\""), false);
    let agent = server.client();
    let get = |path: &str| -> (Duration, serde_json::Value) {
        let began = Instant::now();
        let response = agent
            .get(&format!("{}{path}", server.base))
            .set("Authorization", &format!("Bearer {}", patient.token))
            .call()
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let body: serde_json::Value = response.into_json().expect("JSON");
        (began.elapsed(), body)
    };
    let mut table = String::from("| step | time | server RSS after | server peak RSS |\n|---|---|---|---|\n");
    let mut row = |step: &str, time: String| {
        let (rss, peak) = server.rss_kib();
        let _ = writeln!(table, "| {step} | {time} | {:.1} MiB | {:.1} MiB |", mib(rss), mib(peak));
    };
    row("server started", "-".into());

    let first = format!("{BASE}/Observation?code={LAB}|&_count=100");
    let mut firsts = Latencies::default();
    for _ in 0..20 {
        firsts.push(get(&first).0);
    }
    row("first page of 100 (median of 20)", support::ms(firsts.percentile(50.0)));

    let began = Instant::now();
    let (mut pages, mut entries, mut slowest) = (0, 0, Duration::ZERO);
    let mut next = Some(first.clone());
    while let Some(path) = next {
        let (time, body) = get(&path);
        slowest = slowest.max(time);
        pages += 1;
        entries += body["entry"].as_array().map_or(0, Vec::len);
        next = body["link"]
            .as_array()
            .and_then(|links| links.iter().find(|l| l["relation"] == "next"))
            .and_then(|l| l["url"].as_str())
            .map(|u| u.find(BASE).map_or(u.to_owned(), |i| u[i..].to_owned()));
    }
    assert_eq!(entries, total, "paging must return every result once");
    row(
        &format!("all {pages} pages through `next` ({entries} results; slowest page {})", support::ms(slowest)),
        format!("{:.1} s", began.elapsed().as_secs_f64()),
    );

    let (time, body) = get(&format!("{BASE}/Observation/$lastn?code={LAB}|"));
    let kept = body["entry"].as_array().map_or(0, Vec::len);
    row(&format!("`$lastn` over all {total} ({kept} kept)"), support::ms(time));

    let report = format!(
        "One patient with {total} lab results (PostgreSQL, `{DATABASE}`), release binary, one client. {}\n\n{table}",
        support::machine()
    );
    println!("{report}");
    support::write_report("bench-scale.md", &report);
    let _ = std::fs::remove_dir_all(&dir);
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Copies the patient's first lab result until the patient has `rows` (not deleted) of them,
/// dates one hour apart going back; returns how many the patient has.
fn give_lab_rows(url: &str, bsn: &str, rows: u32) -> usize {
    let mut db = PostgresWriter::connect(url).expect("connect");
    let sql = format!(
        "WITH p AS (SELECT pat_id FROM patient WHERE bsn = '{bsn}'),
              first AS (SELECT * FROM labuitslag WHERE pat_id = (SELECT pat_id FROM p) AND verwijderd = 'N'
                        ORDER BY uitslag_id LIMIT 1),
              have AS (SELECT COUNT(*) AS n FROM labuitslag WHERE pat_id = (SELECT pat_id FROM p) AND verwijderd = 'N')
         INSERT INTO labuitslag (uitslag_id, pat_id, contact_id, episode_id, med_id, nhg_code, uitslag, afname, status, verwijderd)
         SELECT (SELECT MAX(uitslag_id) FROM labuitslag) + g, f.pat_id, f.contact_id, f.episode_id, f.med_id, f.nhg_code,
                f.uitslag, f.afname - g * INTERVAL '1 hour', f.status, f.verwijderd
         FROM first f, have, generate_series(1, {rows} - have.n) g;
         ANALYZE labuitslag"
    );
    db.execute_batch(&sql).expect("add lab results");
    let count = db
        .query(&statement(&format!(
            "SELECT COUNT(*) FROM labuitslag u JOIN patient p ON p.pat_id = u.pat_id \
             WHERE p.bsn = '{bsn}' AND u.verwijderd = 'N'"
        )))
        .expect("count");
    count.rows[0][0].to_text().and_then(|n| n.parse().ok()).expect("a count")
}
