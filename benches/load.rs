//! GP-data sessions of many patients under concurrent load, against PostgreSQL, beside the same
//! SQL run directly through libpq with the same concurrency (the baseline).
//!
//! `cargo bench --bench load [-- --patients N --clients N --seconds N --soak SECONDS]`
//! (or `scripts/bench`). Needs the PostgreSQL server of `scripts/test`. The report is printed
//! and written to target/bench-load.md; the figures go to docs/benchmarks.md by hand.
//!
//! A session is what a PGO asks for one patient: the GP-data requests of shared/medmij.md §4.1
//! that the demo mapping set serves, one after the other, each with the patient's own token.
//! The server is the release binary as a separate process (its RSS and CPU are its own); the
//! clients are threads of this process on the same two cores, as the baseline's are.

#[path = "support/mod.rs"]
mod support;

use dva_connector::mapping;
use dva_connector::runtime::{DataService, Snapshot};
use dva_demo_his::{self as demo, GeneratorOptions};
use dva_source_api::{PoolStatus, RowSet, RowSource, SourceError, SqlStyle, Statement};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{Args, Rng, Server};

const DATABASE: &str = "dva_load";
const PG: &str = "postgres://postgres@127.0.0.1:5432";
const BASE: &str = "/fhir/stu3/gp-data";
/// Sessions recorded for the baseline to replay (patients drawn at random).
const RECORDED_SESSIONS: usize = 500;

