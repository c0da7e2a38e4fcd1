//! The audit store, with versioned migrations: an SQLite file written with full fsync, or a
//! PostgreSQL database when daemons on several hosts share one trail. It holds records and
//! their MACs, never a key: those are in the key file (see [`super::keys`]).

use super::chain::{self, Checkpoint, Verification};
use super::group_commit::GroupCommit;
use super::keys::{decode_hex, hex, AuditKeys};
use super::{AuditEvent, StoredEvent};
use crate::auth::Bsn;
use crate::config::AuditStore;
use dva_source_api::{Dialect, RowSet, RowSource, SourceError, SqlStyle, Statement, Value};
use dva_source_diesel::{PostgresWriter, SqliteWriter};
use ring::hmac;
use std::collections::HashMap;
use std::sync::Mutex;

/// Schema versions, applied in order, each once. Version 2 names the key of each record
/// (empty: a schema-1 record, hashed without a key).
const MIGRATIONS: &[(i64, &str)] = &[
    (
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
    ),
    (2, "ALTER TABLE audit_event ADD COLUMN key_id TEXT NOT NULL DEFAULT ''"),
];

const COLUMNS: &str = "seq, key_id, patient, at, action, service, interaction, resources, patient_key, client, \
                       peer, outcome, status, reason, request_id, correlation_id, prev_hash, hash";

pub struct AuditTrail {
    /// Where the trail is, for messages (never a password).
    place: String,
    db: Mutex<Db>,
    keys: AuditKeys,
    /// The pseudonym key of a store made before the key file, for exporting its old records.
    legacy_pseudonym: Option<hmac::Key>,
    /// Records waiting for the next transaction: (patient reference, event).
    pending: GroupCommit<(String, AuditEvent)>,
}

/// Why a trail cannot be used with a key file: the store was written with other keys.
#[derive(Debug)]
pub enum OpenError {
    /// The store cannot be reached or read.
    Store(String),
    /// The key file does not fit the store (wrong file, or a key removed too early).
    Keys(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Store(m) | OpenError::Keys(m) => f.write_str(m),
        }
    }
}

/// The store's connection: SQLite for one host, PostgreSQL for daemons on several hosts.
enum Db {
    Sqlite(SqliteWriter),
    Postgres(PostgresWriter),
    /// A store opened to look at only (`validate`): reads work, writes are refused.
    Reader(Box<dyn RowSource>),
}

/// What the store says about itself (`audit_meta`).
struct Meta(HashMap<String, String>);

impl Meta {
    fn text(&self, key: &str) -> String {
        self.0.get(key).cloned().unwrap_or_default()
    }

    fn number(&self, key: &str) -> i64 {
        self.0.get(key).and_then(|s| s.parse().ok()).unwrap_or(0)
    }
}

impl Db {
    /// `sql` with `?` placeholders, numbered for PostgreSQL.
    fn statement(&self, sql: &str, binds: Vec<Value>) -> Statement {
        let style: SqlStyle = match self {
            Db::Sqlite(_) => Dialect::Sqlite.into(),
            Db::Postgres(_) => Dialect::Postgres.into(),
            Db::Reader(r) => r.sql_style(),
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
            Db::Reader(r) => r.query(&statement),
        }
    }

    fn execute(&mut self, sql: &str, binds: Vec<Value>) -> Result<usize, SourceError> {
        let statement = self.statement(sql, binds);
        match self {
            Db::Sqlite(w) => w.execute(&statement),
            Db::Postgres(w) => w.execute(&statement),
            Db::Reader(_) => Err(read_only()),
        }
    }

    fn execute_batch(&mut self, sql: &str) -> Result<(), SourceError> {
        match self {
            Db::Sqlite(w) => w.execute_batch(sql),
            Db::Postgres(w) => w.execute_batch(sql),
            Db::Reader(_) => Err(read_only()),
        }
    }

    fn insert(&mut self, table: &str, columns: &[&str], rows: &[Vec<Value>]) -> Result<(), SourceError> {
        match self {
            Db::Sqlite(w) => w.insert(table, columns, rows),
            Db::Postgres(w) => w.insert(table, columns, rows),
            Db::Reader(_) => Err(read_only()),
        }
    }

