//! One patient's 20-row lab search through each backend, beside the same SQL run directly by
//! the database's own command-line client in the same run (the baseline: no HTTP, no FHIR,
//! no connector). Needs the PostgreSQL and MariaDB servers and ODBC drivers of `scripts/test`.
//!
//! Run with `cargo bench --bench backends [-- --patients N --requests N]`; the table is printed
//! and written to target/bench-backends.md, and the figures go to docs/benchmarks.md by hand.

use arc_swap::ArcSwap;
use dva_connector::http::{self, AppState};
use dva_connector::runtime::Snapshot;
use dva_connector::search;
use dva_demo_his::{self as demo, DemoTarget, GeneratorOptions};
use dva_source_api::{Dialect, RowSource, SqlStyle, Statement, Value};
use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

const LAB: &str = "https://referentiemodel.nhg.org/tabellen/nhg-tabel-45-diagnostische-bepalingen";
const ROWS: usize = 20;
const DATABASE: &str = "dva_bench";
const PG: &str = "postgres://postgres@127.0.0.1:5432";
const MARIADB: &str = "Driver={MariaDB Unicode};Server=127.0.0.1;Port=3306;User=root;Password=;";
const PG_ODBC: &str = "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=5432;Uid=postgres;";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: u32| -> u32 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (patients, requests) = (arg("--patients", 2000), arg("--requests", 300) as usize);
    let dir = std::env::temp_dir().join(format!("dva-bench-backends-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");

    let options =
        GeneratorOptions { patients, seed: 7, anchor: chrono::NaiveDate::from_ymd_opt(2026, 6, 15).expect("date") };
    eprintln!("loading {patients} patients into SQLite, PostgreSQL and MariaDB ...");
    let sqlite = dir.join("ehr.sqlite");
    demo::create_database(&sqlite, &options).expect("sqlite");
    let mut admin = dva_source_diesel::PostgresWriter::connect(&format!("{PG}/test")).expect("PostgreSQL");
    admin.execute_batch(&format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")).expect("drop");
    admin.execute_batch(&format!("CREATE DATABASE {DATABASE}")).expect("create");
    demo::fill_database(&DemoTarget::Postgres(format!("{PG}/{DATABASE}")), &options, false).expect("load PostgreSQL");
    let mut maria = dva_source_odbc::OdbcWriter::connect(MARIADB, Dialect::Mysql).expect("MariaDB");
    maria.execute_batch(&format!("DROP DATABASE IF EXISTS {DATABASE}; CREATE DATABASE {DATABASE}")).expect("create");
    demo::fill_database(&DemoTarget::Odbc(format!("{MARIADB}Database={DATABASE};"), Dialect::Mysql), &options, false)
        .expect("load MariaDB");

    let (bsn, token) = busiest_patient(&sqlite, &options);
    let tokens = serde_json::json!([{ "accessToken": format!("Bearer {token}"), "bsn": bsn }]);
    std::fs::write(dir.join("tokens.json"), tokens.to_string()).expect("tokens");
    let query = format!("code={LAB}|&_count={ROWS}");

    let backends = [
        ("SQLite (diesel)", format!("kind = \"sqlite\"\npath = \"{}\"", sqlite.display()), Client::Sqlite),
        (
            "SQLite (ODBC)",
            format!(
                "kind = \"odbc\"\ndialect = \"sqlite\"\nconnection_string = \"Driver=SQLite3;Database={};\"",
                sqlite.display()
            ),
            Client::Sqlite,
        ),
        ("PostgreSQL (diesel)", format!("kind = \"postgres\"\nurl = \"{PG}/{DATABASE}\""), Client::Postgres),
        (
            "PostgreSQL (ODBC)",
            format!("kind = \"odbc\"\ndialect = \"postgres\"\nconnection_string = \"{PG_ODBC}Database={DATABASE};\""),
            Client::Postgres,
        ),
        (
            "MariaDB (ODBC)",
            format!("kind = \"odbc\"\ndialect = \"mysql\"\nconnection_string = \"{MARIADB}Database={DATABASE};\""),
            Client::Mariadb,
        ),
    ];
    let mut table = String::from(
        "| backend | connector over HTTP: req/s | rows/s | RowSource alone: req/s | native client, same SQL: req/s | rows/s |\n|---|---|---|---|---|---|\n",
    );
    for (name, source, client) in backends {
        let config = write_config(&dir, &source);
        let snapshot = Snapshot::load(&config).unwrap_or_else(|d| panic!("{name}: {d:?}"));
        let service = Arc::clone(&snapshot.services[0]);
        let url = serve(snapshot);
        let http = per_second(requests, || {
            let reply = ureq::get(&format!("{url}/Observation?{query}"))
                .set("Authorization", &format!("Bearer {token}"))
                .call()
                .expect("search");
            let body: serde_json::Value = reply.into_json().expect("json");
            assert_eq!(body["entry"].as_array().map(Vec::len), Some(ROWS), "{name}: the patient needs {ROWS} rows");
        });
        let statement = page_statement(&service, service.source.sql_style(), &query, &bsn);
        let source_alone = per_second(requests, || {
            let rows = service.source.query(&statement).expect("query");
            assert_eq!(rows.rows.len(), ROWS + 1);
        });
        let for_client = page_statement(&service, SqlStyle::odbc(service.source.sql_style().dialect), &query, &bsn);
        let native = client.run(&dir, &inline(&for_client), requests);
        let _ = writeln!(
            table,
            "| {name} | {http:.0} | {:.0} | {source_alone:.0} | {native:.0} | {:.0} |",
            http * ROWS as f64,
            native * ROWS as f64
        );
        eprintln!("{name}: done");
    }
    let report = format!(
        "{patients} patients; patient with the most lab results; `Observation?code=<NHG 45>|&_count={ROWS}`; \
         {requests} sequential requests after 20 warm-up ones.\n\n{table}"
    );
    println!("{report}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-backends.md");
    std::fs::write(&out, &report).expect("write report");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The BSN and token of the patient with the most lab results.
fn busiest_patient(sqlite: &Path, options: &GeneratorOptions) -> (String, String) {
    let source = dva_source_diesel::SqliteSource::open(sqlite, Default::default()).expect("open");
    let rows = source
        .query(&Statement {
            sql: "SELECT p.bsn FROM patient p JOIN labuitslag u ON u.pat_id = p.pat_id \
                  WHERE p.verwijderd = 'N' AND u.verwijderd = 'N' GROUP BY p.bsn ORDER BY COUNT(*) DESC LIMIT 1"
                .into(),
            binds: vec![],
        })
        .expect("busiest patient");
    let bsn = rows.rows[0][0].to_text().expect("bsn");
    let token = demo::demo_tokens(options).into_iter().find(|t| t.bsn == bsn).expect("token").token;
    (bsn, token)
}

/// The statement the connector runs for the search's first page, for this patient.
fn page_statement(service: &dva_connector::runtime::DataService, style: SqlStyle, query: &str, bsn: &str) -> Statement {
    let request = service.parse_search("Observation", query).expect("search");
    let patient = service.patient_key(bsn).expect("lookup").expect("known patient");
    let mapping = service
        .mappings
        .for_type("Observation")
        .find(|m| m.file.to_string_lossy().contains("observation-lab"))
        .expect("lab mapping");
    search::page_statement(
        mapping,
        style,
        &patient,
        &request.criteria,
        &service.mappings.code_tables,
        ROWS as u64 + 1,
        0,
    )
    .expect("statement")
}

/// The statement (with `?` placeholders) with its binds written in as literals, for a
/// command-line client.
fn inline(statement: &Statement) -> String {
    let mut out = String::new();
    let mut binds = statement.binds.iter();
    for (i, piece) in statement.sql.split('?').enumerate() {
        if i > 0 {
            let literal = match binds.next().expect("a bind per placeholder") {
                Value::Int(n) => n.to_string(),
                Value::Null => "NULL".into(),
                other => format!("'{}'", other.to_text().unwrap_or_default().replace('\'', "''")),
            };
            out.push_str(&literal);
        }
        out.push_str(piece);
    }
    out
}

#[derive(Clone, Copy)]
enum Client {
    Sqlite,
    Postgres,
    Mariadb,
}

impl Client {
    /// Runs `sql` `n` times in one session of the database's own client; statements per second.
    fn run(self, dir: &Path, sql: &str, n: usize) -> f64 {
        let script = dir.join("script.sql");
        std::fs::write(&script, format!("{sql};\n").repeat(n)).expect("script");
        let mut command = match self {
            Client::Sqlite => {
                let mut c = Command::new("sqlite3");
                c.arg(dir.join("ehr.sqlite"));
                c
            }
            Client::Postgres => {
                let mut c = Command::new("psql");
                c.args(["-h", "127.0.0.1", "-U", "postgres", "-d", DATABASE, "-q", "-X", "-v", "ON_ERROR_STOP=1"]);
                c
            }
            Client::Mariadb => {
                let mut c = Command::new("mariadb");
                c.args(["-h", "127.0.0.1", "-u", "root", DATABASE]);
                c
            }
        };
        let started = Instant::now();
        let status = command
            .stdin(std::fs::File::open(&script).expect("script"))
            .stdout(Stdio::null())
            .status()
            .expect("run the native client");
        assert!(status.success(), "native client failed");
        n as f64 / started.elapsed().as_secs_f64()
    }
}

fn per_second(n: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..20 {
        f();
    }
    let started = Instant::now();
    for _ in 0..n {
        f();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn write_config(dir: &Path, source: &str) -> std::path::PathBuf {
    let config = dir.join("dva-connector.toml");
    if !dir.join("audit.key").exists() {
        dva_connector::audit::new_key(&dir.join("audit.key")).expect("audit key file");
    }
    let mappings = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/demo-his/gp-data");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 1\nproduction = false\n[admin]\nlisten = \"127.0.0.1:0\"\n[auth]\nmode = \"static\"\n\
             token_file = \"tokens.json\"\n[sources.ehr]\n{source}\n[[services]]\nname = \"gp-data\"\n\
             base_path = \"/fhir/stu3/gp-data\"\nmappings = \"{}\"\nsource = \"ehr\"\n",
            mappings.display()
        ),
    )
    .expect("config");
    config
}

/// Serves `snapshot` on a free port in a thread of its own; returns the service's base URL.
fn serve(snapshot: Snapshot) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let state = AppState { snapshot: Arc::new(ArcSwap::from_pointee(snapshot)) };
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move { http::serve(state, listener).expect("serve").await })
    });
    format!("http://127.0.0.1:{port}/fhir/stu3/gp-data")
}
