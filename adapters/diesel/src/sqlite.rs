//! SQLite through diesel: a read-only pooled source, and a writer for the demo generator.

use crate::rows::{collect, DecodeValue, DynamicRow};
use diesel::connection::SimpleConnection;
use diesel::deserialize::{self, FromSql};
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::sql_types::{BigInt, Binary, Double, Nullable, Text};
use diesel::sqlite::{Sqlite, SqliteConnection, SqliteType, SqliteValue};
use diesel::{Connection, RunQueryDsl};
use dva_source_api::{Dialect, PoolStatus, RowSet, RowSource, SourceError, SqlStyle, Statement, Value};
use std::path::Path;
use std::time::Duration;

use dva_source_api::SourceLimits;

/// SQLite's default limit on binds per statement.
const MAX_BINDS: usize = 32_766;

/// A pool of read-only connections to one SQLite database file.
pub struct SqliteSource {
    pool: Pool<ConnectionManager<SqliteConnection>>,
    limits: SourceLimits,
    path: std::path::PathBuf,
}

impl SqliteSource {
    /// Opens `path` read-only. Fails when the file does not exist: a connector that silently
    /// created an empty EHR database would serve empty records.
    pub fn open(path: &Path, limits: SourceLimits) -> Result<Self, SourceError> {
        if !path.is_file() {
            return Err(SourceError::Unavailable(format!("SQLite database {} does not exist", path.display())));
        }
        let url = format!("file:{}?mode=ro", path.display());
        let pool = Pool::builder()
            .max_size(limits.pool_size.max(1))
            .min_idle(Some(0))
            .connection_timeout(limits.statement_timeout)
            .connection_customizer(Box::new(ReadOnly { busy_timeout: limits.statement_timeout }))
            .build_unchecked(ConnectionManager::new(url));
        Ok(Self { pool, limits, path: path.to_path_buf() })
    }
}

impl SqliteSource {
    /// A watched caller's deadline: waiting for a connection and the statement both take at
    /// most the statement timeout (the busy timeout), so twice that.
    fn step(&self) -> Option<dva_source_api::watch::Step> {
        dva_source_api::watch::Watch::current().map(|w| w.step(self.limits.statement_timeout * 2))
    }
}

/// Makes every pooled connection read-only even if the URI flag were ignored.
#[derive(Debug)]
struct ReadOnly {
    busy_timeout: Duration,
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for ReadOnly {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!("PRAGMA query_only = ON; PRAGMA busy_timeout = {};", self.busy_timeout.as_millis()))
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

impl RowSource for SqliteSource {
    fn sql_style(&self) -> SqlStyle {
        Dialect::Sqlite.into()
    }

    fn query(&self, statement: &Statement) -> Result<RowSet, SourceError> {
        let _step = self.step();
        let mut conn = self.pool.get().map_err(|e| SourceError::Unavailable(e.to_string()))?;
        load(&mut conn, statement, self.limits.max_rows)
    }

    fn columns(&self, statement: &Statement) -> Result<Vec<String>, SourceError> {
        let _step = self.step();
        let mut conn = self.pool.get().map_err(|e| SourceError::Unavailable(e.to_string()))?;
        let rows = load(&mut conn, &dva_source_api::one_empty_row(statement), 1)?;
        Ok(rows.columns.to_vec())
    }

    fn health(&self) -> Result<(), SourceError> {
        // Pooled connections keep a moved or deleted file open; the path is what a restart uses.
        if !self.path.is_file() {
            return Err(SourceError::Unavailable(format!("{} is missing", self.path.display())));
        }
        let mut conn = self.pool.get().map_err(|e| SourceError::Unavailable(e.to_string()))?;
        conn.batch_execute("SELECT 1").map_err(|e| SourceError::Unavailable(e.to_string()))
    }

