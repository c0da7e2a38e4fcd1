//! The seam between the connector and a database.
//!
//! A [`RowSource`] runs one SQL statement with bound parameters and returns a [`RowSet`]:
//! column names and typed [`Value`]s. It knows nothing of FHIR. Everything a backend needs
//! to know about SQL text differences lives in [`Dialect`].
#![forbid(unsafe_code)]

mod dialect;
pub mod pool;
pub mod value;
pub mod watch;

pub use dialect::{Dialect, SqlStyle};
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
    /// Every pooled connection stayed busy for the configured wait: the EHR is at the load
    /// the connector may put on it.
    #[error("all database connections stayed busy for {0:?}")]
    Busy(Duration),
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
    /// The SQL this source takes: dialect (paging) and placeholder style.
    fn sql_style(&self) -> SqlStyle;

    /// Run one statement and return all its rows (callers bound them with paging in SQL).
    fn query(&self, statement: &Statement) -> Result<RowSet, SourceError>;

    /// The names of the columns `statement` returns, the database checking the statement
    /// (syntax, tables, columns) without reading a row. Its binds may be NULL.
    fn columns(&self, statement: &Statement) -> Result<Vec<String>, SourceError>;

    /// A cheap check that the database answers.
    fn health(&self) -> Result<(), SourceError>;

    /// Connections open and idle in the pool, for metrics; `None` when there is no pool.
    fn pool_status(&self) -> Option<PoolStatus> {
        None
    }
}

/// Limits that protect the legacy database and the connector's memory.
#[derive(Debug, Clone)]
pub struct SourceLimits {
    /// Connections in the pool: the most statements that run at once against the EHR.
    pub pool_size: u32,
    /// How long a statement may run (and how long a request waits for a free connection).
    pub statement_timeout: Duration,
    /// How long opening a connection may take before the database counts as down.
    pub connect_timeout: Duration,
    /// The most rows one statement may return.
    pub max_rows: usize,
}

impl Default for SourceLimits {
    fn default() -> Self {
        Self {
            pool_size: 4,
            statement_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(2),
            max_rows: 10_000,
        }
    }
}

/// `statement` wrapped so that it returns exactly one row, of NULLs, without being run: the
/// row carries its column names (which diesel only reports with a row), and `LIMIT 0` keeps
/// the database from reading anything. For SQLite and PostgreSQL.
pub fn one_empty_row(statement: &Statement) -> Statement {
    Statement {
        sql: format!(
            "SELECT dva_q.* FROM (SELECT 1 AS dva_one) dva_one LEFT JOIN (SELECT * FROM (\n{}\n) dva_inner LIMIT 0) dva_q ON 1 = 1",
            statement.sql
        ),
        binds: statement.binds.clone(),
    }
}

/// A snapshot of a connection pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    pub max: u32,
    pub open: u32,
    pub idle: u32,
}

/// Splits a multi-row INSERT into statements within the database's bind limit and runs each
/// through `execute` (SQL with the style's placeholders, and the binds). For the demo writers.
pub fn insert_batches(
    table: &str,
    columns: &[&str],
    rows: &[Vec<Value>],
    max_binds: usize,
    style: SqlStyle,
    mut execute: impl FnMut(String, Vec<Value>) -> Result<(), SourceError>,
) -> Result<(), SourceError> {
    if columns.is_empty() || rows.is_empty() {
        return Ok(());
    }
    if let Some(bad) = rows.iter().find(|r| r.len() != columns.len()) {
        return Err(SourceError::Statement(format!(
            "insert into {table}: a row has {} values for {} columns",
            bad.len(),
            columns.len()
        )));
    }
    for chunk in rows.chunks((max_binds / columns.len()).max(1)) {
        let mut binds = Vec::new();
        let tuples: Vec<String> = chunk
            .iter()
            .map(|row| {
                let marks: Vec<String> = row
                    .iter()
                    .map(|value| {
                        // A typed NULL bind would not fit every column (PostgreSQL refuses text
                        // into date); the literal fits all.
                        if value.is_null() {
                            return "NULL".to_owned();
                        }
                        binds.push(value.clone());
                        style.placeholder(binds.len())
                    })
                    .collect();
                format!("({})", marks.join(", "))
            })
            .collect();
        let sql = format!("INSERT INTO {table} ({}) VALUES {}", columns.join(", "), tuples.join(", "));
        execute(sql, binds)?;
    }
    Ok(())
}
