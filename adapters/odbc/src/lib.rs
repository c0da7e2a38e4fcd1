//! [`RowSource`] over ODBC: any database with an ODBC driver, by connection string or DSN.
//!
//! Columns are discovered at run time and fetched by the type the driver reports: integers
//! always as 64 bits, exact numbers as text (no digit lost), dates and timestamps as such,
//! character data through the wide (UTF-16) functions so the driver converts from the
//! database's own encoding, binary columns as bytes. Statements run on pooled connections
//! that were made read-only and given a statement timeout where the dialect allows.
#![forbid(unsafe_code)]

mod bind;
mod decode;
mod encoding;
mod errors;
mod writer;

pub use encoding::TextEncoding;
pub use writer::OdbcWriter;

use dva_source_api::pool::{Connect, Pool};
use dva_source_api::{Dialect, PoolStatus, RowSet, RowSource, SourceError, SourceLimits, SqlStyle, Statement};
use odbc_api::{Connection, ConnectionOptions};
use std::time::Duration;

/// How to reach and talk to one ODBC data source.
#[derive(Debug, Clone)]
pub struct OdbcOptions {
    /// `Driver={...};Server=...` or `DSN=...`. May hold a password: never logged.
    pub connection_string: String,
    pub dialect: Dialect,
    pub encoding: TextEncoding,
    /// Extra statements run once on each new connection, after the dialect's own.
    pub init_sql: Vec<String>,
}

pub struct OdbcSource {
    pool: Pool<Connector>,
    options: OdbcOptions,
    limits: SourceLimits,
}

impl OdbcSource {
    /// Prepares the pool; connections open on first use, so a database that is down at start
    /// only makes requests fail (and `/readyz` say so) until it is back.
    pub fn open(options: OdbcOptions, limits: SourceLimits) -> Self {
        let connector = Connector { options: options.clone(), limits: limits.clone() };
        Self { pool: Pool::new(connector, &limits), options, limits }
    }
}

impl RowSource for OdbcSource {
    fn sql_style(&self) -> SqlStyle {
        SqlStyle::odbc(self.options.dialect)
    }

    fn query(&self, statement: &Statement) -> Result<RowSet, SourceError> {
        let params = bind::parameters(&statement.binds, self.options.dialect, self.options.encoding)?;
        let timeout = self.limits.statement_timeout;
        self.pool.with(|conn| {
            let cursor = conn
                .execute(&statement.sql, params.as_slice(), Some(whole_seconds(timeout)))
                .map_err(|e| errors::classify(e, timeout))?;
            match cursor {
                Some(cursor) => decode::read_rows(cursor, self.options.encoding, self.limits.max_rows, timeout),
                None => Ok(RowSet::default()),
            }
        })
    }

    fn columns(&self, statement: &Statement) -> Result<Vec<String>, SourceError> {
        // ODBC reports a result's columns without a row; `1 = 0` keeps any row from being read.
        let check = Statement {
            sql: format!("SELECT * FROM (\n{}\n) q WHERE 1 = 0", statement.sql),
            binds: statement.binds.clone(),
        };
        Ok(self.query(&check)?.columns.to_vec())
    }

    fn health(&self) -> Result<(), SourceError> {
        let sql = health_sql(self.options.dialect);
        let timeout = self.limits.statement_timeout;
        self.pool.with(|conn| {
            conn.execute(sql, (), Some(whole_seconds(timeout))).map(drop).map_err(|e| errors::classify(e, timeout))
        })
    }

    fn pool_status(&self) -> Option<PoolStatus> {
        Some(self.pool.status())
    }
}

struct Connector {
    options: OdbcOptions,
    limits: SourceLimits,
}

impl Connect for Connector {
    type Connection = Connection<'static>;

    fn connect(&self) -> Result<Connection<'static>, SourceError> {
        let conn = connect(&self.options.connection_string, self.limits.connect_timeout)?;
        let timeout = self.limits.statement_timeout;
        let custom = self.options.init_sql.iter().map(|sql| vec![sql.clone()]);
        for alternatives in session_setup(self.options.dialect, timeout).into_iter().chain(custom) {
            let mut last = None;
            for sql in &alternatives {
                match conn.execute(sql, (), Some(whole_seconds(timeout))) {
                    Ok(_) => {
                        last = None;
                        break;
                    }
                    Err(e) => last = Some(errors::classify(e, timeout)),
                }
            }
            match last {
                None => {}
                Some(SourceError::Statement(m)) => {
                    return Err(SourceError::Unavailable(format!("setting up the session failed: {m}")))
                }
                Some(other) => return Err(other),
            }
        }
        Ok(conn)
    }
}

/// Opens a connection with a login timeout. Errors carry the driver's message, which names
/// the server but never echoes the connection string (it may hold a password).
pub(crate) fn connect(connection_string: &str, timeout: Duration) -> Result<Connection<'static>, SourceError> {
    let env = odbc_api::environment().map_err(|e| SourceError::Unavailable(format!("ODBC environment: {e}")))?;
    let options = ConnectionOptions { login_timeout_sec: Some(whole_seconds(timeout) as u32), ..Default::default() };
    env.connect_with_connection_string(connection_string, options).map_err(|e| match errors::classify(e, timeout) {
        SourceError::Statement(m) => SourceError::Unavailable(m),
        other => other,
    })
}

/// Statements that make a new session read-only and bound its statements, per dialect; each
/// step lists alternatives, tried until one works (MariaDB and MySQL name the limit
/// differently). Where a database has no such setting (SQL Server, Oracle) the account must be
/// read-only; the README says so. The ODBC query timeout applies everywhere on top, where the
/// driver honours it.
fn session_setup(dialect: Dialect, timeout: Duration) -> Vec<Vec<String>> {
    let ms = timeout.as_millis();
    let one = |sql: String| vec![sql];
    match dialect {
        Dialect::Sqlite => vec![one("PRAGMA query_only = ON".into()), one(format!("PRAGMA busy_timeout = {ms}"))],
        Dialect::Postgres => vec![
            one("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY".into()),
            one(format!("SET statement_timeout = {ms}")),
        ],
        Dialect::Mysql => vec![
            one("SET SESSION TRANSACTION READ ONLY".into()),
            vec![
                format!("SET SESSION max_statement_time = {}", timeout.as_secs_f64()),
                format!("SET SESSION max_execution_time = {ms}"),
            ],
            // `||` concatenates, as in standard SQL and every other dialect, so one mapping
            // set serves all databases.
            one("SET SESSION sql_mode = CONCAT(@@sql_mode, ',PIPES_AS_CONCAT')".into()),
        ],
        Dialect::Mssql => vec![one(format!("SET LOCK_TIMEOUT {ms}"))],
        Dialect::Oracle | Dialect::Generic => vec![],
    }
}

fn health_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Oracle => "SELECT 1 FROM DUAL",
        _ => "SELECT 1",
    }
}

fn whole_seconds(d: Duration) -> usize {
    usize::try_from(d.as_secs().max(1)).unwrap_or(usize::MAX)
}