    fn pool_status(&self) -> Option<PoolStatus> {
        let state = self.pool.state();
        Some(PoolStatus { max: self.pool.max_size(), open: state.connections, idle: state.idle_connections })
    }
}

/// Runs a statement and decodes its rows, refusing more than `max_rows`.
fn load(conn: &mut SqliteConnection, statement: &Statement, max_rows: usize) -> Result<RowSet, SourceError> {
    let query = bind_all(diesel::sql_query(&statement.sql).into_boxed(), &statement.binds);
    let iter = query.load_iter::<DynamicRow, diesel::connection::DefaultLoadingMode>(conn).map_err(statement_error)?;
    collect(iter, max_rows, statement_error)
}

fn statement_error(e: diesel::result::Error) -> SourceError {
    match e {
        diesel::result::Error::DeserializationError(e) => {
            SourceError::Decode { column: String::new(), message: e.to_string() }
        }
        // Another process held a lock longer than the busy timeout (the EHR writing, in
        // rollback-journal mode): the database did not answer in time, the mapping is fine.
        diesel::result::Error::DatabaseError(_, info) if info.message().contains("database is locked") => {
            SourceError::Timeout(Duration::ZERO)
        }
        other => SourceError::Statement(other.to_string()),
    }
}

type BoxedQuery<'a> = diesel::query_builder::BoxedSqlQuery<'a, Sqlite, diesel::query_builder::SqlQuery>;

fn bind_all<'a>(mut query: BoxedQuery<'a>, binds: &[Value]) -> BoxedQuery<'a> {
    for value in binds {
        query = match value {
            Value::Null => query.bind::<Nullable<Text>, _>(None::<String>),
            Value::Bool(b) => query.bind::<BigInt, _>(i64::from(*b)),
            Value::Int(i) => query.bind::<BigInt, _>(*i),
            Value::Float(f) => query.bind::<Double, _>(*f),
            Value::Bytes(b) => query.bind::<Binary, _>(b.clone()),
            // SQLite has no date type: legacy schemas store text, which compares as text.
            other => query.bind::<Text, _>(other.to_text().unwrap_or_default()),
        };
    }
    query
}

/// SQLite values are decoded by storage class.
impl DecodeValue for Sqlite {
    fn decode_value(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Value> {
        Ok(match value.value_type() {
            Some(SqliteType::Long) => Value::Int(<i64 as FromSql<BigInt, Sqlite>>::from_sql(value)?),
            Some(SqliteType::Double) => Value::Float(<f64 as FromSql<Double, Sqlite>>::from_sql(value)?),
            Some(SqliteType::Binary) => Value::Bytes(<Vec<u8> as FromSql<Binary, Sqlite>>::from_sql(value)?),
            _ => Value::Text(<String as FromSql<Text, Sqlite>>::from_sql(value)?),
        })
    }
}

/// A read-write connection for creating the demo database. Never used to serve requests.
pub struct SqliteWriter {
    conn: SqliteConnection,
}

impl SqliteWriter {
    /// Opens or creates the database file.
    pub fn create(path: &Path) -> Result<Self, SourceError> {
        let url = path
            .to_str()
            .ok_or_else(|| SourceError::Unavailable(format!("database path {} is not UTF-8", path.display())))?;
        let mut conn = SqliteConnection::establish(url).map_err(|e| SourceError::Unavailable(e.to_string()))?;
        conn.batch_execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;").map_err(statement_error)?;
        Ok(Self { conn })
    }

    /// Runs several `;`-separated statements, e.g. DDL.
    pub fn execute_batch(&mut self, sql: &str) -> Result<(), SourceError> {
        self.conn.batch_execute(sql).map_err(statement_error)
    }

    /// Inserts rows with bound values, as few statements as SQLite's bind limit allows.
    pub fn insert(&mut self, table: &str, columns: &[&str], rows: &[Vec<Value>]) -> Result<(), SourceError> {
        dva_source_api::insert_batches(table, columns, rows, MAX_BINDS, Dialect::Sqlite.into(), |sql, binds| {
            bind_all(diesel::sql_query(sql).into_boxed(), &binds)
                .execute(&mut self.conn)
                .map(drop)
                .map_err(statement_error)
        })
    }

    /// Runs a statement and returns its rows (all of them: the caller bounds the query).
    pub fn query(&mut self, statement: &Statement) -> Result<RowSet, SourceError> {
        load(&mut self.conn, statement, usize::MAX)
    }

    /// Runs one statement with binds that returns no rows.
    pub fn execute(&mut self, statement: &Statement) -> Result<usize, SourceError> {
        bind_all(diesel::sql_query(&statement.sql).into_boxed(), &statement.binds)
            .execute(&mut self.conn)
            .map_err(statement_error)
    }

