//! PostgreSQL through diesel (libpq): a read-only pooled source, and a writer for the demo.
//!
//! Rows are decoded by the type OID PostgreSQL reports per field, so mapping files can bring
//! any SELECT. Types without a natural FHIR use (arrays, json, geometric) are refused with the
//! column name; the mapping can cast them to text.

use crate::prepared::{CachedSql, Session};
use crate::rows::{collect, DecodeValue, DynamicRow};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::deserialize::{self, FromSql};
use diesel::pg::data_types::PgNumeric;
use diesel::pg::{Pg, PgConnection, PgValue};
use diesel::sql_types::{BigInt, Binary, Bool, Date, Double, Float, Integer, Nullable, Numeric, SmallInt, Text};
use diesel::sql_types::{Timestamp, Timestamptz};
use diesel::{Connection, RunQueryDsl};
use dva_source_api::pool::{Connect, Pool};
use dva_source_api::{Dialect, PoolStatus, RowSet, RowSource, SourceError, SourceLimits, SqlStyle, Statement, Value};
use std::time::{Duration, Instant};

/// PostgreSQL's answer to a prepared statement whose tables changed their columns.
const STALE_PLAN: &str = "cached plan must not change result type";

/// PostgreSQL's limit on binds per statement.
const MAX_BINDS: usize = 65_535;

/// A pool of read-only connections to one PostgreSQL database.
pub struct PostgresSource {
    pool: Pool<Connector>,
    limits: SourceLimits,
}

impl PostgresSource {
    /// Prepares the pool; connections open on first use, so a database that is down at start
    /// only makes requests fail (and `/readyz` say so) until it is back.
    pub fn open(url: &str, limits: SourceLimits) -> Self {
        let connector = Connector { url: with_client_timeouts(url, &limits), limits: limits.clone() };
        Self { pool: Pool::new(connector, &limits), limits }
    }
}

struct Connector {
    url: String,
    limits: SourceLimits,
}

impl Connect for Connector {
    type Connection = Session;

    fn connect(&self) -> Result<Session, SourceError> {
        // libpq's message names host and port, never the password.
        let mut conn = PgConnection::establish(&self.url).map_err(|e| SourceError::Unavailable(first_line(&e)))?;
        // Every transaction on this session is read-only; the server enforces the timeout.
        conn.batch_execute(&format!(
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY; SET statement_timeout = {}",
            self.limits.statement_timeout.as_millis()
        ))
        .map_err(|e| SourceError::Unavailable(first_line(&e)))?;
        Ok(Session::new(conn))
    }
}

impl RowSource for PostgresSource {
    fn sql_style(&self) -> SqlStyle {
        Dialect::Postgres.into()
    }

    fn query(&self, statement: &Statement) -> Result<RowSet, SourceError> {
        let (max_rows, timeout) = (self.limits.max_rows, self.limits.statement_timeout);
        self.pool.with(|conn| load(conn, statement, max_rows, timeout))
    }

    fn columns(&self, statement: &Statement) -> Result<Vec<String>, SourceError> {
        let timeout = self.limits.statement_timeout;
        let wrapped = dva_source_api::one_empty_row(statement);
        self.pool.with(|session| {
            use diesel::connection::DefaultLoadingMode;
            let started = Instant::now();
            let error = |e| classify(e, started, timeout);
            // Not prepared: a check runs once and must not take one of the session's shapes.
            let query = bind_all(diesel::sql_query(&wrapped.sql).into_boxed(), &wrapped.binds);
            let iter = query.load_iter::<DynamicRow, DefaultLoadingMode>(&mut session.conn).map_err(error)?;
            Ok(collect(iter, 1, error)?.columns.to_vec())
        })
    }

    fn health(&self) -> Result<(), SourceError> {
        self.pool.with(|session| {
            session.conn.batch_execute("SELECT 1").map_err(|e| classify(e, Instant::now(), Duration::MAX))
        })
    }

    fn pool_status(&self) -> Option<PoolStatus> {
        Some(self.pool.status())
    }
}

