//! Where the demo generator writes: SQLite (the embedded default), PostgreSQL natively, or
//! any database through ODBC (MariaDB in the tests).

use dva_source_api::{Dialect, SourceError, Value};
use dva_source_diesel::{PostgresWriter, SqliteWriter};
use dva_source_odbc::OdbcWriter;

/// Work to run in one transaction.
pub type Work<'a> = dyn FnMut(&mut dyn DemoWriter) -> Result<(), SourceError> + 'a;

pub trait DemoWriter {
    fn dialect(&self) -> Dialect;
    /// Runs `;`-separated statements, e.g. DDL.
    fn execute_batch(&mut self, sql: &str) -> Result<(), SourceError>;
    fn insert(&mut self, table: &str, columns: &[&str], rows: &[Vec<Value>]) -> Result<(), SourceError>;
    /// Runs `work` in one transaction: all of it lands, or none.
    fn in_transaction(&mut self, work: &mut Work<'_>) -> Result<(), SourceError>;
}

macro_rules! demo_writer {
    ($writer:ty, $dialect:expr) => {
        impl DemoWriter for $writer {
            fn dialect(&self) -> Dialect {
                #[allow(clippy::redundant_closure_call)]
                ($dialect)(self)
            }
            fn execute_batch(&mut self, sql: &str) -> Result<(), SourceError> {
                <$writer>::execute_batch(self, sql)
            }
            fn insert(&mut self, table: &str, columns: &[&str], rows: &[Vec<Value>]) -> Result<(), SourceError> {
                <$writer>::insert(self, table, columns, rows)
            }
            fn in_transaction(&mut self, work: &mut Work<'_>) -> Result<(), SourceError> {
                self.transaction(|w| work(w))
            }
        }
    };
}

demo_writer!(SqliteWriter, |_: &SqliteWriter| Dialect::Sqlite);
demo_writer!(PostgresWriter, |_: &PostgresWriter| Dialect::Postgres);
demo_writer!(OdbcWriter, |w: &OdbcWriter| w.dialect());
