//! The audit store, with versioned migrations: an SQLite file written with full fsync, or a
//! PostgreSQL database when daemons on several hosts share one trail.

use super::chain::{self, hex, Verification};
use super::group_commit::GroupCommit;
use super::{AuditEvent, StoredEvent};
use crate::auth::Bsn;
use crate::config::AuditStore;
use dva_source_api::{Dialect, RowSet, SourceError, SqlStyle, Statement, Value};
use dva_source_diesel::{PostgresWriter, SqliteWriter};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use std::collections::HashMap;
use std::sync::Mutex;

/// Schema versions, applied in order, each once.
const MIGRATIONS: &[(i64, &str)] = &[(
    1,
    "CREATE TABLE audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE audit_event (
        seq BIGINT PRIMARY KEY, patient TEXT NOT NULL, at TEXT NOT NULL, action TEXT NOT NULL,
        service TEXT NOT NULL, interaction TEXT NOT NULL, resources TEXT NOT NULL,
        patient_key TEXT NOT NULL, client TEXT NOT NULL, peer TEXT NOT NULL, outcome TEXT NOT NULL,
        status INTEGER NOT NULL, reason TEXT NOT NULL, request_id TEXT NOT NULL,
        correlation_id TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
     CREATE INDEX ix_audit_event_patient ON audit_event (patient);
     CREATE INDEX ix_audit_event_at ON audit_event (at);",
)];

const COLUMNS: &str = "seq, patient, at, action, service, interaction, resources, patient_key, client, peer, \
                       outcome, status, reason, request_id, correlation_id, prev_hash, hash";

pub struct AuditTrail {
    /// Where the trail is, for messages (never a password).
    place: String,
    db: Mutex<Db>,
    key: hmac::Key,
    /// Records waiting for the next transaction: (patient reference, event).
    pending: GroupCommit<(String, AuditEvent)>,
}

/// The store's connection: SQLite for one host, PostgreSQL for daemons on several hosts.
enum Db {
    Sqlite(SqliteWriter),
    Postgres(PostgresWriter),
}

impl Db {
    /// `sql` with `?` placeholders, numbered for PostgreSQL.
    fn statement(&self, sql: &str, binds: Vec<Value>) -> Statement {
        let style: SqlStyle = match self {
            Db::Sqlite(_) => Dialect::Sqlite.into(),
            Db::Postgres(_) => Dialect::Postgres.into(),
        };
        let mut out = String::new();
        for (i, piece) in sql.split('?').enumerate() {
            if i > 0 {
                out.push_str(&style.placeholder(i));
            }
            out.push_str(piece);
        }
        Statement { sql: out, binds }
    }

    fn query(&mut self, sql: &str, binds: Vec<Value>) -> Result<RowSet, SourceError> {
        let statement = self.statement(sql, binds);
        match self {
            Db::Sqlite(w) => w.query(&statement),
            Db::Postgres(w) => w.query(&statement),
        }
    }

    fn execute(&mut self, sql: &str, binds: Vec<Value>) -> Result<usize, SourceError> {
        let statement = self.statement(sql, binds);
        match self {
            Db::Sqlite(w) => w.execute(&statement),
            Db::Postgres(w) => w.execute(&statement),
        }
    }

    fn execute_batch(&mut self, sql: &str) -> Result<(), SourceError> {
        match self {
            Db::Sqlite(w) => w.execute_batch(sql),
            Db::Postgres(w) => w.execute_batch(sql),
        }
    }

    fn insert(&mut self, table: &str, columns: &[&str], rows: &[Vec<Value>]) -> Result<(), SourceError> {
        match self {
            Db::Sqlite(w) => w.insert(table, columns, rows),
            Db::Postgres(w) => w.insert(table, columns, rows),
        }
    }

