//! The audit trail (NEN 7513): one record per access to a data service, written durably before
//! the response leaves, chained by MACs under a key kept outside the store, so that an edited,
//! removed, inserted or reordered record is detected even by someone who can write the store;
//! checkpoints in the log catch records cut off the end.
//!
//! Records name the patient by an HMAC of the BSN under a key of the key file, so the trail
//! holds no BSN, nobody with the store alone can map it back, yet `audit export --patient BSN`
//! finds a patient's records. The store is an SQLite file or a PostgreSQL database; appends take
//! the write lock first, so several processes may share it and the chain stays one line.

mod chain;
mod group_commit;
mod keys;
mod store;

pub use chain::{Checkpoint, Verification};
pub use keys::{new_key, AuditKeys};
pub use store::{AuditTrail, OpenError};

use serde::Serialize;

/// One access, as recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AuditEvent {
    /// UTC, ISO 8601 with milliseconds: when the request arrived.
    pub at: String,
    /// NEN 7513 action code: `R` (read) for everything this server does.
    pub action: String,
    /// The data service, e.g. `gp-data`.
    pub service: String,
    /// `search`, `read` or `lastn`, and the resource type asked for.
    pub interaction: String,
    /// The resources returned, `Type/id`, space-separated.
    pub resources: String,
    /// The patient's key in the EHR, when the token's BSN matched one.
    pub patient_key: String,
    /// The PGO as the token names it.
    pub client: String,
    /// The TLS client (allowed host name), when mutual TLS is on.
    pub peer: String,
    /// `granted` or `denied`.
    pub outcome: String,
    /// The HTTP status, and for a denial why (never the token).
    pub status: u16,
    pub reason: String,
    pub request_id: String,
    pub correlation_id: String,
}

/// A record as stored: its place in the chain and the patient reference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEvent {
    pub seq: i64,
    /// The key of the key file its MAC was made with; empty for a record of a schema-1 store.
    #[serde(skip)]
    pub key_id: String,
    /// HMAC-SHA256 of the BSN under the record's key (hex); empty without a valid token.
    #[serde(skip)]
    pub patient: String,
    #[serde(flatten)]
    pub event: AuditEvent,
    #[serde(skip)]
    pub prev_hash: String,
    #[serde(skip)]
    pub hash: String,
}