    /// Runs `f` in a transaction that holds the trail's write lock from the start, so what
    /// it reads (the last hash) cannot change before it writes, whichever process appends.
    fn locked<T>(&mut self, f: impl FnOnce(&mut Db) -> Result<T, SourceError>) -> Result<T, SourceError> {
        match self {
            Db::Sqlite(w) => w.execute_batch("BEGIN IMMEDIATE")?,
            // An advisory lock works before the tables exist (the first migration).
            Db::Postgres(w) => w.execute_batch("BEGIN; SELECT pg_advisory_xact_lock(7513)")?,
            Db::Reader(_) => return Err(read_only()),
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

fn read_only() -> SourceError {
    SourceError::Statement("the audit store was opened to look at only".into())
}

impl AuditTrail {
    /// What `validate` checks without writing: that `keys` fit the store, if there is one.
    pub fn check(store: &AuditStore, keys: &AuditKeys) -> Result<(), OpenError> {
        let (place, mut db) = match store {
            AuditStore::Sqlite(path) if !path.exists() => return Ok(()),
            AuditStore::Sqlite(path) => {
                let limits = dva_source_api::SourceLimits { pool_size: 1, max_rows: usize::MAX, ..Default::default() };
                let reader = dva_source_diesel::SqliteSource::open(path, limits)
                    .map_err(|e| OpenError::Store(format!("audit store {}: {e}", path.display())))?;
                (path.display().to_string(), Db::Reader(Box::new(reader)))
            }
            AuditStore::Postgres(url) => (
                "in PostgreSQL".to_owned(),
                Db::Postgres(
                    PostgresWriter::connect(&url.0)
                        .map_err(|e| OpenError::Store(format!("audit store in PostgreSQL: {e}")))?,
                ),
            ),
        };
        // A store of schema 1 (or none yet) holds no keyed record to fit.
        let version = db.query("SELECT MAX(version) AS version FROM audit_schema", vec![]).ok();
        if !version.is_some_and(|v| v.rows.first().is_some_and(|r| matches!(r[0], Value::Int(n) if n >= 2))) {
            return Ok(());
        }
        fit(&mut db, keys, &place).map(drop)
    }

    /// Opens (creating and migrating when needed) the store, and checks that `keys` fit it:
    /// the last keyed record verifies with its key. A store from before the key file moves its
    /// pseudonym key out (sealed under the current key), so the store holds no usable key.
    pub fn open(store: &AuditStore, keys: AuditKeys) -> Result<AuditTrail, OpenError> {
        let place = match store {
            AuditStore::Sqlite(path) => path.display().to_string(),
            AuditStore::Postgres(_) => "in PostgreSQL".to_owned(),
        };
        let fail = |e: SourceError| OpenError::Store(format!("audit store {place}: {e}"));
        let mut db = match store {
            AuditStore::Sqlite(path) => {
                let mut w = SqliteWriter::create(path).map_err(fail)?;
                // Every append reaches the disk before the response is sent.
                w.execute_batch("PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;").map_err(fail)?;
                Db::Sqlite(w)
            }
            AuditStore::Postgres(url) => Db::Postgres(PostgresWriter::connect(&url.0).map_err(fail)?),
        };
        let legacy = db.locked(|w| migrate(w, &keys)).map_err(fail)?;
        let legacy_pseudonym = fit(&mut db, &keys, &place)?.or(legacy);
        Ok(AuditTrail { place, db: Mutex::new(db), keys, legacy_pseudonym, pending: GroupCommit::default() })
    }

    /// Where the trail is, for messages.
    pub fn place(&self) -> &str {
        &self.place
    }

    /// Appends one record to the chain, durably. An error means the access must not proceed.
    /// Records of concurrent requests share a transaction (one fsync for all of them).
    pub fn append(&self, bsn: Option<&Bsn>, event: &AuditEvent) -> Result<(), SourceError> {
        let patient = bsn.map(|b| pseudonym(&self.keys.current().pseudonym, b)).unwrap_or_default();
        self.pending
            .submit((patient, event.clone()), |batch| self.write(batch).map_err(|e| e.to_string()))
            .map_err(SourceError::Unavailable)
    }

    /// Writes records in order, chained to the last one stored, in one transaction.
    fn write(&self, batch: Vec<(String, AuditEvent)>) -> Result<(), SourceError> {
        let mut db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        let key = self.keys.current();
        db.locked(|w| {
            let meta = read_meta(w)?;
            // Another daemon sharing the store with another key file would fork the chain.
            let last_key = meta.text("last_key_id");
            if !last_key.is_empty() && self.keys.get(&last_key).is_none() {
                return Err(SourceError::Unavailable(format!(
                    "the last record was written with audit key `{last_key}`, which this key file lacks"
                )));
            }
            let mut seq = meta.number("last_seq");
            let mut last_hash = meta.text("last_hash");
            let mut rows = Vec::with_capacity(batch.len());
            for (patient, e) in batch {
                seq += 1;
                let hash = chain::mac(key, &last_hash, seq, &patient, &e);
                rows.push(vec![
                    Value::Int(seq),
                    key.id.clone().into(),
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
            set_meta(w, "last_key_id", &key.id)?;
            set_meta(w, "last_hash", &last_hash)
        })
    }

    /// Checks the whole chain, and that it still holds what each checkpoint names.
    pub fn verify(&self, checkpoints: &[Checkpoint]) -> Result<Verification, SourceError> {
        let mut db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        let meta = read_meta(&mut db)?;
        let events = read_events(&mut db, "1 = 1", vec![])?;
        let (anchor_seq, anchor_hash) = (meta.number("anchor_seq"), meta.text("anchor_hash"));
        if anchor_seq > 0
            && !chain::anchor_is_authentic(
                &self.keys,
                &meta.text("anchor_key_id"),
                anchor_seq,
                &anchor_hash,
                &meta.text("anchor_tag"),
            )
        {
            return Ok(Verification::Broken {
                seq: anchor_seq,
                problem: "the record of what was purged does not verify (records removed and called purged?)".into(),
            });
        }
        let verdict = chain::verify(
            &self.keys,
            (anchor_seq, &anchor_hash),
            &events,
            (meta.number("last_seq"), &meta.text("last_hash")),
        );
        if verdict != (Verification::Intact { records: events.len() as u64 }) {
            return Ok(verdict);
        }
        for checkpoint in checkpoints {
            if let Err(broken) = checkpoint.check(anchor_seq, &events) {
                return Ok(broken);
            }
        }
        Ok(verdict)
    }

    /// A keyed statement of where the trail ends now, for the log.
    pub fn checkpoint(&self) -> Result<Checkpoint, SourceError> {
        let mut db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        let meta = read_meta(&mut db)?;
        let at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        Ok(Checkpoint::new(self.keys.current(), meta.number("last_seq"), &meta.text("last_hash"), &at))
    }

    pub fn keys(&self) -> &AuditKeys {
        &self.keys
    }

    /// The records about one patient, oldest first: the BSN's pseudonym under every key.
    pub fn export(&self, bsn: &Bsn) -> Result<Vec<StoredEvent>, SourceError> {
        let mut refs: Vec<(String, String)> =
            self.keys.all().iter().map(|k| (k.id.clone(), pseudonym(&k.pseudonym, bsn))).collect();
        if let Some(legacy) = &self.legacy_pseudonym {
            refs.push((String::new(), pseudonym(legacy, bsn)));
        }
        let filter = vec!["(key_id = ? AND patient = ?)"; refs.len()].join(" OR ");
        let binds = refs.into_iter().flat_map(|(k, p)| [Value::Text(k), Value::Text(p)]).collect();
        let mut db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        read_events(&mut db, &filter, binds)
    }

    /// Removes the records older than `cutoff` (UTC ISO 8601), oldest first, and anchors the
    /// chain at the last removed one (keyed, so nobody else can claim records were purged).
    pub fn purge(&self, cutoff: &str) -> Result<u64, SourceError> {
        let key = self.keys.current();
        let mut db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        db.locked(|w| {
            let last_old = "SELECT seq, hash FROM audit_event WHERE at < ? ORDER BY seq DESC LIMIT 1";
            let old = w.query(last_old, vec![cutoff.into()])?;
            let Some(row) = old.rows.first() else { return Ok(0) };
            let (seq, hash) = (row[0].clone(), row[1].to_text().unwrap_or_default());
            let removed = w.execute("DELETE FROM audit_event WHERE seq <= ?", vec![seq.clone()])?;
            let seq = match seq {
                Value::Int(n) => n,
                _ => 0,
            };
            set_anchor(w, key, seq, &hash)?;
            Ok(removed as u64)
        })
    }
}

fn pseudonym(key: &hmac::Key, bsn: &Bsn) -> String {
    hex(hmac::sign(key, bsn.expose().as_bytes()).as_ref())
}

fn set_anchor(w: &mut Db, key: &super::keys::AuditKey, seq: i64, hash: &str) -> Result<(), SourceError> {
    set_meta(w, "anchor_seq", &seq.to_string())?;
    set_meta(w, "anchor_hash", hash)?;
    set_meta(w, "anchor_key_id", &key.id)?;
    set_meta(w, "anchor_tag", &chain::anchor_tag(key, seq, hash))
}

/// Whether `keys` fit the store: the last keyed record verifies with the key it names. Returns
/// the legacy pseudonym key, when the store has one sealed.
fn fit(db: &mut Db, keys: &AuditKeys, place: &str) -> Result<Option<hmac::Key>, OpenError> {
    let store = |e: SourceError| OpenError::Store(format!("audit store {place}: {e}"));
    let meta = read_meta(db).map_err(store)?;
    let legacy = match meta.0.get("legacy_pseudonym_sealed") {
        None => None,
        Some(sealed) => {
            let by = meta.text("legacy_pseudonym_sealed_with");
            let opened = keys.get(&by).and_then(|k| k.open(sealed)).ok_or_else(|| {
                OpenError::Keys(format!(
                    "audit store {place}: its old pseudonym key is sealed with audit key `{by}`, which the key file lacks"
                ))
            })?;
            Some(hmac::Key::new(hmac::HMAC_SHA256, &opened))
        }
    };
    // The last keyed records name keys the file must hold, and some of them verify under them.
    // (None verifying means another key of that name; one changed record is for `verify`.)
    let recent =
        read_events(db, "seq IN (SELECT seq FROM audit_event WHERE key_id <> '' ORDER BY seq DESC LIMIT 10)", vec![])
            .map_err(store)?;
    if let Some(e) = recent.iter().find(|e| keys.get(&e.key_id).is_none()) {
        return Err(OpenError::Keys(format!(
            "audit store {place}: record {} was written with audit key `{}`, which the key file lacks (the wrong key \
             file, or a key removed while records still need it); the trail is not re-keyed",
            e.seq, e.key_id
        )));
    }
    let verifies = |e: &StoredEvent| {
        keys.get(&e.key_id).is_some_and(|key| chain::mac(key, &e.prev_hash, e.seq, &e.patient, &e.event) == e.hash)
    };
    if let Some(last) = recent.last().filter(|_| !recent.iter().any(verifies)) {
        return Err(OpenError::Keys(format!(
            "audit store {place}: none of its last records verifies with the key file (record {} names key `{}`: \
             another key of that name, or the records were changed); the trail is not re-keyed",
            last.seq, last.key_id
        )));
    }
    Ok(legacy)
}

/// Brings the schema up to date. A store from before the key file keeps its pseudonym key in
/// `audit_meta`: it is sealed under the current key and removed, and a purge anchor gets its
/// tag. Returns that old pseudonym key, if this call moved it.
fn migrate(w: &mut Db, keys: &AuditKeys) -> Result<Option<hmac::Key>, SourceError> {
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
    let key = keys.current();
    if meta.number("anchor_seq") > 0 && meta.text("anchor_tag").is_empty() {
        set_anchor(w, key, meta.number("anchor_seq"), &meta.text("anchor_hash"))?;
    }
    let Some(old) = meta.0.get("hmac_key") else { return Ok(None) };
    let old = decode_hex(old).ok_or_else(|| SourceError::Statement("audit_meta.hmac_key is damaged".into()))?;
    set_meta(w, "legacy_pseudonym_sealed", &key.seal(&old).map_err(SourceError::Statement)?)?;
    set_meta(w, "legacy_pseudonym_sealed_with", &key.id)?;
    w.execute("DELETE FROM audit_meta WHERE key = ?", vec!["hmac_key".into()])?;
    tracing::info!("audit store migrated: its pseudonym key was moved out of the store (sealed under the key file)");
    Ok(Some(hmac::Key::new(hmac::HMAC_SHA256, &old)))
}

fn read_meta(w: &mut Db) -> Result<Meta, SourceError> {
    let rows = w.query("SELECT key, value FROM audit_meta", vec![])?;
    Ok(Meta(rows.rows.iter().filter_map(|r| Some((r[0].to_text()?, r[1].to_text()?))).collect()))
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
        key_id: text("key_id"),
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

    fn keys(dir: &std::path::Path) -> AuditKeys {
        let file = dir.join("audit.key");
        if !file.exists() {
            super::super::new_key(&file).expect("key");
        }
        AuditKeys::load(&file).expect("keys")
    }

    #[test]
    fn appends_verify_export_and_purge() {
        let dir = tempfile::tempdir().expect("dir");
        let store = AuditStore::Sqlite(dir.path().join("audit.sqlite"));
        let trail = AuditTrail::open(&store, keys(dir.path())).expect("open");
        let (a, b) = (Bsn::parse("999911132").expect("bsn"), Bsn::parse("999911144").expect("bsn"));
        for n in 1..=4 {
            trail.append(Some(if n % 2 == 0 { &a } else { &b }), &event(n)).expect("append");
        }
        trail.append(None, &AuditEvent { outcome: "denied".into(), status: 401, ..event(5) }).expect("denied");
        assert_eq!(trail.verify(&[]).expect("verify"), Verification::Intact { records: 5 });
        let mine = trail.export(&a).expect("export");
        assert_eq!(mine.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 4]);
        assert_eq!(trail.purge("2026-01-03T00:00:00.000Z").expect("purge"), 2);
        assert_eq!(trail.verify(&[]).expect("verify"), Verification::Intact { records: 3 }, "the rest still verifies");
        drop(trail);
        // Reopening keeps the chain; the store holds no key.
        let trail = AuditTrail::open(&store, keys(dir.path())).expect("reopen");
        trail.append(Some(&a), &event(6)).expect("append");
        assert_eq!(trail.export(&a).expect("export").len(), 2);
        assert_eq!(trail.verify(&[]).expect("verify"), Verification::Intact { records: 4 });
    }

    /// A store written before the key file (schema 1: SHA-256 chain, pseudonym key in the store)
    /// migrates: its records still verify and export, the key leaves the store (sealed), and
    /// new records are keyed. A key file of another install does not fit, and nothing is re-keyed.
    #[test]
    fn a_schema_one_store_migrates_and_keeps_verifying() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("audit.sqlite");
        let bsn = Bsn::parse("999911132").expect("bsn");
        let old_key = [7u8; 32];
        {
            let mut w = SqliteWriter::create(&path).expect("create");
            w.execute_batch(
                "CREATE TABLE audit_schema (version BIGINT PRIMARY KEY); INSERT INTO audit_schema VALUES (1);",
            )
            .expect("schema");
            w.execute_batch(MIGRATIONS[0].1).expect("v1");
            let patient = pseudonym(&hmac::Key::new(hmac::HMAC_SHA256, &old_key), &bsn);
            let mut prev = String::new();
            for seq in 1..=3 {
                let e = event(seq as u16);
                let hash = chain::legacy_hash(&prev, seq, &patient, &e);
                let statement = Statement {
                    sql: "INSERT INTO audit_event (seq, patient, at, action, service, interaction, resources, patient_key, \
                          client, peer, outcome, status, reason, request_id, correlation_id, prev_hash, hash) \
                          VALUES (?, ?, ?, ?, ?, '', '', '', '', '', ?, 200, '', '', '', ?, ?)"
                        .into(),
                    binds: vec![
                        Value::Int(seq),
                        patient.clone().into(),
                        e.at.into(),
                        e.action.into(),
                        e.service.into(),
                        e.outcome.into(),
                        prev.clone().into(),
                        hash.clone().into(),
                    ],
                };
                w.execute(&statement).expect("insert");
                prev = hash;
            }
            for (k, v) in [("hmac_key", hex(&old_key)), ("last_seq", "3".into()), ("last_hash", prev)] {
                w.execute(&Statement {
                    sql: "INSERT INTO audit_meta (key, value) VALUES (?, ?)".into(),
                    binds: vec![k.into(), v.into()],
                })
                .expect("meta");
            }
        }
        let store = AuditStore::Sqlite(path.clone());
        let trail = AuditTrail::open(&store, keys(dir.path())).expect("migrate");
        assert_eq!(trail.verify(&[]).expect("verify"), Verification::Intact { records: 3 });
        trail.append(Some(&bsn), &event(4)).expect("append");
        assert_eq!(trail.verify(&[]).expect("verify"), Verification::Intact { records: 4 });
        assert_eq!(trail.export(&bsn).expect("export").len(), 4, "old and new records of the patient");
        drop(trail);
        let mut w = SqliteWriter::create(&path).expect("open");
        let meta = read_meta(&mut Db::Sqlite(SqliteWriter::create(&path).expect("open"))).expect("meta");
        assert!(!meta.0.contains_key("hmac_key"), "the pseudonym key left the store");
        assert!(meta.0.contains_key("legacy_pseudonym_sealed"));
        // Another install's key file does not fit; the trail is not touched.
        let other = tempfile::tempdir().expect("dir");
        match AuditTrail::open(&store, keys(other.path())) {
            Err(OpenError::Keys(m)) => assert!(m.contains("which the key file lacks"), "{m}"),
            Err(e) => panic!("not a key error: {e}"),
            Ok(_) => panic!("a foreign key file was accepted"),
        }
        assert!(matches!(AuditTrail::check(&store, &keys(other.path())), Err(OpenError::Keys(_))));
        let rows =
            w.query(&Statement { sql: "SELECT COUNT(*) AS n FROM audit_event".into(), binds: vec![] }).expect("count");
        assert_eq!(rows.rows[0][0], Value::Int(4));
    }
}
