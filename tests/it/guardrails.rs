//! The connector must never harm the EHR it reads, and must survive the EHR going away:
//! read-only sessions, statement timeouts, the row cap, and a database that goes down under
//! a running server and comes back.

use crate::backends::{server_database, MARIADB_ODBC, POSTGRES_ODBC, POSTGRES_SERVER};
use crate::harness::{demo_db, spawn_on};
use crate::proxy::Proxy;
use dva_source_api::{Dialect, RowSource, SourceError, SourceLimits, Statement, Value};
use dva_source_diesel::PostgresSource;
use dva_source_odbc::{OdbcOptions, OdbcSource, TextEncoding};
use std::time::{Duration, Instant};

fn odbc(connection_string: String, dialect: Dialect, limits: SourceLimits) -> OdbcSource {
    OdbcSource::open(
        OdbcOptions { connection_string, dialect, encoding: TextEncoding::Utf16, init_sql: vec![] },
        limits,
    )
}

/// Every network backend, as the connector opens them.
fn sources(limits: SourceLimits) -> Vec<(&'static str, Box<dyn RowSource>)> {
    let db = server_database();
    let sqlite = demo_db().path.display().to_string();
    vec![
        ("postgresql (diesel)", Box::new(PostgresSource::open(&format!("{POSTGRES_SERVER}/{db}"), limits.clone()))),
        (
            "postgresql (odbc)",
            Box::new(odbc(format!("{POSTGRES_ODBC}Database={db};"), Dialect::Postgres, limits.clone())),
        ),
        ("mariadb (odbc)", Box::new(odbc(format!("{MARIADB_ODBC}Database={db};"), Dialect::Mysql, limits.clone()))),
        ("sqlite (odbc)", Box::new(odbc(format!("Driver=SQLite3;Database={sqlite};"), Dialect::Sqlite, limits))),
    ]
}

fn sql(text: &str) -> Statement {
    Statement { sql: text.into(), binds: vec![] }
}

#[test]
fn sessions_are_read_only() {
    for (name, source) in sources(SourceLimits::default()) {
        let before = source.query(&sql("SELECT COUNT(*) AS n FROM journaalregel")).expect(name);
        for write in
            ["DELETE FROM journaalregel", "UPDATE patient SET achternaam = 'x'", "CREATE TABLE hacked (x INTEGER)"]
        {
            let result = source.query(&sql(write));
            assert!(result.is_err(), "{name}: `{write}` was allowed");
        }
        let after = source.query(&sql("SELECT COUNT(*) AS n FROM journaalregel")).expect(name);
        assert_eq!(before.rows, after.rows, "{name}");
    }
}

#[test]
fn statements_are_cut_off_at_the_timeout() {
    let limits = SourceLimits { statement_timeout: Duration::from_secs(1), ..SourceLimits::default() };
    for (name, source) in sources(limits) {
        let sleep = match name {
            n if n.starts_with("postgresql") => "SELECT pg_sleep(10)",
            n if n.starts_with("mariadb") => "SELECT SLEEP(10)",
            _ => continue, // SQLite has no sleep; its busy timeout is tested in the adapter.
        };
        let started = Instant::now();
        let result = source.query(&sql(sleep));
        let took = started.elapsed();
        assert!(took < Duration::from_secs(5), "{name}: ran {took:?}");
        assert!(matches!(result, Err(SourceError::Timeout(_))), "{name}: {result:?}");
        assert!(source.query(&sql("SELECT 1 AS one")).is_ok(), "{name}: usable after a timeout");
    }
}

#[test]
fn the_row_cap_holds_on_every_backend() {
    let limits = SourceLimits { max_rows: 10, ..SourceLimits::default() };
    for (name, source) in sources(limits) {
        let result = source.query(&sql("SELECT regel_id FROM journaalregel"));
        assert!(matches!(result, Err(SourceError::RowCap(10))), "{name}: {result:?}");
    }
}

