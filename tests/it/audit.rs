//! The audit trail: a record per access before the response, hash-chained (`audit verify`
//! finds an edited or removed record), a patient's records by BSN, fail closed when the store
//! cannot be written, and nothing lost when the server is killed under load.

use crate::harness::{demo_db, process_config, spawn_app, start_serve, TestApp};
use dva_source_api::{RowSource, Statement, Value};
use dva_source_diesel::{SourceLimits, SqliteSource, SqliteWriter};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn request_id(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// GET with a MedMij-Request-ID; the status (0 when the connection failed).
fn get(url: &str, token: Option<&str>, id: &str) -> u16 {
    let mut request = ureq::get(url).set("MedMij-Request-ID", id).timeout(Duration::from_secs(10));
    if let Some(t) = token {
        request = request.set("Authorization", &format!("Bearer {t}"));
    }
    match request.call() {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(s, _)) => s,
        Err(_) => 0,
    }
}

fn audit_cli(config: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dva-connector"))
        .arg("audit")
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("run audit");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Every record, by request id: (outcome, status, resources).
fn records(store: &Path) -> Vec<(String, String, i64, String)> {
    let source = SqliteSource::open(store, SourceLimits::default()).expect("open audit store");
    let rows = source
        .query(&Statement {
            sql: "SELECT request_id, outcome, status, resources FROM audit_event ORDER BY seq".into(),
            binds: vec![],
        })
        .expect("read");
    rows.rows
        .iter()
        .map(|r| {
            let status = if let Value::Int(s) = r[2] { s } else { 0 };
            (
                r[0].to_text().unwrap_or_default(),
                r[1].to_text().unwrap_or_default(),
                status,
                r[3].to_text().unwrap_or_default(),
            )
        })
        .collect()
}

fn config_of(app: &TestApp) -> std::path::PathBuf {
    app.dir.path().join("dva-connector.toml")
}

#[test]
fn every_access_is_recorded_chained_and_exportable() {
    let app = spawn_app();
    let token = app.token(0);
    assert_eq!(get(&format!("{}/Patient", app.base), Some(token), &request_id(1)), 200);
    assert_eq!(get(&format!("{}/Encounter?_count=3", app.base), Some(token), &request_id(2)), 200);
    assert_eq!(get(&format!("{}/Patient/999999", app.base), Some(token), &request_id(3)), 404);
    assert_eq!(get(&format!("{}/Patient", app.base), None, &request_id(4)), 401);
    assert_eq!(get(&format!("{}/Patient", app.base), Some("not-a-token"), &request_id(5)), 401);
    assert_eq!(get(&format!("{}/metadata", app.base), None, &request_id(6)), 200);

    let store = app.dir.path().join("audit.sqlite");
    let all = records(&store);
    let find = |n: u64| all.iter().find(|r| r.0 == request_id(n)).cloned();
    let patient = find(1).expect("the Patient search is recorded");
    assert_eq!((patient.1.as_str(), patient.2), ("granted", 200));
    assert!(patient.3.starts_with("Patient/"), "resources returned: {}", patient.3);
    assert_eq!(find(2).expect("encounters").3.matches("Encounter/").count(), 3);
    assert_eq!(find(3).expect("404").1, "failed");
    assert_eq!(find(4).expect("no token").1, "denied");
    assert_eq!(find(5).expect("bad token").1, "denied");
    assert!(find(6).is_none(), "metadata is public and not a patient access");

    let (ok, out) = audit_cli(&config_of(&app), &["verify"]);
    assert!(ok && out.contains("intact: 5 records"), "{out}");
    let (ok, out) = audit_cli(&config_of(&app), &["export", "--patient", &app.tokens[0].bsn]);
    assert!(ok, "{out}");
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert_eq!(lines.len(), 3, "the patient's three requests: {out}");
    assert!(lines.iter().all(|l| l["service"] == "gp-data" && l["at"].as_str().is_some_and(|t| t.ends_with('Z'))));
    assert!(!out.contains(&app.tokens[0].bsn), "the export names no BSN");
    let (_, other) = audit_cli(&config_of(&app), &["export", "--patient", &app.tokens[1].bsn]);
    assert!(other.trim().is_empty(), "another patient has no records: {other}");

    // Tampering: an edited record, then a removed one.
    let mut w = SqliteWriter::create(&store).expect("open for tampering");
    w.execute_batch("UPDATE audit_event SET status = 204 WHERE seq = 2").expect("edit");
    let (ok, out) = audit_cli(&config_of(&app), &["verify"]);
    assert!(!ok && out.contains("BROKEN at record 2"), "{out}");
    w.execute_batch("UPDATE audit_event SET status = 200 WHERE seq = 2").expect("undo");
    assert!(audit_cli(&config_of(&app), &["verify"]).0);
    w.execute_batch("DELETE FROM audit_event WHERE seq = 3").expect("remove");
    let (ok, out) = audit_cli(&config_of(&app), &["verify"]);
    assert!(!ok && out.contains("record 3 is missing"), "{out}");
}

#[test]
fn data_requests_fail_closed_when_the_audit_store_is_not_writable() {
    let app = spawn_app();
    let token = app.token(0);
    assert_eq!(get(&format!("{}/Patient", app.base), Some(token), &request_id(1)), 200);
    // Another connection holds the write lock: appends wait their 5 s, then fail.
    let mut blocker = SqliteWriter::create(&app.dir.path().join("audit.sqlite")).expect("open");
    blocker.execute_batch("BEGIN IMMEDIATE").expect("lock");
    let reply = crate::harness::get_url(&format!("{}/Patient", app.base), Some(token), None);
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_eq!(reply.body["resourceType"], "OperationOutcome");
    assert!(!reply.text.contains("\"Patient\""), "no patient data without an audit record");
    blocker.execute_batch("COMMIT").expect("unlock");
    assert_eq!(get(&format!("{}/Patient", app.base), Some(token), &request_id(2)), 200, "writable again");
}

/// kill -9 under load: every response a client received has its record, the chain holds, and
/// a restarted server carries on with it.
#[test]
fn no_record_is_lost_when_the_server_is_killed_under_load() {
    let db = demo_db();
    let dir = tempfile::tempdir().expect("dir");
    let (config, port) = process_config(dir.path());
    let mut server = start_serve(&config, port, |_| {});
    let base = format!("http://127.0.0.1:{port}/fhir/stu3/gp-data");
    let answered: Arc<Mutex<Vec<String>>> = Arc::default();
    let counter = Arc::new(AtomicU64::new(1));
    let stop = Instant::now() + Duration::from_millis(1500);
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (base, answered, counter) = (base.clone(), answered.clone(), counter.clone());
            let token = db.tokens[c].token.clone();
            std::thread::spawn(move || {
                while Instant::now() < stop + Duration::from_secs(1) {
                    let id = request_id(counter.fetch_add(1, Ordering::SeqCst));
                    match get(&format!("{base}/Observation?_count=5"), Some(&token), &id) {
                        200 => answered.lock().expect("lock").push(id),
                        0 => break, // the server is gone
                        _ => {}
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(stop.saturating_duration_since(Instant::now()));
    server.kill().expect("kill -9");
    server.wait().expect("reap");
    for c in clients {
        c.join().expect("client");
    }
    let answered = answered.lock().expect("lock").clone();
    assert!(answered.len() > 20, "too little load: {} answers", answered.len());
    let recorded: std::collections::HashSet<String> =
        records(&dir.path().join("audit.sqlite")).into_iter().map(|r| r.0).collect();
    let missing: Vec<&String> = answered.iter().filter(|id| !recorded.contains(*id)).collect();
    assert!(missing.is_empty(), "{} answered requests have no audit record: {missing:?}", missing.len());
    let (ok, out) = audit_cli(&config, &["verify"]);
    assert!(ok, "{out}");

    // Restarted on the same store, the server appends to the same chain.
    let mut server = start_serve(&config, port, |_| {});
    let answered_after = get(&format!("{base}/Patient"), Some(&db.tokens[0].token), &request_id(999_999)) == 200;
    server.kill().expect("stop");
    server.wait().expect("reap");
    assert!(answered_after, "the restarted server did not answer");
    let (ok, out) = audit_cli(&config, &["verify"]);
    assert!(ok, "{out}");
    assert!(records(&dir.path().join("audit.sqlite")).iter().any(|r| r.0 == request_id(999_999)));
}

/// Daemons on several hosts share one trail in PostgreSQL: appends from two of them at once
/// still make one chain, which verifies and detects an edit.
#[test]
fn two_daemons_share_one_chain_in_postgresql() {
    use dva_connector::audit::{AuditEvent, AuditKeys, AuditTrail, Verification};
    use dva_connector::config::{AuditStore, Secret};
    let keys_dir = tempfile::tempdir().expect("dir");
    let key_file = keys_dir.path().join("audit.key");
    dva_connector::audit::new_key(&key_file).expect("key file");
    let server = crate::backends::POSTGRES_SERVER;
    let mut admin = dva_source_diesel::PostgresWriter::connect(&format!("{server}/test")).expect("PostgreSQL");
    admin.execute_batch("DROP DATABASE IF EXISTS dva_it_audit WITH (FORCE)").expect("drop");
    admin.execute_batch("CREATE DATABASE dva_it_audit").expect("create");
    let store = AuditStore::Postgres(Secret(format!("{server}/dva_it_audit")));
    let bsn = dva_connector::auth::Bsn::parse(&demo_db().tokens[0].bsn).expect("bsn");
    let daemons: Vec<_> = (0..2)
        .map(|d| {
            let (store, bsn, key_file) = (store.clone(), bsn.clone(), key_file.clone());
            std::thread::spawn(move || {
                let keys = AuditKeys::load(&key_file).expect("keys");
                let trail = AuditTrail::open(&store, keys).expect("open the shared trail");
                for n in 0..50 {
                    let event = AuditEvent {
                        at: "2026-11-23T10:00:00.000Z".into(),
                        action: "R".into(),
                        service: format!("daemon-{d}"),
                        status: 200,
                        request_id: request_id(d * 1000 + n),
                        ..AuditEvent::default()
                    };
                    trail.append(Some(&bsn), &event).expect("append");
                }
            })
        })
        .collect();
    for d in daemons {
        d.join().expect("daemon");
    }
    let trail = AuditTrail::open(&store, AuditKeys::load(&key_file).expect("keys")).expect("open");
    assert_eq!(trail.verify(&[]).expect("verify"), Verification::Intact { records: 100 });
    assert_eq!(trail.export(&bsn).expect("export").len(), 100);
    let mut w = dva_source_diesel::PostgresWriter::connect(&format!("{server}/dva_it_audit")).expect("connect");
    w.execute_batch("UPDATE audit_event SET service = 'forged' WHERE seq = 50").expect("tamper");
    assert!(matches!(trail.verify(&[]).expect("verify"), Verification::Broken { seq: 50, .. }));
}

/// Someone who can write the store (a DBA of a shared audit database, a backup operator) but
/// not read the key file: removing a record and recomputing the chain (which fooled `verify`
/// with plain SHA-256), inserting, reordering and cutting records off the end are all found.
#[test]
fn a_writer_of_the_store_without_the_key_file_cannot_hide_a_change() {
    let app = spawn_app();
    let token = app.token(0);
    for n in 1..=6 {
        assert_eq!(get(&format!("{}/Patient", app.base), Some(token), &request_id(n)), 200);
    }
    let config = config_of(&app);
    let store = app.dir.path().join("audit.sqlite");
    let (ok, checkpoint) = audit_cli(&config, &["checkpoint"]);
    assert!(ok && checkpoint.starts_with("dva-audit-checkpoint/1/6/"), "{checkpoint}");
    let sql = |statements: &str| SqliteWriter::create(&store).expect("open").execute_batch(statements).expect("tamper");
    // The store is in WAL mode: copies are made and put back through SQLite, not the file.
    let backup = app.dir.path().join("backup.sqlite");
    sql(&format!("VACUUM INTO '{}'", backup.display()));
    let restore = || {
        sql(&format!(
            "ATTACH '{}' AS b; DELETE FROM audit_event; INSERT INTO audit_event SELECT * FROM b.audit_event; \
             DELETE FROM audit_meta; INSERT INTO audit_meta SELECT * FROM b.audit_meta; DETACH b",
            backup.display()
        ))
    };
    let verify = || audit_cli(&config, &["verify"]);

    // Removal, with every later record renumbered and its hash recomputed (SHA-256 of the
    // previous hash and the fields: what verified before the chain was keyed).
    let rows = read_all(&store);
    sql("DELETE FROM audit_event WHERE seq = 3");
    let mut prev = rows[1].hash.clone();
    for (i, row) in rows.iter().enumerate().skip(3) {
        let seq = i as i64;
        let hash = sha256_hex(&format!("{prev}{}", row.fields(seq)));
        sql(&format!(
            "UPDATE audit_event SET seq = {seq}, prev_hash = '{prev}', hash = '{hash}' WHERE seq = {}",
            row.seq
        ));
        prev = hash;
    }
    sql(&format!("UPDATE audit_meta SET value = '5' WHERE key = 'last_seq'; UPDATE audit_meta SET value = '{prev}' WHERE key = 'last_hash'"));
    let (ok, out) = verify();
    assert!(!ok && out.contains("BROKEN at record 3"), "recomputed removal: {out}");
    restore();
    assert!(verify().0, "restored");

    // Insertion: a copy of record 2 as record 7 after the end.
    sql("INSERT INTO audit_event (seq, key_id, patient, at, action, service, interaction, resources, patient_key, \
         client, peer, outcome, status, reason, request_id, correlation_id, prev_hash, hash) \
         SELECT 7, key_id, patient, at, action, service, interaction, resources, patient_key, \
         client, peer, outcome, status, reason, request_id, correlation_id, \
         (SELECT hash FROM audit_event WHERE seq = 6), hash FROM audit_event WHERE seq = 2; \
         UPDATE audit_meta SET value = '7' WHERE key = 'last_seq'; \
         UPDATE audit_meta SET value = (SELECT hash FROM audit_event WHERE seq = 7) WHERE key = 'last_hash'");
    let (ok, out) = verify();
    assert!(!ok && out.contains("BROKEN at record 7"), "insertion: {out}");
    restore();

    // Reordering: records 4 and 5 swap places.
    sql("UPDATE audit_event SET seq = -4 WHERE seq = 4; UPDATE audit_event SET seq = 4 WHERE seq = 5; UPDATE audit_event SET seq = 5 WHERE seq = -4");
    let (ok, out) = verify();
    assert!(!ok && out.contains("BROKEN at record 4"), "reordering: {out}");
    restore();

    // Truncation: the last two records removed and the store's own end marker moved with
    // them. The chain that is left is intact; the checkpoint written before says otherwise.
    sql("DELETE FROM audit_event WHERE seq > 4; UPDATE audit_meta SET value = '4' WHERE key = 'last_seq'; \
         UPDATE audit_meta SET value = (SELECT hash FROM audit_event WHERE seq = 4) WHERE key = 'last_hash'");
    let (ok, out) = verify();
    assert!(ok && out.contains("intact: 4 records"), "the chain alone cannot see it: {out}");
    let (ok, out) = audit_cli(&config, &["verify", "--checkpoint", checkpoint.trim()]);
    assert!(!ok && out.contains("records 5 to 6 were cut off the end"), "truncation: {out}");
    restore();
    let (ok, out) = audit_cli(&config, &["verify", "--checkpoint", checkpoint.trim()]);
    assert!(ok && out.contains("1 checkpoints hold"), "{out}");
    // A forged checkpoint is refused, not believed.
    let forged = checkpoint.trim().replacen("/1/6/", "/1/9/", 1);
    let (ok, out) = audit_cli(&config, &["verify", "--checkpoint", &forged]);
    assert!(!ok && out.contains("was not written with a key of this key file"), "{out}");
    // And the patient references cannot be mapped back with what the store holds.
    let meta = SqliteSource::open(&store, SourceLimits::default())
        .expect("open")
        .query(&Statement { sql: "SELECT key FROM audit_meta".into(), binds: vec![] })
        .expect("meta");
    let keys: Vec<String> = meta.rows.iter().filter_map(|r| r[0].to_text()).collect();
    assert!(!keys.iter().any(|k| k.contains("key") && !k.ends_with("_id")), "a key in the store: {keys:?}");
}

/// A row of the store, and its fields as the schema-1 hash covered them.
struct Row {
    seq: i64,
    hash: String,
    values: Vec<Value>,
}

impl Row {
    fn fields(&self, seq: i64) -> String {
        let text = |i: usize| serde_json::Value::String(self.values[i].to_text().unwrap_or_default());
        let status = match self.values[11] {
            Value::Int(s) => s,
            _ => 0,
        };
        serde_json::json!([
            seq,
            text(1),
            text(2),
            text(3),
            text(4),
            text(5),
            text(6),
            text(7),
            text(8),
            text(9),
            text(10),
            status,
            text(12),
            text(13),
            text(14)
        ])
        .to_string()
    }
}

fn read_all(store: &Path) -> Vec<Row> {
    let source = SqliteSource::open(store, SourceLimits::default()).expect("open");
    let sql = "SELECT seq, patient, at, action, service, interaction, resources, patient_key, client, peer, outcome, \
               status, reason, request_id, correlation_id, hash FROM audit_event ORDER BY seq";
    let rows = source.query(&Statement { sql: sql.into(), binds: vec![] }).expect("read");
    rows.rows
        .into_iter()
        .map(|r| Row {
            seq: match r[0] {
                Value::Int(s) => s,
                _ => 0,
            },
            hash: r[15].to_text().unwrap_or_default(),
            values: r,
        })
        .collect()
}

fn sha256_hex(text: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The key file decides: without it, or with another install's, `audit verify` and `serve`
/// refuse (exit 64) and nothing is re-keyed; a server whose store was last written with a key
/// it lacks (another daemon sharing the store) answers 503, never data.
#[test]
fn a_missing_or_foreign_key_file_fails_closed() {
    let dir = tempfile::tempdir().expect("dir");
    let (config, port) = process_config(dir.path());
    // A second daemon on the same store, with a key file of its own (a wrong copy).
    let other_dir = tempfile::tempdir().expect("dir");
    let (other_config, other_port) = process_config(other_dir.path());
    let shared = format!("[audit]\npath = \"{}\"\n\n[auth]", dir.path().join("audit.sqlite").display());
    let text = std::fs::read_to_string(&other_config).expect("config").replacen("[auth]", &shared, 1);
    std::fs::write(&other_config, text).expect("config");
    // Both start on a store that holds nothing yet; the first record decides the key.
    let mut server = start_serve(&config, port, |_| {});
    let mut other = start_serve(&other_config, other_port, |_| {});
    let token = demo_db().tokens[0].token.clone();
    let (base, other_base) = (
        format!("http://127.0.0.1:{port}/fhir/stu3/gp-data"),
        format!("http://127.0.0.1:{other_port}/fhir/stu3/gp-data"),
    );
    assert_eq!(get(&format!("{base}/Patient"), Some(&token), &request_id(1)), 200);
    let reply = crate::harness::get_url(&format!("{other_base}/Patient"), Some(&token), None);
    assert_eq!(reply.status, 503, "the chain would fork: {}", reply.text);
    assert!(reply.body["resourceType"] == "OperationOutcome" && !reply.text.contains("\"Patient\""));
    assert_eq!(get(&format!("{base}/Patient"), Some(&token), &request_id(2)), 200);
    other.kill().expect("stop");
    other.wait().expect("reap");
    // Started now, it refuses at once (64: systemd does not restart it), as verify does.
    let out = Command::new(env!("CARGO_BIN_EXE_dva-connector"))
        .args(["serve", "--config"])
        .arg(&other_config)
        .output()
        .expect("serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(err.contains("which the key file lacks"), "{err}");
    let (ok, out) = audit_cli(&other_config, &["verify"]);
    assert!(!ok && out.contains("which the key file lacks"), "{out}");
    // The key file gone: verify says so, and exits 64.
    server.kill().expect("stop");
    server.wait().expect("reap");
    std::fs::rename(dir.path().join("audit.key"), dir.path().join("audit.key.away")).expect("move the key away");
    let out = Command::new(env!("CARGO_BIN_EXE_dva-connector"))
        .args(["audit", "verify", "--config"])
        .arg(&config)
        .output()
        .expect("verify");
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("create it with `dva-connector audit new-key"));
    std::fs::rename(dir.path().join("audit.key.away"), dir.path().join("audit.key")).expect("key back");
    let (ok, out) = audit_cli(&config, &["verify"]);
    assert!(ok && out.contains("intact: 2 records"), "untouched by all this: {out}");
}

/// The server writes a checkpoint to its log when it stops; verify takes the log.
#[test]
fn the_server_logs_checkpoints_that_verify_reads() {
    let dir = tempfile::tempdir().expect("dir");
    let (config, port) = process_config(dir.path());
    let log = dir.path().join("server.log");
    let file = std::fs::File::create(&log).expect("log");
    let mut server = start_serve(&config, port, |c| {
        c.stderr(file);
    });
    let token = demo_db().tokens[0].token.clone();
    for n in 1..=3 {
        assert_eq!(
            get(&format!("http://127.0.0.1:{port}/fhir/stu3/gp-data/Patient"), Some(&token), &request_id(n)),
            200
        );
    }
    assert!(Command::new("kill").args(["-TERM", &server.id().to_string()]).status().expect("kill").success());
    assert!(server.wait().expect("exit").success());
    let logged = std::fs::read_to_string(&log).expect("log");
    assert!(logged.contains("dva-audit-checkpoint/1/3/"), "no checkpoint at shutdown:\n{logged}");
    // The checkpoint names the key, never holds it; no patient is named either.
    let key_file = std::fs::read_to_string(dir.path().join("audit.key")).expect("key file");
    let secrets: Vec<&str> =
        key_file.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split_whitespace().nth(1)).collect();
    assert!(!secrets.is_empty(), "no key read from the key file");
    assert!(secrets.iter().all(|secret| !logged.contains(secret)), "the log holds the audit key");
    assert!(!logged.contains(&demo_db().tokens[0].bsn) && !logged.contains(&token), "the log names the patient");
    let out = Command::new(env!("CARGO_BIN_EXE_dva-connector"))
        .args(["audit", "verify", "--checkpoints-from"])
        .arg(&log)
        .arg("--config")
        .arg(&config)
        .output()
        .expect("verify");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("intact: 3 records; 1 checkpoints hold"), "{text}");
    let store = dir.path().join("audit.sqlite");
    SqliteWriter::create(&store)
        .expect("open")
        .execute_batch("DELETE FROM audit_event WHERE seq = 3; UPDATE audit_meta SET value = '2' WHERE key = 'last_seq'; \
                        UPDATE audit_meta SET value = (SELECT hash FROM audit_event WHERE seq = 2) WHERE key = 'last_hash'")
        .expect("cut");
    let out = Command::new(env!("CARGO_BIN_EXE_dva-connector"))
        .args(["audit", "verify", "--checkpoints-from", "-", "--config"])
        .arg(&config)
        .stdin(std::fs::File::open(&log).expect("log"))
        .output()
        .expect("verify");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("record 3 was cut off the end"), "{text}");
}