/// Adds libpq's client-side limits unless the operator set them: `connect_timeout`, so a host
/// that does not answer counts as down quickly; TCP keepalives and `tcp_user_timeout`, so a
/// connection whose packets go unacknowledged (a dropped firewall state, a partition) is closed
/// by the kernel instead of waited on forever. A server that acknowledges but never answers is
/// the request watch's job (`dva_source_api::watch`).
fn with_client_timeouts(url: &str, limits: &SourceLimits) -> String {
    let settings = [
        ("connect_timeout", limits.connect_timeout.as_secs().max(1).to_string()),
        ("keepalives", "1".to_owned()),
        ("keepalives_idle", "30".to_owned()),
        ("keepalives_interval", "10".to_owned()),
        ("keepalives_count", "3".to_owned()),
        ("tcp_user_timeout", (limits.statement_timeout + Duration::from_secs(1)).as_millis().to_string()),
    ];
    let uri = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let mut out = url.to_owned();
    for (key, value) in settings {
        if url.contains(key) {
            continue;
        }
        let separator = match (uri, out.contains('?')) {
            (false, _) => ' ',
            (true, true) => '&',
            (true, false) => '?',
        };
        out.push(separator);
        out.push_str(&format!("{key}={value}"));
    }
    out
}

/// Runs a statement, prepared when the session still may prepare its shape.
fn load(
    session: &mut Session,
    statement: &Statement,
    max_rows: usize,
    timeout: Duration,
) -> Result<RowSet, SourceError> {
    use diesel::connection::DefaultLoadingMode;
    let started = Instant::now();
    let error = |e| classify(e, started, timeout);
    if session.may_prepare(&statement.sql) {
        let query = CachedSql { sql: &statement.sql, binds: &statement.binds };
        let iter = query.load_iter::<DynamicRow, DefaultLoadingMode>(&mut session.conn).map_err(error)?;
        collect(iter, max_rows, error)
    } else {
        let query = bind_all(diesel::sql_query(&statement.sql).into_boxed(), &statement.binds);
        let iter = query.load_iter::<DynamicRow, DefaultLoadingMode>(&mut session.conn).map_err(error)?;
        collect(iter, max_rows, error)
    }
}

/// Sorts a diesel error into the connector's kinds. A statement the server cancelled after
/// running for the whole timeout is a timeout, whatever language the server reports it in.
fn classify(e: diesel::result::Error, started: Instant, timeout: Duration) -> SourceError {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand, info) => {
            SourceError::Unavailable(info.message().to_owned())
        }
        Error::DatabaseError(..) if started.elapsed() >= timeout => SourceError::Timeout(timeout),
        // A table under a prepared statement changed (an EHR upgrade): this connection's
        // statement is stale. As "unavailable", the pool drops the connection and runs the
        // statement once more on a new one, which prepares it afresh.
        Error::DatabaseError(_, info) if info.message().contains(STALE_PLAN) => {
            SourceError::Unavailable("a prepared statement was outdated by a schema change".into())
        }
        Error::DeserializationError(e) => SourceError::Decode { column: String::new(), message: e.to_string() },
        other => SourceError::Statement(first_line(&other)),
    }
}

fn first_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().lines().next().unwrap_or_default().to_owned()
}

type BoxedQuery<'a> = diesel::query_builder::BoxedSqlQuery<'a, Pg, diesel::query_builder::SqlQuery>;

/// A parameter of no declared type (OID 0): PostgreSQL infers it from where it is used, so a
/// NULL fits any column (a NULL typed as text, compared with an integer column, is an error).
#[derive(diesel::sql_types::SqlType)]
#[diesel(postgres_type(oid = 0, array_oid = 0))]
pub(crate) struct Unspecified;

/// The value of an [`Unspecified`] NULL.
#[derive(Debug)]
pub(crate) struct NoValue;

impl diesel::serialize::ToSql<Unspecified, Pg> for NoValue {
    fn to_sql<'b>(&'b self, _: &mut diesel::serialize::Output<'b, '_, Pg>) -> diesel::serialize::Result {
        Ok(diesel::serialize::IsNull::Yes)
    }
}