    /// Runs `f` in one transaction: all of it lands, or none.
    pub fn transaction<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, SourceError>) -> Result<T, SourceError> {
        self.transaction_with("BEGIN", f)
    }

    fn transaction_with<T>(
        &mut self,
        begin: &str,
        f: impl FnOnce(&mut Self) -> Result<T, SourceError>,
    ) -> Result<T, SourceError> {
        self.conn.batch_execute(begin).map_err(statement_error)?;
        match f(self) {
            Ok(v) => {
                self.conn.batch_execute("COMMIT").map_err(statement_error)?;
                Ok(v)
            }
            Err(e) => {
                // The original error matters more than a failed rollback.
                let _ = self.conn.batch_execute("ROLLBACK");
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo_db() -> (tempfile_path::TempDir, std::path::PathBuf) {
        let dir = tempfile_path::TempDir::new();
        let path = dir.0.join("t.sqlite");
        let mut w = SqliteWriter::create(&path).expect("create");
        w.execute_batch("CREATE TABLE t (id INTEGER, naam TEXT, waarde REAL, datum DATE)").expect("ddl");
        w.transaction(|w| {
            w.insert(
                "t",
                &["id", "naam", "waarde", "datum"],
                &[
                    vec![Value::Int(1), "a'; DROP TABLE t; --".into(), Value::Float(5.4), Value::Null],
                    vec![Value::Int(2), Value::Null, Value::Float(1.0), "2024-01-02".into()],
                ],
            )
        })
        .expect("insert");
        (dir, path)
    }

    #[test]
    fn reads_typed_rows_with_binds() {
        let (_dir, path) = demo_db();
        let source = SqliteSource::open(&path, SourceLimits::default()).expect("open");
        let rows = source
            .query(&Statement {
                sql: "SELECT id, naam, waarde, datum FROM t WHERE id >= ? ORDER BY id".into(),
                binds: vec![Value::Int(1)],
            })
            .expect("query");
        assert_eq!(&*rows.columns, ["id", "naam", "waarde", "datum"]);
        assert_eq!(rows.rows[0][0], Value::Int(1));
        assert_eq!(rows.rows[0][1], Value::Text("a'; DROP TABLE t; --".into()));
        assert_eq!(rows.rows[0][2], Value::Float(5.4));
        assert_eq!(rows.rows[1][1], Value::Null);
        assert_eq!(rows.rows[1][3], Value::Text("2024-01-02".into()));
    }

    #[test]
    fn source_is_read_only() {
        let (_dir, path) = demo_db();
        let source = SqliteSource::open(&path, SourceLimits::default()).expect("open");
        let err = source.query(&Statement { sql: "DELETE FROM t".into(), binds: vec![] });
        assert!(err.is_err(), "a write through the source must fail");
        let left = source.query(&Statement { sql: "SELECT id FROM t".into(), binds: vec![] }).expect("query");
        assert_eq!(left.rows.len(), 2);
    }

    #[test]
    fn row_cap_is_enforced() {
        let (_dir, path) = demo_db();
        let limits = SourceLimits { max_rows: 1, ..SourceLimits::default() };
        let source = SqliteSource::open(&path, limits).expect("open");
        let err = source.query(&Statement { sql: "SELECT id FROM t".into(), binds: vec![] });
        assert!(matches!(err, Err(SourceError::RowCap(1))));
    }

    #[test]
    fn missing_file_is_unavailable() {
        let err = SqliteSource::open(Path::new("/nonexistent/x.sqlite"), SourceLimits::default());
        assert!(matches!(err, Err(SourceError::Unavailable(_))));
    }

    /// A tiny temp dir so this crate needs no dev-dependency.
    mod tempfile_path {
        pub struct TempDir(pub std::path::PathBuf);
        impl TempDir {
            pub fn new() -> Self {
                static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let p = std::env::temp_dir().join(format!("dva-sqlite-test-{}-{n}", std::process::id()));
                let _ = std::fs::remove_dir_all(&p);
                std::fs::create_dir_all(&p).expect("temp dir");
                Self(p)
            }
        }
        impl Drop for TempDir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }
}
