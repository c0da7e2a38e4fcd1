//! The same demo patients in five backends give byte-identical FHIR: SQLite through diesel
//! and through ODBC, PostgreSQL through libpq and through ODBC, MariaDB through ODBC. The
//! servers and Debian ODBC drivers are real; a missing one fails the test (CI installs them).

use crate::harness::{demo_db, demo_options, next_link, resources, spawn_on, TestApp, LAB_SYSTEM};
use dva_demo_his::{self as demo, DemoTarget};
use dva_source_api::Dialect;
use std::sync::OnceLock;

pub const POSTGRES_SERVER: &str = "postgres://postgres@127.0.0.1:5432";
pub const MARIADB_ODBC: &str = "Driver={MariaDB Unicode};Server=127.0.0.1;Port=3306;User=root;Password=;";
pub const POSTGRES_ODBC: &str = "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=5432;Uid=postgres;";

/// The database on the real servers that holds the demo patients. Recreated by each run
/// (so a crashed run leaves nothing that breaks the next) and small enough to leave behind.
pub const SERVER_DATABASE: &str = "dva_it_backends";

fn admin_postgres() -> dva_source_diesel::PostgresWriter {
    dva_source_diesel::PostgresWriter::connect(&format!("{POSTGRES_SERVER}/test"))
        .expect("PostgreSQL must run on 127.0.0.1:5432 (scripts/test starts it)")
}

fn admin_mariadb() -> dva_source_odbc::OdbcWriter {
    dva_source_odbc::OdbcWriter::connect(MARIADB_ODBC, Dialect::Mysql)
        .expect("MariaDB must run on 127.0.0.1:3306 with the MariaDB ODBC driver installed (scripts/test installs it)")
}

/// Loads the demo patients into PostgreSQL and MariaDB, once per run; returns the database name.
pub fn server_database() -> &'static str {
    static LOADED: OnceLock<()> = OnceLock::new();
    LOADED.get_or_init(|| {
        let name = SERVER_DATABASE;
        let mut pg = admin_postgres();
        pg.execute_batch(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).expect("drop");
        pg.execute_batch(&format!("CREATE DATABASE {name}")).expect("create the PostgreSQL database");
        let mut maria = admin_mariadb();
        maria
            .execute_batch(&format!("DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name}"))
            .expect("create the MariaDB database");
        let options = demo_options();
        demo::fill_database(&DemoTarget::Postgres(format!("{POSTGRES_SERVER}/{name}")), &options, false)
            .expect("load demo-his into PostgreSQL");
        demo::fill_database(
            &DemoTarget::Odbc(format!("{MARIADB_ODBC}Database={name};"), Dialect::Mysql),
            &options,
            false,
        )
        .expect("load demo-his into MariaDB");
    });
    SERVER_DATABASE
}

/// The `[sources.ehr]` keys of each backend, by name.
pub fn backends() -> Vec<(&'static str, String)> {
    let sqlite = demo_db().path.display().to_string();
    let name = server_database();
    vec![
        ("sqlite (diesel)", format!("kind = \"sqlite\"\npath = \"{sqlite}\"")),
        (
            "sqlite (odbc)",
            format!("kind = \"odbc\"\ndialect = \"sqlite\"\nconnection_string = \"Driver=SQLite3;Database={sqlite};\""),
        ),
        ("postgresql (diesel)", format!("kind = \"postgres\"\nurl = \"{POSTGRES_SERVER}/{name}\"")),
        (
            "postgresql (odbc)",
            format!("kind = \"odbc\"\ndialect = \"postgres\"\nconnection_string = \"{POSTGRES_ODBC}Database={name};\""),
        ),
        (
            "mariadb (odbc)",
            format!("kind = \"odbc\"\ndialect = \"mysql\"\nconnection_string = \"{MARIADB_ODBC}Database={name};\""),
        ),
    ]
}

/// Every kind of request the demo mapping set answers, for one patient.
fn requests() -> Vec<String> {
    let mut r: Vec<String> = crate::api::MAPPED_TYPES.iter().map(|t| format!("{t}?_count=4")).collect();
    r.extend(
        [
            "Patient?_include=Patient:general-practitioner",
            "Observation?_count=100",
            "Observation?date=ge2025-01-01&_count=100",
            "Observation?date=lt2024-06&_count=100",
            "Observation?status=final&_count=100",
            "Observation?category=http://snomed.info/sct|49581000146104&_count=100",
            "MedicationRequest?periodofuse=ge2026-01-01&_include=MedicationRequest:medication",
            "MedicationRequest?periodofuse=eb2025-06-15",
            "AllergyIntolerance?_count=100",
            "Encounter?_count=100",
            "EpisodeOfCare?_count=100",
        ]
        .map(String::from),
    );
    r.push(format!("Observation?code={LAB_SYSTEM}|&_count=100"));
    r.push(format!("Observation/$lastn?code={LAB_SYSTEM}|&max=2"));
    r
}

#[test]
fn every_backend_serves_byte_identical_fhir() {
    let apps: Vec<(&str, TestApp)> = backends().into_iter().map(|(name, toml)| (name, spawn_on(&toml))).collect();
    let (baseline_name, baseline) = &apps[0];
    let mut compared = 0;
    for i in 0..baseline.tokens.len() {
        let token = baseline.token(i);
        let mut paths = requests();
        let mut seen_reads = std::collections::BTreeSet::new();
        while let Some(path) = paths.pop() {
            let expected = baseline.get(&path, Some(token));
            assert_eq!(expected.status, 200, "{baseline_name} {path}: {}", expected.text);
            for (name, app) in &apps[1..] {
                let got = app.get(&path, Some(token));
                assert_eq!(got.status, expected.status, "{name} vs {baseline_name}: status of {path}");
                if got.text != expected.text {
                    panic!(
                        "{name} differs from {baseline_name} for patient {i} on {path}:\n{}",
                        first_difference(&expected.text, &got.text)
                    );
                }
                compared += 1;
            }
            // Next pages and a read of every resource a search returned.
            if let Some(next) = next_link(&expected.body) {
                paths.push(next.replace("https://dva.test/fhir/stu3/gp-data/", ""));
            }
            if expected.body["resourceType"] == "Bundle" {
                for resource in resources(&expected.body) {
                    let read = format!(
                        "{}/{}",
                        resource["resourceType"].as_str().unwrap_or_default(),
                        resource["id"].as_str().unwrap_or_default()
                    );
                    if seen_reads.insert(read.clone()) {
                        paths.push(read);
                    }
                }
            }
        }
    }
    eprintln!("{compared} responses compared with {baseline_name}");
    assert!(compared > 500, "compared only {compared} responses");
}

/// The first differing line of two pretty-printed JSON texts, with context.
fn first_difference(a: &str, b: &str) -> String {
    let pretty = |t: &str| {
        serde_json::from_str::<serde_json::Value>(t)
            .map(|j| serde_json::to_string_pretty(&j).unwrap_or_default())
            .unwrap_or(t.to_owned())
    };
    let (a, b) = (pretty(a), pretty(b));
    for (n, (la, lb)) in a.lines().zip(b.lines()).enumerate() {
        if la != lb {
            let context: Vec<&str> = a.lines().skip(n.saturating_sub(4)).take(4).collect();
            return format!("line {n}:\n{}\n- {la}\n+ {lb}", context.join("\n"));
        }
    }
    format!("lengths differ: {} vs {} lines", a.lines().count(), b.lines().count())
}