    /// Runs `f` in a transaction that holds the trail's write lock from the start, so what
    /// it reads (the last hash) cannot change before it writes, whichever process appends.
    fn locked<T>(&mut self, f: impl FnOnce(&mut Db) -> Result<T, SourceError>) -> Result<T, SourceError> {
        match self {
            Db::Sqlite(w) => w.execute_batch("BEGIN IMMEDIATE")?,
            // An advisory lock works before the tables exist (the first migration).
            Db::Postgres(w) => w.execute_batch("BEGIN; SELECT pg_advisory_xact_lock(7513)")?,
        }
        match f(self) {
            Ok(v) => self.execute_batch("COMMIT").map(|()| v),
            Err(e) => {
                // The original error matters more than a failed rollback.
                let _ = self.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }
}

impl AuditTrail {
    /// Opens (creating and migrating when needed) the store.
    pub fn open(store: &AuditStore) -> Result<AuditTrail, String> {
        let place = match store {
            AuditStore::Sqlite(path) => path.display().to_string(),
            AuditStore::Postgres(_) => "in PostgreSQL".to_owned(),
        };
        let fail = |e: SourceError| format!("audit store {place}: {e}");
        let mut db = match store {
            AuditStore::Sqlite(path) => {
                let mut w = SqliteWriter::create(path).map_err(fail)?;
                // Every append reaches the disk before the response is sent.
                w.execute_batch("PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;").map_err(fail)?;
                Db::Sqlite(w)
            }
            AuditStore::Postgres(url) => Db::Postgres(PostgresWriter::connect(&url.0).map_err(fail)?),
        };
        let key = db.locked(migrate).map_err(fail)?;
        let key = hmac::Key::new(hmac::HMAC_SHA256, &key);
        Ok(AuditTrail { place, db: Mutex::new(db), key, pending: GroupCommit::default() })
    }

    /// Where the trail is, for messages.
    pub fn place(&self) -> &str {
        &self.place
    }

    /// Appends one record to the chain, durably. An error means the access must not proceed.
    /// Records of concurrent requests share a transaction (one fsync for all of them).
    pub fn append(&self, bsn: Option<&Bsn>, event: &AuditEvent) -> Result<(), SourceError> {
        let patient = bsn.map(|b| self.patient_ref(b)).unwrap_or_default();
        self.pending
            .submit((patient, event.clone()), |batch| self.write(batch).map_err(|e| e.to_string()))
            .map_err(SourceError::Unavailable)
    }

    /// Writes records in order, chained to the last one stored, in one transaction.
    fn write(&self, batch: Vec<(String, AuditEvent)>) -> Result<(), SourceError> {
        let mut db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        db.locked(|w| {
            let meta = read_meta(w)?;
            let mut seq: i64 = meta.get("last_seq").and_then(|s| s.parse().ok()).unwrap_or(0);
            let mut last_hash = meta.get("last_hash").cloned().unwrap_or_default();
            let mut rows = Vec::with_capacity(batch.len());
            for (patient, e) in batch {
                seq += 1;
                let hash = chain::hash(&last_hash, seq, &patient, &e);
                rows.push(vec![
                    Value::Int(seq),
                    patient.into(),
                    e.at.into(),
                    e.action.into(),
                    e.service.into(),
                    e.interaction.into(),
                    e.resources.into(),
                    e.patient_key.into(),
                    e.client.into(),
                    e.peer.into(),
                    e.outcome.into(),
                    Value::Int(i64::from(e.status)),
                    e.reason.into(),
                    e.request_id.into(),
                    e.correlation_id.into(),
                    std::mem::replace(&mut last_hash, hash.clone()).into(),
                    hash.into(),
                ]);
            }
            let columns: Vec<&str> = COLUMNS.split(", ").map(str::trim).collect();
            w.insert("audit_event", &columns, &rows)?;
            set_meta(w, "last_seq", &seq.to_string())?;
            set_meta(w, "last_hash", &last_hash)
        })
    }

    /// Checks the whole chain.
    pub fn verify(&self) -> Result<Verification, SourceError> {
        let mut db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        let meta = read_meta(&mut db)?;
        let events = read_events(&mut db, "1 = 1", vec![])?;
        let num = |k: &str| meta.get(k).and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
        let text = |k: &str| meta.get(k).cloned().unwrap_or_default();
        let (anchor_hash, last_hash) = (text("anchor_hash"), text("last_hash"));
        Ok(chain::verify((num("anchor_seq"), &anchor_hash), &events, (num("last_seq"), &last_hash)))
    }

    /// The records about one patient, oldest first.
    pub fn export(&self, bsn: &Bsn) -> Result<Vec<StoredEvent>, SourceError> {
        let mut db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        read_events(&mut db, "patient = ?", vec![self.patient_ref(bsn).into()])
    }

    /// Removes the records older than `cutoff` (UTC ISO 8601), oldest first, and anchors the
    /// chain at the last removed one so that verification still covers the rest.
    pub fn purge(&self, cutoff: &str) -> Result<u64, SourceError> {
        let mut db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        db.locked(|w| {
            let last_old = "SELECT seq, hash FROM audit_event WHERE at < ? ORDER BY seq DESC LIMIT 1";
            let old = w.query(last_old, vec![cutoff.into()])?;
            let Some(row) = old.rows.first() else { return Ok(0) };
            let (seq, hash) = (row[0].clone(), row[1].to_text().unwrap_or_default());
            let removed = w.execute("DELETE FROM audit_event WHERE seq <= ?", vec![seq.clone()])?;
            set_meta(w, "anchor_seq", &seq.to_text().unwrap_or_default())?;
            set_meta(w, "anchor_hash", &hash)?;
            Ok(removed as u64)
        })
    }

    /// The patient's reference in the trail: HMAC-SHA256 of the BSN under the store's key.
    fn patient_ref(&self, bsn: &Bsn) -> String {
        hex(hmac::sign(&self.key, bsn.expose().as_bytes()).as_ref())
    }
}

/// Brings the schema up to date; returns the store's HMAC key (made at creation).
fn migrate(w: &mut Db) -> Result<Vec<u8>, SourceError> {
    w.execute_batch("CREATE TABLE IF NOT EXISTS audit_schema (version BIGINT PRIMARY KEY)")?;
    let current = w.query("SELECT MAX(version) AS version FROM audit_schema", vec![])?;
    let current = current.rows.first().and_then(|r| match r[0] {
        Value::Int(v) => Some(v),
        _ => None,
    });
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| current.is_none_or(|c| *v > c)) {
        w.execute_batch(sql)?;
        w.execute("INSERT INTO audit_schema (version) VALUES (?)", vec![Value::Int(*version)])?;
    }
    let meta = read_meta(w)?;
    match meta.get("hmac_key") {
        Some(key) => decode_hex(key).ok_or_else(|| SourceError::Statement("audit_meta.hmac_key is damaged".into())),
        None => {
            let mut key = vec![0u8; 32];
            SystemRandom::new().fill(&mut key).map_err(|_| SourceError::Statement("no random numbers".into()))?;
            set_meta(w, "hmac_key", &hex(&key))?;
            Ok(key)
        }
    }
}

fn read_meta(w: &mut Db) -> Result<HashMap<String, String>, SourceError> {
    let rows = w.query("SELECT key, value FROM audit_meta", vec![])?;
    Ok(rows.rows.iter().filter_map(|r| Some((r[0].to_text()?, r[1].to_text()?))).collect())
}

fn set_meta(w: &mut Db, key: &str, value: &str) -> Result<(), SourceError> {
    w.execute(
        "INSERT INTO audit_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        vec![key.into(), value.into()],
    )
    .map(drop)
}

fn read_events(w: &mut Db, filter: &str, binds: Vec<Value>) -> Result<Vec<StoredEvent>, SourceError> {
    let rows = w.query(&format!("SELECT {COLUMNS} FROM audit_event WHERE {filter} ORDER BY seq"), binds)?;
    Ok(rows.rows.iter().map(|r| stored_event(&rows, r)).collect())
}

fn stored_event(set: &RowSet, r: &[Value]) -> StoredEvent {
    let text = |name: &str| set.column_index(name).and_then(|i| r[i].to_text()).unwrap_or_default();
    let int = |name: &str| match set.column_index(name).map(|i| &r[i]) {
        Some(Value::Int(v)) => *v,
        _ => 0,
    };
    StoredEvent {
        seq: int("seq"),
        patient: text("patient"),
        event: AuditEvent {
            at: text("at"),
            action: text("action"),
            service: text("service"),
            interaction: text("interaction"),
            resources: text("resources"),
            patient_key: text("patient_key"),
            client: text("client"),
            peer: text("peer"),
            outcome: text("outcome"),
            status: u16::try_from(int("status")).unwrap_or(0),
            reason: text("reason"),
            request_id: text("request_id"),
            correlation_id: text("correlation_id"),
        },
        prev_hash: text("prev_hash"),
        hash: text("hash"),
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    (0..text.len()).step_by(2).map(|i| text.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u16) -> AuditEvent {
        AuditEvent {
            at: format!("2026-01-0{}T10:00:00.000Z", n),
            action: "R".into(),
            service: "gp-data".into(),
            outcome: "granted".into(),
            status: 200,
            ..AuditEvent::default()
        }
    }

    #[test]
    fn appends_verify_export_and_purge() {
        let dir = tempfile::tempdir().expect("dir");
        let store = AuditStore::Sqlite(dir.path().join("audit.sqlite"));
        let trail = AuditTrail::open(&store).expect("open");
        let (a, b) = (Bsn::parse("999911132").expect("bsn"), Bsn::parse("999911144").expect("bsn"));
        for n in 1..=4 {
            trail.append(Some(if n % 2 == 0 { &a } else { &b }), &event(n)).expect("append");
        }
        trail.append(None, &AuditEvent { outcome: "denied".into(), status: 401, ..event(5) }).expect("denied");
        assert_eq!(trail.verify().expect("verify"), Verification::Intact { records: 5 });
        let mine = trail.export(&a).expect("export");
        assert_eq!(mine.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 4]);
        assert_eq!(trail.purge("2026-01-03T00:00:00.000Z").expect("purge"), 2);
        assert_eq!(trail.verify().expect("verify"), Verification::Intact { records: 3 }, "the rest still verifies");
        drop(trail);
        // Reopening keeps the key and the chain.
        let trail = AuditTrail::open(&store).expect("reopen");
        trail.append(Some(&a), &event(6)).expect("append");
        assert_eq!(trail.export(&a).expect("export").len(), 2);
        assert_eq!(trail.verify().expect("verify"), Verification::Intact { records: 4 });
    }
}
