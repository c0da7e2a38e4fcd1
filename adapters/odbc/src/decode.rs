//! Reading a result set row by row into typed values, whatever the driver reports.

use crate::encoding::TextEncoding;
use crate::errors::classify;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};
use dva_source_api::{RowSet, SourceError, Value};
use odbc_api::sys::{Date, Timestamp};
use odbc_api::{Bit, Cursor, CursorRow, DataType, Nullable};
use std::time::Duration;

/// SQL Server's `datetimeoffset` (SQL_SS_TIMESTAMPOFFSET).
const SS_TIMESTAMPOFFSET: i16 = -155;

/// How a column is fetched.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// Every integer type, fetched as 64 bits whatever width the driver reports.
    Integer,
    Float,
    /// Exact numbers, fetched as text so no digit is lost.
    Decimal,
    Bool,
    Date,
    Timestamp,
    TimestampOffset,
    Text,
    Binary,
}

fn kind(data_type: DataType) -> Kind {
    match data_type {
        DataType::Integer | DataType::SmallInt | DataType::TinyInt | DataType::BigInt => Kind::Integer,
        DataType::Real | DataType::Float { .. } | DataType::Double => Kind::Float,
        DataType::Numeric { scale: 0, precision } | DataType::Decimal { scale: 0, precision } if precision <= 18 => {
            Kind::Integer
        }
        DataType::Numeric { .. } | DataType::Decimal { .. } => Kind::Decimal,
        DataType::Bit => Kind::Bool,
        DataType::Date => Kind::Date,
        DataType::Timestamp { .. } => Kind::Timestamp,
        DataType::Other { data_type, .. } if data_type.0 == SS_TIMESTAMPOFFSET => Kind::TimestampOffset,
        DataType::Binary { .. } | DataType::Varbinary { .. } | DataType::LongVarbinary { .. } => Kind::Binary,
        _ => Kind::Text,
    }
}

/// Reads every row of `cursor`, refusing more than `max_rows`.
pub fn read_rows(
    mut cursor: impl Cursor,
    encoding: TextEncoding,
    max_rows: usize,
    timeout: Duration,
) -> Result<RowSet, SourceError> {
    let err = |e: odbc_api::Error| classify(e, timeout);
    let count = u16::try_from(cursor.num_result_cols().map_err(err)?).unwrap_or(0);
    let mut columns = Vec::with_capacity(usize::from(count));
    let mut kinds = Vec::with_capacity(usize::from(count));
    for i in 1..=count {
        columns.push(cursor.col_name(i).map_err(err)?);
        let mut reported = kind(cursor.col_data_type(i).map_err(err)?);
        if reported == Kind::Text {
            // The SQLite ODBC driver reports a BLOB column as CHAR(255) through SQLColAttribute
            // (and then sends its bytes as `X'..'` text) but as binary through SQLDescribeCol.
            let mut description = odbc_api::ColumnDescription::default();
            cursor.describe_col(i, &mut description).map_err(err)?;
            if kind(description.data_type) == Kind::Binary {
                reported = Kind::Binary;
            }
        }
        kinds.push(reported);
    }
    let mut set = RowSet::new(columns);
    let mut buffers = Buffers::default();
    while let Some(mut row) = cursor.next_row().map_err(err)? {
        if set.rows.len() == max_rows {
            return Err(SourceError::RowCap(max_rows));
        }
        let mut values = Vec::with_capacity(kinds.len());
        for (i, kind) in (1..=count).zip(&kinds) {
            let value = read_value(&mut row, i, *kind, encoding, &mut buffers).map_err(|e| match e {
                ReadError::Odbc(e) => classify(e, timeout),
                ReadError::Decode(message) => {
                    SourceError::Decode { column: set.columns[usize::from(i - 1)].clone(), message }
                }
            })?;
            values.push(value);
        }
        set.rows.push(values);
    }
    Ok(set)
}

#[derive(Default)]
struct Buffers {
    narrow: Vec<u8>,
    wide: Vec<u16>,
}

enum ReadError {
    Odbc(odbc_api::Error),
    Decode(String),
}

impl From<odbc_api::Error> for ReadError {
    fn from(e: odbc_api::Error) -> Self {
        ReadError::Odbc(e)
    }
}

