//! Column types through ODBC and libpq: 64-bit integers, floats, exact decimals, dates,
//! timestamps with and without offset, text in the database's own encoding (a Windows-1252
//! column too) and binary columns arrive as the same values.

use crate::backends::{server_database, MARIADB_ODBC, POSTGRES_ODBC, POSTGRES_SERVER};
use chrono::{NaiveDate, NaiveDateTime};
use dva_source_api::{Dialect, RowSet, RowSource, SourceLimits, Statement, Value};
use dva_source_diesel::{PostgresSource, PostgresWriter};
use dva_source_odbc::{OdbcOptions, OdbcSource, OdbcWriter, TextEncoding};

const BIG: i64 = 9_007_199_254_740_993; // 2^53 + 1: lost by anything that passes through a double
const DECIMAL: &str = "12345678901234567890.0123456780";
const DUTCH: &str = "Renée € “aanhalingstekens” ĳ";
const LATIN: &str = "Renée € geïnd";

fn ts() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2024, 2, 29).and_then(|d| d.and_hms_micro_opt(13, 5, 9, 123_456)).expect("timestamp")
}

fn read(source: &dyn RowSource, sql: &str) -> RowSet {
    source.query(&Statement { sql: sql.into(), binds: vec![] }).expect("query")
}

fn odbc(connection_string: String, dialect: Dialect, encoding: TextEncoding) -> OdbcSource {
    OdbcSource::open(OdbcOptions { connection_string, dialect, encoding, init_sql: vec![] }, SourceLimits::default())
}

fn column<'a>(rows: &'a RowSet, name: &str) -> &'a Value {
    let i = rows.column_index(name).unwrap_or_else(|| panic!("no column {name} in {:?}", rows.columns));
    &rows.rows[0][i]
}

fn check_common(backend: &str, rows: &RowSet) {
    assert_eq!(column(rows, "big"), &Value::Int(BIG), "{backend}");
    assert_eq!(column(rows, "small"), &Value::Int(-7), "{backend}");
    assert_eq!(column(rows, "f"), &Value::Float(0.1), "{backend}");
    assert_eq!(column(rows, "d"), &Value::Decimal(DECIMAL.into()), "{backend}");
    assert_eq!(column(rows, "dt"), &Value::Date(NaiveDate::from_ymd_opt(2024, 2, 29).expect("date")), "{backend}");
    assert_eq!(column(rows, "ts"), &Value::Timestamp(ts()), "{backend}");
    assert_eq!(column(rows, "t"), &Value::Text(DUTCH.into()), "{backend}");
    assert_eq!(column(rows, "b"), &Value::Bytes(vec![0, 255, 16]), "{backend}");
    assert_eq!(column(rows, "n"), &Value::Null, "{backend}");
}

#[test]
fn postgresql_types_through_libpq_and_odbc() {
    let db = server_database();
    let url = format!("{POSTGRES_SERVER}/{db}");
    let mut w = PostgresWriter::connect(&url).expect("connect");
    w.execute_batch(&format!(
        "DROP TABLE IF EXISTS typed; CREATE TABLE typed (big BIGINT, small SMALLINT, f DOUBLE PRECISION, \
         d NUMERIC(30,10), dt DATE, ts TIMESTAMP(6), tstz TIMESTAMPTZ, t TEXT, b BYTEA, n INTEGER); \
         INSERT INTO typed VALUES ({BIG}, -7, 0.1, {DECIMAL}, '2024-02-29', '2024-02-29 13:05:09.123456', \
         '2024-02-29 13:05:09+01', '{DUTCH}', '\\x00ff10', NULL)"
    ))
    .expect("create typed");
    let select = "SELECT big, small, f, d, dt, ts, tstz, t, b, n FROM typed";
    let native = read(&PostgresSource::open(&url, SourceLimits::default()), select);
    check_common("postgresql (diesel)", &native);
    let Value::TimestampTz(tz) = column(&native, "tstz") else { panic!("tstz: {:?}", column(&native, "tstz")) };
    assert_eq!(tz.to_rfc3339(), "2024-02-29T12:05:09+00:00");
    let through_odbc =
        read(&odbc(format!("{POSTGRES_ODBC}Database={db};"), Dialect::Postgres, TextEncoding::Utf16), select);
    check_common("postgresql (odbc)", &through_odbc);
}

#[test]
fn mariadb_types_and_a_windows_1252_column_through_odbc() {
    let db = server_database();
    let connection_string = format!("{MARIADB_ODBC}Database={db};");
    let mut w = OdbcWriter::connect(&connection_string, Dialect::Mysql).expect("connect");
    w.execute_batch(&format!(
        "DROP TABLE IF EXISTS typed; CREATE TABLE typed (big BIGINT, small SMALLINT, f DOUBLE, d DECIMAL(30,10), \
         dt DATE, ts DATETIME(6), t VARCHAR(80) CHARACTER SET utf8mb4, legacy VARCHAR(80) CHARACTER SET latin1, \
         b VARBINARY(10), n INTEGER); \
         INSERT INTO typed VALUES ({BIG}, -7, 0.1, {DECIMAL}, '2024-02-29', '2024-02-29 13:05:09.123456', \
         '{DUTCH}', '{LATIN}', X'00FF10', NULL)"
    ))
    .expect("create typed");
    let select = "SELECT big, small, f, d, dt, ts, t, legacy, b, n FROM typed";
    // Wide functions: the driver converts the latin1 (MySQL's name for Windows-1252) column.
    let wide = read(&odbc(connection_string.clone(), Dialect::Mysql, TextEncoding::Utf16), select);
    check_common("mariadb (odbc)", &wide);
    assert_eq!(column(&wide, "legacy"), &Value::Text(LATIN.into()));
    // Narrow functions with the connection in latin1: the bytes come as stored, and the source's
    // `encoding = "windows-1252"` decodes them.
    let narrow = read(
        &odbc(format!("{connection_string}CHARSET=latin1;"), Dialect::Mysql, TextEncoding::Windows1252),
        "SELECT legacy FROM typed",
    );
    assert_eq!(column(&narrow, "legacy"), &Value::Text(LATIN.into()));
}