fn main() {
    let args = Args::parse();
    let patients = args.number("--patients", 10_000);
    let clients = args.number("--clients", 32) as usize;
    let seconds = args.number("--seconds", 20);
    let soak = args.number("--soak", 0);
    let dir = support::scratch_dir("load");
    let anchor = chrono::Local::now().date_naive();
    let options = GeneratorOptions { patients, seed: 11, anchor };
    let url = format!("{PG}/{DATABASE}");
    support::ensure_postgres_database(DATABASE, &options);
    let tokens = demo::demo_tokens(&options);
    support::write_tokens(&dir, &tokens);
    let requests = gp_data_requests(anchor);

    if soak > 0 {
        let server = Server::start(&dir, &postgres_source(&url), false);
        let report = support::soak(&server, &tokens, &requests, clients, Duration::from_secs(u64::from(soak)));
        support::write_report("bench-soak.md", &report);
        return;
    }

    eprintln!("recording the statements of {RECORDED_SESSIONS} sessions ...");
    let sessions = record_sessions(&dir, &url, &tokens, &requests);
    let statements: usize = sessions.iter().flatten().map(Vec::len).sum();
    eprintln!("baseline: {clients} libpq connections replaying them for {seconds} s ...");
    let baseline = support::replay(&url, &sessions, clients, Duration::from_secs(u64::from(seconds)));

    let mut table = String::from(
        "| run | sessions/s | requests/s | request p50 | request p99 | session p50 | session p99 | \
         server RSS max | server CPU per request | vs baseline |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let _ = writeln!(
        table,
        "| baseline: same SQL through libpq | {:.0} | {:.0} | {} | {} | {} | {} | - | - | 1.00 |",
        baseline.sessions_per_second(),
        baseline.requests_per_second(),
        support::ms(baseline.requests.percentile(50.0)),
        support::ms(baseline.requests.percentile(99.0)),
        support::ms(baseline.sessions.percentile(50.0)),
        support::ms(baseline.sessions.percentile(99.0)),
    );
    for tls in [false, true] {
        let label = if tls { "connector, HTTPS (TLS 1.3)" } else { "connector, HTTP" };
        eprintln!("{label}: {clients} clients for {seconds} s ...");
        let server = Server::start(&dir, &postgres_source(&url), tls);
        let run = support::drive(&server, &tokens, &requests, clients, Duration::from_secs(u64::from(seconds)));
        let _ = writeln!(
            table,
            "| {label} | {:.0} | {:.0} | {} | {} | {} | {} | {:.1} MiB | {:.2} ms | {:.2} |",
            run.load.sessions_per_second(),
            run.load.requests_per_second(),
            support::ms(run.load.requests.percentile(50.0)),
            support::ms(run.load.requests.percentile(99.0)),
            support::ms(run.load.sessions.percentile(50.0)),
            support::ms(run.load.sessions.percentile(99.0)),
            run.rss_max_kib as f64 / 1024.0,
            run.cpu_per_request.as_secs_f64() * 1000.0,
            run.load.sessions_per_second() / baseline.sessions_per_second(),
        );
        if run.load.failures > 0 {
            let _ = writeln!(table, "\n{label}: {} failed requests (see the server log)", run.load.failures);
        }
    }
    let paths: Vec<&str> = requests.iter().map(|r| r.split('?').next().unwrap_or(r)).collect();
    let report = format!(
        "{patients} demo-his patients in PostgreSQL; {clients} concurrent clients, {seconds} s each after a 3 s \
         warm-up; a session = {} requests ({}) for a random patient with its own token, on one keep-alive \
         connection per client. Baseline: the {statements} statements the connector ran for {} recorded \
         sessions, replayed by {clients} threads with a libpq connection each. {}\n\n{table}",
        requests.len(),
        paths.join(", "),
        sessions.len(),
        support::machine(),
    );
    println!("{report}");
    support::write_report("bench-load.md", &report);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The GP-data requests of shared/medmij.md §4.1 that demo-his maps, with the scripts' dates.
/// Not yet: `Composition?type=http://loinc.org|67781-5` and the lab request's
/// `_include=Observation:related-target&_include=Observation:specimen` (issue 5 maps them).
fn gp_data_requests(today: chrono::NaiveDate) -> Vec<String> {
    let fourteen_months_ago = today.checked_sub_months(chrono::Months::new(14)).unwrap_or(today);
    vec![
        format!("{BASE}/Patient?_include=Patient:general-practitioner"),
        format!("{BASE}/Encounter"),
        format!("{BASE}/EpisodeOfCare"),
        format!(
            "{BASE}/Observation?code=https://referentiemodel.nhg.org/tabellen/nhg-tabel-45-diagnostische-bepalingen|\
             &date=ge{fourteen_months_ago}"
        ),
        format!(
            "{BASE}/MedicationRequest?periodofuse=ge{today}&category=http://snomed.info/sct|16076005\
             &_include=MedicationRequest:medication"
        ),
        format!("{BASE}/AllergyIntolerance?category=medication"),
    ]
}

fn postgres_source(url: &str) -> String {
    format!("kind = \"postgres\"\nurl = \"{url}\"\npool_size = 8")
}

/// Runs sessions of random patients through the connector's own search code (no HTTP) with a
/// source that records every statement: per session, per request, the statements in order.
fn record_sessions(dir: &Path, url: &str, tokens: &[demo::DemoToken], requests: &[String]) -> Vec<Vec<Vec<Statement>>> {
    let config = support::write_config(dir, &postgres_source(url), false, 0);
    let snapshot = Snapshot::load(&config).unwrap_or_else(|d| panic!("config: {d:?}"));
    let settings = &snapshot.settings.services[0];
    let (set, diagnostics) = mapping::load_set(&settings.mappings);
    let set = set.unwrap_or_else(|| panic!("mappings: {diagnostics:?}"));
    let recorder = Arc::new(Recorder { inner: Arc::clone(&snapshot.services[0].source), log: Mutex::default() });
    let service = DataService::new(settings, set, recorder.clone(), &snapshot.settings);
    let mut rng = Rng::new(5);
    (0..RECORDED_SESSIONS)
        .map(|_| {
            let token = &tokens[rng.below(tokens.len())];
            requests.iter().map(|request| run_in_process(&service, &recorder, &token.bsn, request)).collect()
        })
        .collect()
}

fn run_in_process(service: &DataService, recorder: &Recorder, bsn: &str, request: &str) -> Vec<Statement> {
    let path = request.strip_prefix(BASE).unwrap_or(request).trim_start_matches('/');
    let (resource_type, query) = path.split_once('?').unwrap_or((path, ""));
    let search = service.parse_search(resource_type, query).unwrap_or_else(|e| panic!("{request}: {e}"));
    let patient = service.patient_key(bsn).expect("lookup").expect("a demo patient");
    service.search(&patient, resource_type, &search).unwrap_or_else(|e| panic!("{request}: {e}"));
    std::mem::take(&mut *recorder.log.lock().expect("recorder"))
}

/// A source that writes down every statement before passing it on.
struct Recorder {
    inner: Arc<dyn RowSource>,
    log: Mutex<Vec<Statement>>,
}

impl RowSource for Recorder {
    fn sql_style(&self) -> SqlStyle {
        self.inner.sql_style()
    }

    fn query(&self, statement: &Statement) -> Result<RowSet, SourceError> {
        self.log.lock().expect("recorder").push(statement.clone());
        self.inner.query(statement)
    }

    fn columns(&self, statement: &Statement) -> Result<Vec<String>, SourceError> {
        self.inner.columns(statement)
    }

    fn health(&self) -> Result<(), SourceError> {
        self.inner.health()
    }

    fn pool_status(&self) -> Option<PoolStatus> {
        self.inner.pool_status()
    }
}
