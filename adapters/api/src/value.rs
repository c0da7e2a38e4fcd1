use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime};
use std::fmt;

/// One database value, typed as the driver reported it.
///
/// Decimals stay text so no precision is lost; dates and times stay as the database stored
/// them (legacy systems store local time without an offset); the mapping decides how to
/// present them.
#[derive(Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// An exact decimal in plain notation, e.g. `5.40`.
    Decimal(String),
    Text(String),
    Date(NaiveDate),
    Timestamp(NaiveDateTime),
    TimestampTz(DateTime<FixedOffset>),
    Bytes(Vec<u8>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as text, as a template interpolates it; `None` for null and bytes.
    pub fn to_text(&self) -> Option<String> {
        Some(match self {
            Value::Null | Value::Bytes(_) => return None,
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => format_float(*f),
            Value::Decimal(d) | Value::Text(d) => d.clone(),
            Value::Date(d) => d.format("%Y-%m-%d").to_string(),
            Value::Timestamp(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
            Value::TimestampTz(t) => t.to_rfc3339(),
        })
    }

    /// A short name of the kind of value, for error messages (never the value itself).
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Decimal(_) => "decimal",
            Value::Text(_) => "text",
            Value::Date(_) => "date",
            Value::Timestamp(_) => "timestamp",
            Value::TimestampTz(_) => "timestamp with offset",
            Value::Bytes(_) => "binary",
        }
    }
}

/// Floats print in the shortest form that reads back the same, without a trailing `.0`, so
/// `5.4` from a REAL column and `5.4` from a DECIMAL column look alike.
pub fn format_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// Debug never prints the content of text or bytes: values are patient data.
impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("Null"),
            Value::Text(s) => write!(f, "Text(<{} chars>)", s.chars().count()),
            Value::Bytes(b) => write!(f, "Bytes(<{} bytes>)", b.len()),
            other => write!(f, "{}(..)", other.kind()),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_text() {
        let v = Value::Text("999911132".into());
        assert_eq!(format!("{v:?}"), "Text(<9 chars>)");
    }

    #[test]
    fn floats_print_like_decimals() {
        assert_eq!(format_float(5.4), "5.4");
        assert_eq!(format_float(184.0), "184");
        assert_eq!(format_float(-0.25), "-0.25");
    }
}
