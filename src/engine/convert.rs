//! Column values through filters into FHIR JSON values.

use super::time;
use super::EvalContext;
use crate::mapping::Filter;
use chrono::Datelike;
use dva_source_api::{value::format_float, Value};
use serde_json::Value as Json;

/// The outcome of a column through its filters: a database value or, after `map`, FHIR.
pub enum Converted {
    Value(Value),
    Fhir(Json),
}

/// Applies `filters` in order; `column` gives the row's other values (a precision column).
/// `Err` carries a problem message (it may quote the value).
pub fn apply(
    value: &Value,
    filters: &[Filter],
    column: &dyn Fn(usize) -> Value,
    cx: &EvalContext<'_>,
) -> Result<Option<Converted>, String> {
    let mut current = normalize(value);
    for filter in filters {
        let Some(v) = current else { return Ok(None) };
        current = match filter {
            Filter::Map(table) => {
                let table = &cx.code_tables[*table];
                let code = v.to_text().unwrap_or_default();
                return match table.lookup(code.trim()) {
                    Some(fhir) => Ok(Some(Converted::Fhir(fhir.clone()))),
                    None => Err(format!("code `{}` is not in code table `{}`", code.trim(), table.name)),
                };
            }
            Filter::DateTime(precision) => {
                let t = at_precision(read_time(&v)?, precision.map(column))?;
                Some(Value::Text(time::to_datetime(cx.time_zone, t)))
            }
            Filter::Date(precision) => {
                let t = at_precision(read_time(&v)?, precision.map(column))?;
                Some(Value::Text(time::to_date(cx.time_zone, t)))
            }
            Filter::Instant => Some(Value::Text(
                time::to_instant(cx.time_zone, read_time(&v)?)
                    .ok_or("an instant needs a time, the column holds only a date")?,
            )),
            Filter::Decimal => Some(decimal(&v)?),
            Filter::Integer => Some(integer(&v)?),
            Filter::String => v.to_text().map(Value::Text),
            Filter::Boolean => Some(Value::Bool(boolean(&v)?)),
            Filter::Xhtml => Some(Value::Text(xhtml_div(&v.to_text().unwrap_or_default()))),
            Filter::Base64 => Some(Value::Text(match &v {
                Value::Bytes(b) => base64(b),
                Value::Text(s) => base64(s.as_bytes()),
                other => return Err(format!("a {} value is not binary content or text", other.kind())),
            })),
        };
    }
    Ok(current.map(Converted::Value))
}

/// Text as a FHIR narrative: escaped, so that nothing in the source becomes markup, with its
/// line breaks kept. Quotes need no escaping in element content (and XML readers would write
/// them back plain).
fn xhtml_div(text: &str) -> String {
    let mut out = String::from("<div xmlns=\"http://www.w3.org/1999/xhtml\">");
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.push_str("<br/>");
        }
        for c in line.chars() {
            match c {
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '&' => out.push_str("&amp;"),
                c if c.is_control() => {}
                c => out.push(c),
            }
        }
    }
    out.push_str("</div>");
    out
}

/// Trims text (legacy CHAR columns are padded) and treats empty text as null.
fn normalize(value: &Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::Text(s) => {
            let t = s.trim();
            (!t.is_empty()).then(|| Value::Text(t.to_owned()))
        }
        other => Some(other.clone()),
    }
}

/// A time cut to what the precision column says is known of it: J the year, M the month, D the
/// day; T or null all of it. Never finer than the value itself.
fn at_precision(t: time::LegacyTime, precision: Option<Value>) -> Result<time::LegacyTime, String> {
    let Some(code) = precision.and_then(|p| p.to_text()).map(|p| p.trim().to_uppercase()) else { return Ok(t) };
    let day = match t {
        time::LegacyTime::Date(d) => Some(d),
        time::LegacyTime::Local(l) => Some(l.date()),
        time::LegacyTime::WithOffset(o) => Some(o.date_naive()),
        time::LegacyTime::Partial { .. } => None,
    };
    Ok(match (code.as_str(), day) {
        ("" | "T", _) | (_, None) => t,
        ("D", Some(d)) => time::LegacyTime::Date(d),
        ("M", Some(d)) => time::LegacyTime::Partial { year: d.year(), month: Some(d.month()) },
        ("J", Some(d)) => time::LegacyTime::Partial { year: d.year(), month: None },
        (other, _) => return Err(format!("precision `{other}` is not J, M, D or T")),
    })
}