#[test]
fn the_row_cap_answers_with_an_operation_outcome() {
    // A cap below the default page is refused; above it, a large `_count` meets it.
    let source = format!(
        "kind = \"sqlite\"\npath = \"{}\"\nmax_rows = 3\n\n[fhir]\ndefault_count = 2",
        demo_db().path.display()
    );
    let app = spawn_on(&source);
    let reply = app.get("Observation?_count=50", Some(app.token(0)));
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.body["resourceType"], "OperationOutcome");
    assert_eq!(reply.body["issue"][0]["code"], "too-costly");
}

/// A database that goes down under a running server: data requests answer 503 with an
/// OperationOutcome within a second, and the server recovers by itself when it is back.
#[test]
fn a_database_that_goes_down_gives_503_fast_and_the_server_recovers() {
    let db = server_database();
    for (name, upstream, source) in [
        ("postgresql (diesel)", "127.0.0.1:5432", "kind = \"postgres\"\nurl = \"postgres://postgres@127.0.0.1:{port}/{db}\""),
        (
            "mariadb (odbc)",
            "127.0.0.1:3306",
            "kind = \"odbc\"\ndialect = \"mysql\"\nconnection_string = \"Driver={{MariaDB Unicode}};Server=127.0.0.1;Port={port};User=root;Password=;Database={db};\"",
        ),
    ] {
        let mut proxy = Proxy::start(upstream);
        let toml = source.replace("{port}", &proxy.port.to_string()).replace("{db}", db).replace("{{", "{").replace("}}", "}");
        let app = spawn_on(&toml);
        let token = app.token(0);
        assert_eq!(app.get("Observation?_count=5", Some(token)).status, 200, "{name}: before");

        proxy.stop();
        for attempt in 0..5 {
            let started = Instant::now();
            let reply = app.get("Observation?_count=5", Some(token));
            let took = started.elapsed();
            assert_eq!(reply.status, 503, "{name}: attempt {attempt} while down: {}", reply.text);
            assert_eq!(reply.body["resourceType"], "OperationOutcome", "{name}");
            assert!(took < Duration::from_secs(1), "{name}: attempt {attempt} took {took:?}");
        }
        let ready = crate::harness::get_url(&format!("{}/readyz", app.admin), None, None);
        assert_eq!(ready.status, 503, "{name}: readyz while down");

        proxy.restart();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let reply = app.get("Observation?_count=5", Some(token));
            if reply.status == 200 {
                break;
            }
            assert!(Instant::now() < deadline, "{name}: not recovered 10 s after the database came back");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// A database that stops answering (connections accepted, nothing forwarded): a request in
/// flight gets its 503 within the statement timeout and a second, later ones at once (the
/// breaker is open), `/readyz` within the connect timeout and a second, and the server
/// recovers by itself when the database answers again. Regression: requests hung for the
/// whole outage, new ones got 503 only after 10 s, `/readyz` took 10 s per check.
#[test]
fn a_database_that_stops_answering_cannot_hang_a_request() {
    let db = server_database();
    for (name, upstream, source) in [
        ("postgresql (diesel)", "127.0.0.1:5432", "kind = \"postgres\"\nurl = \"postgres://postgres@127.0.0.1:{port}/{db}\""),
        (
            "postgresql (odbc)",
            "127.0.0.1:5432",
            "kind = \"odbc\"\ndialect = \"postgres\"\nconnection_string = \"Driver={{PostgreSQL Unicode}};Server=127.0.0.1;Port={port};Uid=postgres;Database={db};\"",
        ),
        (
            "mariadb (odbc)",
            "127.0.0.1:3306",
            "kind = \"odbc\"\ndialect = \"mysql\"\nconnection_string = \"Driver={{MariaDB Unicode}};Server=127.0.0.1;Port={port};User=root;Password=;Database={db};\"",
        ),
    ] {
        let proxy = Proxy::start(upstream);
        let toml = source.replace("{port}", &proxy.port.to_string()).replace("{db}", db).replace("{{", "{").replace("}}", "}");
        let app = spawn_on(&format!("{toml}\nstatement_timeout_secs = 2\nconnect_timeout_secs = 1"));
        let token = app.token(0);
        assert_eq!(app.get("Observation?_count=5", Some(token)).status, 200, "{name}: before");

        proxy.blackhole();
        let mut took = Vec::new();
        for attempt in 0..6 {
            let started = Instant::now();
            let reply = app.get("Observation?_count=5", Some(token));
            took.push(started.elapsed());
            assert_eq!(reply.status, 503, "{name}: attempt {attempt} while unanswered: {}", reply.text);
            assert_eq!(reply.body["resourceType"], "OperationOutcome", "{name}");
            // The statement timeout (2 s), the watch's second, and some scheduling.
            assert!(took[attempt] < Duration::from_millis(4500), "{name}: attempt {attempt} took {:?}", took[attempt]);
        }
        let started = Instant::now();
        let ready = crate::harness::get_url(&format!("{}/readyz", app.admin), None, None);
        let readyz = started.elapsed();
        assert_eq!(ready.status, 503, "{name}: readyz while unanswered");
        assert!(readyz < Duration::from_millis(3500), "{name}: readyz took {readyz:?}");
        eprintln!("{name}: while unanswered, 503 after {took:?}; /readyz 503 after {readyz:?}");

        proxy.forward();
        let back = Instant::now();
        let deadline = back + Duration::from_secs(15);
        loop {
            let reply = app.get("Observation?_count=5", Some(token));
            if reply.status == 200 {
                break;
            }
            assert!(Instant::now() < deadline, "{name}: not recovered 15 s after the database answered again");
            std::thread::sleep(Duration::from_millis(200));
        }
        eprintln!("{name}: 200 again {:?} after the database answered", back.elapsed());
    }
}

/// An outage is logged as its start, its end and a count, not as one WARN line per refused
/// request (regression: 38,150 lines in 10 s). The real binary, its log read back.
#[test]
fn an_outage_is_logged_once_not_per_request() {
    let db = server_database();
    let mut proxy = Proxy::start("127.0.0.1:5432");
    let dir = tempfile::tempdir().expect("dir");
    crate::harness::write_tokens(&dir.path().join("tokens.json"), &demo_db().tokens);
    let source = format!("kind = \"postgres\"\nurl = \"postgres://postgres@127.0.0.1:{}/{db}\"", proxy.port);
    let config = crate::harness::write_config_with(dir.path(), &source, &crate::harness::repo_mappings(), "");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let text =
        std::fs::read_to_string(&config).expect("config").replacen("127.0.0.1:0", &format!("127.0.0.1:{port}"), 1);
    std::fs::write(&config, text).expect("config");
    let log = dir.path().join("server.log");
    let file = std::fs::File::create(&log).expect("log");
    let mut server = crate::harness::start_serve(&config, port, |c| {
        c.stderr(file);
    });
    let base = format!("http://127.0.0.1:{port}/fhir/stu3/gp-data");
    let token = demo_db().tokens[0].token.clone();
    assert_eq!(crate::harness::get_url(&format!("{base}/Patient"), Some(&token), None).status, 200);
    proxy.stop();
    for _ in 0..60 {
        assert_eq!(crate::harness::get_url(&format!("{base}/Patient"), Some(&token), None).status, 503);
    }
    proxy.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while crate::harness::get_url(&format!("{base}/Patient"), Some(&token), None).status != 200 {
        assert!(Instant::now() < deadline, "not recovered");
        std::thread::sleep(Duration::from_millis(200));
    }
    server.kill().expect("stop");
    server.wait().expect("reap");
    let logged = std::fs::read_to_string(&log).expect("log");
    let warnings: Vec<&str> = logged.lines().filter(|l| l.contains("WARN")).collect();
    assert!(warnings.len() <= 3, "{} WARN lines for one outage:\n{}", warnings.len(), warnings.join("\n"));
    assert!(logged.contains("database down"), "{logged}");
    assert!(logged.contains("database answers again") && logged.contains("refused="), "the end and a count:\n{logged}");
}

/// SQLite: an EHR that holds a lock on its (rollback-journal) database longer than the
/// statement timeout gets 503 timeouts, not 500s, and is served again when it lets go.
#[test]
fn a_locked_sqlite_database_gives_503_within_its_timeout() {
    let dir = tempfile::tempdir().expect("dir");
    let copy = dir.path().join("ehr.sqlite");
    std::fs::copy(&demo_db().path, &copy).expect("copy");
    let mut ehr = dva_source_diesel::SqliteWriter::create(&copy).expect("open");
    ehr.execute_batch("PRAGMA journal_mode = DELETE").expect("rollback journal");
    let app = spawn_on(&format!("kind = \"sqlite\"\npath = \"{}\"\nstatement_timeout_secs = 1", copy.display()));
    let token = app.token(0);
    assert_eq!(app.get("Observation?_count=5", Some(token)).status, 200);
    ehr.execute_batch("BEGIN EXCLUSIVE; UPDATE patient SET achternaam = achternaam WHERE pat_id = 1").expect("lock");
    let started = Instant::now();
    let reply = app.get("Observation?_count=5", Some(token));
    let took = started.elapsed();
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    ehr.execute_batch("ROLLBACK").expect("unlock");
    assert_eq!(app.get("Observation?_count=5", Some(token)).status, 200);
}

/// PostgreSQL plans a statement once per connection: the same text runs as one prepared
/// statement however often it runs (docs/benchmarks.md: planning was 1.6 of 1.8 ms).
#[test]
fn postgresql_keeps_statements_prepared_per_connection() {
    let mut db = dva_source_diesel::PostgresWriter::connect(&format!("{POSTGRES_SERVER}/test")).expect("PostgreSQL");
    let sum = Statement { sql: "SELECT $1::bigint + 1 AS n".into(), binds: vec![Value::Int(5)] };
    for _ in 0..3 {
        let rows = db.query(&sum).expect("query");
        assert_eq!(rows.rows[0][0], Value::Int(6));
    }
    let prepared = db
        .query(&Statement {
            sql: "SELECT COUNT(*) FROM pg_prepared_statements WHERE statement = 'SELECT $1::bigint + 1 AS n'".into(),
            binds: vec![],
        })
        .expect("pg_prepared_statements");
    assert_eq!(prepared.rows[0][0], Value::Int(1), "prepared once, then reused");
}

/// A table under a prepared statement gains a column (an EHR upgrade): the next query is
/// answered, with the new column, on a fresh connection; no error reaches the client.
#[test]
fn a_schema_change_under_a_prepared_statement_is_survived() {
    let url = format!("{POSTGRES_SERVER}/test");
    let mut admin = dva_source_diesel::PostgresWriter::connect(&url).expect("PostgreSQL");
    admin.execute_batch("DROP TABLE IF EXISTS it_schema_change; CREATE TABLE it_schema_change (a BIGINT); INSERT INTO it_schema_change VALUES (1)").expect("table");
    let source = PostgresSource::open(&url, SourceLimits { pool_size: 1, ..SourceLimits::default() });
    let all = Statement { sql: "SELECT * FROM it_schema_change".into(), binds: vec![] };
    for _ in 0..2 {
        assert_eq!(source.query(&all).expect("before").columns.len(), 1);
    }
    admin.execute_batch("ALTER TABLE it_schema_change ADD COLUMN b BIGINT").expect("alter");
    let after = source.query(&all).expect("after the change");
    assert_eq!(after.columns.len(), 2, "the new column is there");
    admin.execute_batch("DROP TABLE it_schema_change").expect("drop");
}
