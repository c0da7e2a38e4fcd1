//! Reload of a 200-file mapping set, beside a baseline measured in the same run: reading and
//! YAML-parsing the same files, which any reload has to do. Run with `cargo bench --bench reload`;
//! figures go to docs/benchmarks.md by hand.

use arc_swap::ArcSwap;
use dva_connector::mapping::yaml;
use dva_connector::runtime::reload::{reload, ReloadOutcome};
use dva_connector::runtime::Snapshot;
use dva_demo_his::{create_database, GeneratorOptions};
use std::path::Path;
use std::time::{Duration, Instant};

const FILES: usize = 200;
const ROUNDS: usize = 30;

fn main() {
    let dir = std::env::temp_dir().join(format!("dva-bench-reload-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mappings = dir.join("mappings");
    std::fs::create_dir_all(&mappings).expect("dir");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/demo-his/gp-data");
    std::fs::copy(repo.join("service.yaml"), mappings.join("service.yaml")).expect("service.yaml");
    // The common folder the set uses (common.yaml, Patient, Practitioner, Organization), beside it.
    let common = dir.join("common");
    std::fs::create_dir_all(&common).expect("dir");
    for entry in std::fs::read_dir(repo.with_file_name("common")).expect("common folder").flatten() {
        std::fs::copy(entry.path(), common.join(entry.file_name())).expect("copy");
    }
    let lab = std::fs::read_to_string(repo.join("observation-lab.yaml")).expect("lab mapping");
    for i in 0..FILES {
        // Each copy gets its own id prefix, as mappings of one type must.
        let text = lab.replace("id: \"lab-{uitslag_id}\"", &format!("id: \"lab{i}-{{uitslag_id}}\""));
        std::fs::write(mappings.join(format!("observation-{i:03}.yaml")), text).expect("write");
    }
    let db = dir.join("ehr.sqlite");
    let options =
        GeneratorOptions { patients: 10, seed: 1, anchor: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("date") };
    create_database(&db, &options).expect("db");
    std::fs::write(dir.join("tokens.json"), "[]").expect("tokens");
    dva_connector::audit::new_key(&dir.join("audit.key")).expect("audit key file");
    let config = dir.join("dva-connector.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nproduction = false\n[auth]\nmode = \"static\"\ntoken_file = \"tokens.json\"\n[sources.ehr]\nkind = \"sqlite\"\npath = \"{}\"\n[[services]]\nname = \"gp-data\"\nbase_path = \"/fhir/stu3/gp-data\"\nmappings = \"{}\"\nsource = \"ehr\"\n",
            db.display(),
            mappings.display()
        ),
    )
    .expect("config");

    let baseline = time(|| {
        for folder in [&mappings, &common] {
            for entry in std::fs::read_dir(folder).expect("dir").flatten() {
                let text = std::fs::read_to_string(entry.path()).expect("read");
                yaml::parse(&text).expect("parse");
            }
        }
    });
    let current = ArcSwap::from_pointee(Snapshot::load(&config).expect("loads"));
    let reloads = time(|| assert_eq!(reload(&config, &current), ReloadOutcome::Applied));
    let startup = time(|| {
        Snapshot::load(&config).expect("loads");
    });
    println!(
        "mapping files: {} ({FILES} Observation mappings + service.yaml + the common folder's 4), {ROUNDS} rounds each",
        FILES + 5
    );
    report("baseline: read + parse YAML", &baseline, None);
    report("reload: compile + swap", &reloads, Some(&baseline));
    report("snapshot load (start-up path)", &startup, Some(&baseline));
    let _ = std::fs::remove_dir_all(&dir);
}

fn time(mut f: impl FnMut()) -> Vec<Duration> {
    f(); // warm the file cache
    let mut samples: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    samples.sort();
    samples
}

fn report(what: &str, samples: &[Duration], baseline: Option<&[Duration]>) {
    let median = samples[samples.len() / 2];
    let p95 = samples[samples.len() * 95 / 100];
    let ratio = baseline.map_or(String::new(), |b| {
        format!(", {:.1}x the baseline median", median.as_secs_f64() / b[b.len() / 2].as_secs_f64())
    });
    println!("{what:32} median {:7.2} ms, p95 {:7.2} ms{ratio}", median.as_secs_f64() * 1e3, p95.as_secs_f64() * 1e3);
}