fn read_time(v: &Value) -> Result<time::LegacyTime, String> {
    time::read(v)
        .ok_or_else(|| format!("{} value `{}` is not a date or time", v.kind(), v.to_text().unwrap_or_default()))
}

fn decimal(v: &Value) -> Result<Value, String> {
    match v {
        Value::Int(_) | Value::Float(_) | Value::Decimal(_) => Ok(v.clone()),
        Value::Text(s) => {
            // Dutch systems write 5,4 for 5.4.
            let s = s.replace(',', ".");
            if is_decimal(&s) {
                Ok(Value::Decimal(s))
            } else {
                Err(format!("text `{s}` is not a number"))
            }
        }
        other => Err(format!("a {} value is not a number", other.kind())),
    }
}

fn is_decimal(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    let mut parts = body.splitn(2, '.');
    let int = parts.next().unwrap_or_default();
    let frac = parts.next();
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

fn integer(v: &Value) -> Result<Value, String> {
    match v {
        Value::Int(_) => Ok(v.clone()),
        Value::Bool(b) => Ok(Value::Int(i64::from(*b))),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Value::Int(*f as i64)),
        Value::Text(s) | Value::Decimal(s) => {
            let s = s.trim();
            let whole = s.strip_suffix(".0").unwrap_or(s);
            whole.parse::<i64>().map(Value::Int).map_err(|_| format!("`{s}` is not a whole number"))
        }
        other => Err(format!("a {} value is not a whole number", other.kind())),
    }
}

fn boolean(v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Int(i) => Ok(*i != 0),
        Value::Text(s) => match s.trim().to_ascii_uppercase().as_str() {
            "J" | "JA" | "Y" | "YES" | "T" | "TRUE" | "1" | "W" | "WAAR" => Ok(true),
            "N" | "NEE" | "NO" | "F" | "FALSE" | "0" | "O" | "ONWAAR" => Ok(false),
            other => Err(format!("`{other}` is not a yes/no value")),
        },
        other => Err(format!("a {} value is not a yes/no value", other.kind())),
    }
}

/// A value as the JSON it becomes when it is the whole template string.
pub fn to_json(v: Value) -> Option<Json> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => Json::Bool(b),
        Value::Int(i) => Json::from(i),
        Value::Float(f) if f.is_finite() => number(&format_float(f))?,
        Value::Float(_) => return None,
        Value::Decimal(d) => number(&d)?,
        Value::Bytes(b) => Json::String(base64(&b)),
        other => Json::String(other.to_text()?),
    })
}

/// A JSON number with exactly the digits given (FHIR decimals keep their precision).
fn number(text: &str) -> Option<Json> {
    serde_json::from_str::<serde_json::Number>(text).ok().map(Json::Number)
}

/// The text of a value inside a larger string.
pub fn to_text(c: Converted) -> Result<Option<String>, String> {
    match c {
        Converted::Value(v) => Ok(v.to_text().or_else(|| match v {
            Value::Bytes(b) => Some(base64(&b)),
            _ => None,
        })),
        Converted::Fhir(Json::String(s)) => Ok(Some(s)),
        Converted::Fhir(Json::Null) => Ok(None),
        Converted::Fhir(Json::Object(_) | Json::Array(_)) => {
            Err("a code table yielding objects cannot be used inside a text".into())
        }
        Converted::Fhir(other) => Ok(Some(other.to_string())),
    }
}

