//! [`RowSource`](dva_source_api::RowSource) over diesel with dynamic rows.
//!
//! Mapping files bring their own SQL, so rows are read without a compile-time schema: each
//! field is decoded by the storage type the database reports. SQLite is bundled (no system
//! library needed); it is the embedded default and the demo database.
#![forbid(unsafe_code)]

#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteSource, SqliteWriter};

/// Limits that protect the legacy database and the connector's memory.
#[derive(Debug, Clone)]
pub struct SourceLimits {
    /// Connections in the pool: the most statements that run at once against the EHR.
    pub pool_size: u32,
    /// How long a statement may run (and how long to wait for a lock or a connection).
    pub statement_timeout: std::time::Duration,
    /// The most rows one statement may return.
    pub max_rows: usize,
}

impl Default for SourceLimits {
    fn default() -> Self {
        Self { pool_size: 4, statement_timeout: std::time::Duration::from_secs(10), max_rows: 10_000 }
    }
}
