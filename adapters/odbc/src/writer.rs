//! A read-write connection for creating the demo database. Never used to serve requests.

use crate::{bind, connect, errors, Dialect, TextEncoding};
use dva_source_api::{insert_batches, SourceError, SqlStyle, Value};
use odbc_api::Connection;
use std::time::Duration;

/// Most drivers accept at least this many parameters per statement.
const MAX_BINDS: usize = 2_000;
const TIMEOUT: Duration = Duration::from_secs(300);

pub struct OdbcWriter {
    conn: Connection<'static>,
    dialect: Dialect,
}

impl OdbcWriter {
    pub fn connect(connection_string: &str, dialect: Dialect) -> Result<Self, SourceError> {
        Ok(Self { conn: connect(connection_string, Duration::from_secs(10))?, dialect })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Runs several `;`-separated statements one at a time (drivers differ in batch support).
    pub fn execute_batch(&mut self, sql: &str) -> Result<(), SourceError> {
        for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            self.conn.execute(statement, (), None).map_err(|e| errors::classify(e, TIMEOUT))?;
        }
        Ok(())
    }

    pub fn insert(&mut self, table: &str, columns: &[&str], rows: &[Vec<Value>]) -> Result<(), SourceError> {
        let (conn, dialect) = (&self.conn, self.dialect);
        insert_batches(table, columns, rows, MAX_BINDS, SqlStyle::odbc(dialect), |sql, binds| {
            let params = bind::parameters(&binds, dialect, TextEncoding::Utf16)?;
            conn.execute(&sql, params.as_slice(), None).map(drop).map_err(|e| errors::classify(e, TIMEOUT))
        })
    }

    /// Runs `f` in one transaction: all of it lands, or none.
    pub fn transaction<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, SourceError>) -> Result<T, SourceError> {
        let odbc = |e| errors::classify(e, TIMEOUT);
        self.conn.set_autocommit(false).map_err(odbc)?;
        let result = f(self);
        let end = match result {
            Ok(_) => self.conn.commit(),
            Err(_) => self.conn.rollback(),
        };
        let restored = self.conn.set_autocommit(true);
        let value = result?;
        end.map_err(odbc)?;
        restored.map_err(odbc)?;
        Ok(value)
    }
}