/// Standard base64 with padding (FHIR `base64Binary`).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Narrative text is escaped: the source never adds markup to what a PGO renders.
    #[test]
    fn xhtml_escapes_the_source() {
        assert_eq!(
            xhtml_div("RR <150/95> & \"pols\"\nregulair\u{7}"),
            "<div xmlns=\"http://www.w3.org/1999/xhtml\">RR &lt;150/95&gt; &amp; \"pols\"<br/>regulair</div>"
        );
        assert!(!xhtml_div("<script>alert(1)</script>").contains("<script>"));
    }

    /// A date kept with its precision is served at that precision, never finer than the
    /// value and never with a time the source does not know.
    #[test]
    fn a_precision_column_cuts_a_date_to_what_is_known() {
        let tables = Vec::new();
        let cx = EvalContext { time_zone: chrono_tz::Europe::Amsterdam, code_tables: &tables };
        let at = chrono::NaiveDate::from_ymd_opt(1980, 6, 15).and_then(|d| d.and_hms_opt(9, 30, 0)).expect("time");
        let served = |precision: Value, filter: fn(Option<usize>) -> Filter| {
            let column = move |_: usize| precision.clone();
            match apply(&Value::Timestamp(at), &[filter(Some(0))], &column, &cx) {
                Ok(Some(Converted::Value(Value::Text(t)))) => Ok(t),
                Ok(_) => Err("no text".to_owned()),
                Err(e) => Err(e),
            }
        };
        assert_eq!(served("J".into(), Filter::DateTime), Ok("1980".to_owned()));
        assert_eq!(served("M".into(), Filter::DateTime), Ok("1980-06".to_owned()));
        assert_eq!(served("D".into(), Filter::DateTime), Ok("1980-06-15".to_owned()));
        assert_eq!(served("T".into(), Filter::DateTime), Ok("1980-06-15T09:30:00+02:00".to_owned()));
        assert_eq!(served(Value::Null, Filter::DateTime), Ok("1980-06-15T09:30:00+02:00".to_owned()));
        assert_eq!(served("J".into(), Filter::Date), Ok("1980".to_owned()));
        assert!(served("X".into(), Filter::DateTime).is_err_and(|e| e.contains("not J, M, D or T")));
        // A year alone stays a year whatever the precision column claims.
        let year = Value::Text("1980".into());
        let column = |_: usize| Value::from("D");
        assert!(matches!(
            apply(&year, &[Filter::DateTime(Some(0))], &column, &cx),
            Ok(Some(Converted::Value(Value::Text(t)))) if t == "1980"
        ));
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn dutch_decimal_comma() {
        assert_eq!(decimal(&Value::Text("5,40".into())), Ok(Value::Decimal("5.40".into())));
        assert!(decimal(&Value::Text("<5".into())).is_err());
        assert_eq!(to_json(Value::Decimal("5.40".into())).map(|j| j.to_string()), Some("5.40".into()));
    }

    #[test]
    fn base64_filter_takes_bytes_and_text() {
        let cx = EvalContext { time_zone: chrono_tz::Europe::Amsterdam, code_tables: &[] };
        let run = |v: Value| match apply(&v, &[Filter::Base64], &|_| Value::Null, &cx) {
            Ok(Some(Converted::Value(Value::Text(t)))) => Ok(t),
            Ok(_) => Err("no text".to_owned()),
            Err(e) => Err(e),
        };
        assert_eq!(run(Value::Bytes(b"%PDF-".to_vec())), Ok("JVBERi0=".to_owned()));
        assert_eq!(run(Value::Text("foo".into())), Ok("Zm9v".to_owned()));
        assert!(run(Value::Int(1)).is_err());
    }

    #[test]
    fn legacy_booleans() {
        assert_eq!(boolean(&Value::Text("J".into())), Ok(true));
        assert_eq!(boolean(&Value::Text(" n ".into())), Ok(false));
        assert!(boolean(&Value::Text("misschien".into())).is_err());
    }
}