/// Binds each value with its own SQL type, so PostgreSQL compares dates with dates.
fn bind_all<'a>(mut query: BoxedQuery<'a>, binds: &[Value]) -> BoxedQuery<'a> {
    for value in binds {
        query = match value {
            Value::Null => query.bind::<Nullable<Unspecified>, _>(None::<NoValue>),
            Value::Bool(b) => query.bind::<Bool, _>(*b),
            Value::Int(i) => query.bind::<BigInt, _>(*i),
            Value::Float(f) => query.bind::<Double, _>(*f),
            Value::Bytes(b) => query.bind::<Binary, _>(b.clone()),
            Value::Date(d) => query.bind::<Date, _>(*d),
            Value::Timestamp(t) => query.bind::<Timestamp, _>(*t),
            Value::TimestampTz(t) => query.bind::<Timestamptz, _>(t.with_timezone(&Utc)),
            Value::Decimal(s) | Value::Text(s) => query.bind::<Text, _>(s.clone()),
        };
    }
    query
}

/// Type OIDs from PostgreSQL's `pg_type`; stable across versions.
mod oid {
    pub const BOOL: u32 = 16;
    pub const BYTEA: u32 = 17;
    pub const CHAR: u32 = 18;
    pub const NAME: u32 = 19;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const TEXT: u32 = 25;
    pub const OID: u32 = 26;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const BPCHAR: u32 = 1042;
    pub const VARCHAR: u32 = 1043;
    pub const DATE: u32 = 1082;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const NUMERIC: u32 = 1700;
    pub const UUID: u32 = 2950;
}

impl DecodeValue for Pg {
    fn decode_value(value: PgValue<'_>) -> deserialize::Result<Value> {
        Ok(match value.get_oid().get() {
            oid::BOOL => Value::Bool(<bool as FromSql<Bool, Pg>>::from_sql(value)?),
            oid::INT2 => Value::Int(i64::from(<i16 as FromSql<SmallInt, Pg>>::from_sql(value)?)),
            oid::INT4 => Value::Int(i64::from(<i32 as FromSql<Integer, Pg>>::from_sql(value)?)),
            oid::INT8 => Value::Int(<i64 as FromSql<BigInt, Pg>>::from_sql(value)?),
            oid::OID => Value::Int(i64::from(u32::from_be_bytes(value.as_bytes().try_into()?))),
            oid::FLOAT4 => Value::Float(f64::from(<f32 as FromSql<Float, Pg>>::from_sql(value)?)),
            oid::FLOAT8 => Value::Float(<f64 as FromSql<Double, Pg>>::from_sql(value)?),
            oid::NUMERIC => Value::Decimal(numeric_text(&<PgNumeric as FromSql<Numeric, Pg>>::from_sql(value)?)?),
            oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME | oid::CHAR => {
                Value::Text(<String as FromSql<Text, Pg>>::from_sql(value)?)
            }
            oid::UUID => Value::Text(uuid_text(value.as_bytes())?),
            oid::DATE => Value::Date(<NaiveDate as FromSql<Date, Pg>>::from_sql(value)?),
            oid::TIMESTAMP => Value::Timestamp(<NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value)?),
            oid::TIMESTAMPTZ => {
                let utc = <DateTime<Utc> as FromSql<Timestamptz, Pg>>::from_sql(value)?;
                Value::TimestampTz(utc.with_timezone(&FixedOffset::east_opt(0).ok_or("offset")?))
            }
            oid::BYTEA => Value::Bytes(<Vec<u8> as FromSql<Binary, Pg>>::from_sql(value)?),
            other => {
                return Err(format!("PostgreSQL type oid {other} is not supported; cast it to text in the query").into())
            }
        })
    }
}

/// A numeric in plain decimal notation with exactly its scale: `5.40` stays `5.40`.
fn numeric_text(n: &PgNumeric) -> Result<String, String> {
    let (negative, weight, scale, digits) = match n {
        PgNumeric::Positive { weight, scale, digits } => (false, *weight, *scale, digits),
        PgNumeric::Negative { weight, scale, digits } => (true, *weight, *scale, digits),
        PgNumeric::NaN => return Err("NaN is not a FHIR decimal".into()),
    };
    // `digits` are base-10000 groups; the first is worth 10000^weight.
    let group = |i: i32| usize::try_from(i).ok().and_then(|i| digits.get(i)).copied().unwrap_or(0);
    let weight = i32::from(weight);
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        out.push_str(&group(0).to_string());
        for i in 1..=weight {
            out.push_str(&format!("{:04}", group(i)));
        }
    }
    if scale > 0 {
        let mut fraction = String::new();
        let mut i = weight + 1;
        while fraction.len() < usize::from(scale) {
            fraction.push_str(&format!("{:04}", group(i)));
            i += 1;
        }
        fraction.truncate(usize::from(scale));
        out.push('.');
        out.push_str(&fraction);
    }
    Ok(out)
}