fn read_value(
    row: &mut CursorRow<'_>,
    col: u16,
    kind: Kind,
    encoding: TextEncoding,
    buffers: &mut Buffers,
) -> Result<Value, ReadError> {
    Ok(match kind {
        Kind::Integer => {
            let mut v = Nullable::<i64>::null();
            row.get_data(col, &mut v)?;
            v.into_opt().map_or(Value::Null, Value::Int)
        }
        Kind::Float => {
            let mut v = Nullable::<f64>::null();
            row.get_data(col, &mut v)?;
            v.into_opt().map_or(Value::Null, Value::Float)
        }
        Kind::Bool => {
            let mut v = Nullable::<Bit>::null();
            row.get_data(col, &mut v)?;
            v.into_opt().map_or(Value::Null, |b| Value::Bool(b.as_bool()))
        }
        Kind::Date => {
            let mut v = Nullable::<Date>::null();
            row.get_data(col, &mut v)?;
            match v.into_opt() {
                None => Value::Null,
                Some(d) => Value::Date(date(d).ok_or_else(|| ReadError::Decode("not a valid date".into()))?),
            }
        }
        Kind::Timestamp => {
            let mut v = Nullable::<Timestamp>::null();
            row.get_data(col, &mut v)?;
            match v.into_opt() {
                None => Value::Null,
                Some(t) => {
                    Value::Timestamp(timestamp(t).ok_or_else(|| ReadError::Decode("not a valid timestamp".into()))?)
                }
            }
        }
        Kind::Binary => {
            if row.get_binary(col, &mut buffers.narrow)? {
                Value::Bytes(buffers.narrow.clone())
            } else {
                Value::Null
            }
        }
        Kind::Decimal => match read_text(row, col, TextEncoding::Utf8, buffers)? {
            None => Value::Null,
            Some(text) => {
                Value::Decimal(plain_decimal(&text).ok_or_else(|| ReadError::Decode("not a decimal".into()))?)
            }
        },
        Kind::TimestampOffset => match read_text(row, col, encoding, buffers)? {
            None => Value::Null,
            Some(text) => DateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S%.f %:z")
                .map(Value::TimestampTz)
                .map_err(|_| ReadError::Decode("not a timestamp with offset".into()))?,
        },
        Kind::Text => read_text(row, col, encoding, buffers)?.map_or(Value::Null, Value::Text),
    })
}

fn read_text(
    row: &mut CursorRow<'_>,
    col: u16,
    encoding: TextEncoding,
    buffers: &mut Buffers,
) -> Result<Option<String>, ReadError> {
    if encoding == TextEncoding::Utf16 {
        if !row.get_wide_text(col, &mut buffers.wide)? {
            return Ok(None);
        }
        return String::from_utf16(&buffers.wide)
            .map(Some)
            .map_err(|_| ReadError::Decode("the driver returned invalid UTF-16".into()));
    }
    if !row.get_text(col, &mut buffers.narrow)? {
        return Ok(None);
    }
    encoding
        .decode_narrow(&buffers.narrow)
        .map(Some)
        .ok_or_else(|| ReadError::Decode(format!("text is not valid {encoding:?}; set `encoding` for this source")))
}

fn date(d: Date) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
}

fn timestamp(t: Timestamp) -> Option<NaiveDateTime> {
    let day = NaiveDate::from_ymd_opt(i32::from(t.year), u32::from(t.month), u32::from(t.day))?;
    // ODBC fractions are nanoseconds.
    let time = NaiveTime::from_hms_nano_opt(u32::from(t.hour), u32::from(t.minute), u32::from(t.second), t.fraction)?;
    Some(day.and_time(time))
}

/// Drivers write exact numbers as `5.40`, ` 5.40`, `.5` or `-.5`; the connector wants plain
/// notation with a leading digit.
fn plain_decimal(text: &str) -> Option<String> {
    let t = text.trim();
    let (sign, digits) = t.strip_prefix('-').map_or(("", t), |rest| ("-", rest));
    let digits = if digits.starts_with('.') { format!("0{digits}") } else { digits.to_owned() };
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next()?;
    let valid = !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && parts.next().is_none_or(|f| f.bytes().all(|b| b.is_ascii_digit()));
    valid.then(|| format!("{sign}{digits}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_always_64_bit() {
        assert_eq!(kind(DataType::Integer), Kind::Integer);
        assert_eq!(kind(DataType::SmallInt), Kind::Integer);
        assert_eq!(kind(DataType::Numeric { precision: 10, scale: 0 }), Kind::Integer);
        assert_eq!(kind(DataType::Numeric { precision: 38, scale: 0 }), Kind::Decimal);
        assert_eq!(kind(DataType::Decimal { precision: 10, scale: 2 }), Kind::Decimal);
        assert_eq!(kind(DataType::Real), Kind::Float);
    }

    #[test]
    fn decimals_keep_every_digit() {
        assert_eq!(plain_decimal(" 5.40").as_deref(), Some("5.40"));
        assert_eq!(plain_decimal("-.5").as_deref(), Some("-0.5"));
        assert_eq!(plain_decimal("12345678901234567890.123456789").as_deref(), Some("12345678901234567890.123456789"));
        assert_eq!(plain_decimal("1e5"), None);
        assert_eq!(plain_decimal(""), None);
    }

    #[test]
    fn timestamps_keep_fractions() {
        let t = Timestamp { year: 2024, month: 2, day: 29, hour: 13, minute: 5, second: 9, fraction: 120_000_000 };
        assert_eq!(timestamp(t).map(|t| t.to_string()).as_deref(), Some("2024-02-29 13:05:09.120"));
        assert!(timestamp(Timestamp { month: 13, ..t }).is_none());
    }
}
