//! The seam between the connector and a database.
//!
//! A [`RowSource`] runs one SQL statement with bound parameters and returns a [`RowSet`]:
//! column names and typed [`Value`]s. It knows nothing of FHIR. Everything a backend needs
//! to know about SQL text differences lives in [`Dialect`].
#![forbid(unsafe_code)]

mod dialect;
pub mod value;

pub use dialect::Dialect;
pub use value::Value;

use std::sync::Arc;
use std::time::Duration;

/// A statement in the source's own dialect, with positional placeholders, and its binds.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub binds: Vec<Value>,
}

/// The result of one statement: shared column names and the rows, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RowSet {
    pub columns: Arc<[String]>,
    pub rows: Vec<Vec<Value>>,
}

impl RowSet {
    pub fn new(columns: Vec<String>) -> Self {
        Self { columns: columns.into(), rows: Vec::new() }
    }

    /// Index of a column, compared case-insensitively: databases differ in how they fold
    /// unquoted aliases (PostgreSQL lowers them, Oracle raises them).
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.eq_ignore_ascii_case(name))
    }
}

/// Why a source could not answer. Messages never carry bound values (they may be PHI).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The database cannot be reached or refused the connection.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The statement ran longer than the configured timeout.
    #[error("statement timed out after {0:?}")]
    Timeout(Duration),
    /// The statement returned more rows than the configured cap.
    #[error("statement returned more than {0} rows")]
    RowCap(usize),
    /// The database rejected the statement (a mapping error, usually).
    #[error("statement failed: {0}")]
    Statement(String),
    /// A column had a type this adapter cannot represent.
    #[error("column `{column}`: {message}")]
    Decode { column: String, message: String },
}

/// Read access to one legacy database. Implementations are blocking; the caller runs them on
/// a bounded blocking pool. They must open connections read-only where the driver allows.
pub trait RowSource: Send + Sync {
    /// The SQL dialect this source speaks, for placeholders and paging.
    fn dialect(&self) -> Dialect;

    /// Run one statement and return all its rows (callers bound them with paging in SQL).
    fn query(&self, statement: &Statement) -> Result<RowSet, SourceError>;

    /// A cheap check that the database answers.
    fn health(&self) -> Result<(), SourceError>;

    /// Connections open and idle in the pool, for metrics; `None` when there is no pool.
    fn pool_status(&self) -> Option<PoolStatus> {
        None
    }
}

/// A snapshot of a connection pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    pub max: u32,
    pub open: u32,
    pub idle: u32,
}
