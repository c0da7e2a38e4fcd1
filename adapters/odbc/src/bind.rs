//! Request values as ODBC parameters, typed so the database compares like with like.

use crate::encoding::TextEncoding;
use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use dva_source_api::{Dialect, SourceError, Value};
use odbc_api::parameter::{InputParameter, VarBinaryBox, VarCharBox, VarWCharBox, WithDataType};
use odbc_api::sys::{Date, Timestamp};
use odbc_api::{Bit, DataType, Utf16String};

pub type Parameters = Vec<Box<dyn InputParameter>>;

pub fn parameters(binds: &[Value], dialect: Dialect, encoding: TextEncoding) -> Result<Parameters, SourceError> {
    binds.iter().map(|v| parameter(v, dialect, encoding)).collect()
}

fn parameter(value: &Value, dialect: Dialect, encoding: TextEncoding) -> Result<Box<dyn InputParameter>, SourceError> {
    Ok(match value {
        Value::Null => Box::new(VarCharBox::null()),
        Value::Bool(b) => Box::new(Bit::from_bool(*b)),
        Value::Int(i) => Box::new(*i),
        Value::Float(f) => Box::new(*f),
        Value::Bytes(b) => Box::new(VarBinaryBox::from_vec(b.clone())),
        // SQLite has no date types: legacy schemas store dates as text, compared as text.
        Value::Date(_) | Value::Timestamp(_) if dialect == Dialect::Sqlite => text(&value_text(value), encoding)?,
        Value::Date(d) => Box::new(odbc_date(*d)),
        Value::Timestamp(t) => {
            Box::new(WithDataType { value: odbc_timestamp(*t), data_type: DataType::Timestamp { precision: 6 } })
        }
        Value::TimestampTz(_) | Value::Decimal(_) | Value::Text(_) => text(&value_text(value), encoding)?,
    })
}

fn value_text(value: &Value) -> String {
    value.to_text().unwrap_or_default()
}

fn text(s: &str, encoding: TextEncoding) -> Result<Box<dyn InputParameter>, SourceError> {
    if s.contains('\0') {
        // C drivers would cut the value at the NUL and compare a shorter string; no stored
        // text contains NUL, so bind a value that matches nothing.
        return Ok(Box::new(VarCharBox::null()));
    }
    Ok(match encoding {
        TextEncoding::Utf16 => Box::new(VarWCharBox::from_utf16_string(Utf16String::from_str(s))),
        narrow => match narrow.encode_narrow(s) {
            Some(bytes) => Box::new(VarCharBox::from_vec(bytes)),
            // No stored text in this encoding can equal the value; bind something that cannot either.
            None => Box::new(VarCharBox::null()),
        },
    })
}

fn odbc_date(d: NaiveDate) -> Date {
    Date { year: i16::try_from(d.year()).unwrap_or(i16::MAX), month: d.month() as u16, day: d.day() as u16 }
}

fn odbc_timestamp(t: NaiveDateTime) -> Timestamp {
    Timestamp {
        year: i16::try_from(t.year()).unwrap_or(i16::MAX),
        month: t.month() as u16,
        day: t.day() as u16,
        hour: t.hour() as u16,
        minute: t.minute() as u16,
        second: t.second() as u16,
        fraction: t.nanosecond() / 1000 * 1000,
    }
}