fn uuid_text(bytes: &[u8]) -> Result<String, String> {
    if bytes.len() != 16 {
        return Err("a uuid has 16 bytes".into());
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]))
}

/// A read-write connection for creating the demo database. Never used to serve requests.
pub struct PostgresWriter {
    session: Session,
}

impl PostgresWriter {
    pub fn connect(url: &str) -> Result<Self, SourceError> {
        let conn = PgConnection::establish(url).map_err(|e| SourceError::Unavailable(first_line(&e)))?;
        Ok(Self { session: Session::new(conn) })
    }

    /// Runs several `;`-separated statements, e.g. DDL.
    pub fn execute_batch(&mut self, sql: &str) -> Result<(), SourceError> {
        self.session.conn.batch_execute(sql).map_err(|e| classify(e, Instant::now(), Duration::MAX))
    }

    /// Runs a statement and returns its rows (all of them: the caller bounds the query).
    pub fn query(&mut self, statement: &Statement) -> Result<RowSet, SourceError> {
        load(&mut self.session, statement, usize::MAX, Duration::MAX)
    }

    /// Runs one statement with binds that returns no rows.
    pub fn execute(&mut self, statement: &Statement) -> Result<usize, SourceError> {
        bind_all(diesel::sql_query(&statement.sql).into_boxed(), &statement.binds)
            .execute(&mut self.session.conn)
            .map_err(|e| classify(e, Instant::now(), Duration::MAX))
    }

    /// Inserts rows with bound values, as few statements as the bind limit allows.
    pub fn insert(&mut self, table: &str, columns: &[&str], rows: &[Vec<Value>]) -> Result<(), SourceError> {
        dva_source_api::insert_batches(table, columns, rows, MAX_BINDS, Dialect::Postgres.into(), |sql, binds| {
            bind_all(diesel::sql_query(sql).into_boxed(), &binds)
                .execute(&mut self.session.conn)
                .map(drop)
                .map_err(|e| SourceError::Statement(first_line(&e)))
        })
    }

    /// Runs `f` in one transaction: all of it lands, or none.
    pub fn transaction<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, SourceError>) -> Result<T, SourceError> {
        self.execute_batch("BEGIN")?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numerics_keep_their_scale() {
        let n = |weight, scale, digits: &[i16]| PgNumeric::Positive { weight, scale, digits: digits.to_vec() };
        assert_eq!(numeric_text(&n(0, 2, &[5, 4000])).as_deref(), Ok("5.40"));
        assert_eq!(numeric_text(&n(-1, 2, &[500])).as_deref(), Ok("0.05"));
        assert_eq!(numeric_text(&n(1, 1, &[1, 2345, 6000])).as_deref(), Ok("12345.6"));
        assert_eq!(numeric_text(&n(1, 0, &[1])).as_deref(), Ok("10000"));
        assert_eq!(numeric_text(&n(-2, 6, &[1200])).as_deref(), Ok("0.000012"));
        let neg = PgNumeric::Negative { weight: 0, scale: 3, digits: vec![7, 1250] };
        assert_eq!(numeric_text(&neg).as_deref(), Ok("-7.125"));
        assert!(numeric_text(&PgNumeric::NaN).is_err());
    }

    #[test]
    fn client_timeouts_are_added_unless_set() {
        let limits = SourceLimits::default();
        let tail = "keepalives=1&keepalives_idle=30&keepalives_interval=10&keepalives_count=3&tcp_user_timeout=11000";
        assert_eq!(
            with_client_timeouts("postgres://h/db", &limits),
            format!("postgres://h/db?connect_timeout=2&{tail}")
        );
        assert_eq!(
            with_client_timeouts("postgres://h/db?sslmode=require", &limits),
            format!("postgres://h/db?sslmode=require&connect_timeout=2&{tail}")
        );
        assert!(with_client_timeouts("postgres://h/db?connect_timeout=9", &limits)
            .starts_with("postgres://h/db?connect_timeout=9&keepalives=1"));
        assert_eq!(
            with_client_timeouts("host=h dbname=db", &limits),
            format!("host=h dbname=db connect_timeout=2 {}", tail.replace('&', " "))
        );
    }
}
