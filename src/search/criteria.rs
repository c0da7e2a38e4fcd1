//! Typed search values: tokens and dates with prefixes.

use crate::diagnostics::quoted;
use crate::engine::time;
use chrono::{Duration, NaiveDate, NaiveDateTime};
use chrono_tz::Tz;

/// One search parameter's values: any of them may match (comma = OR).
#[derive(Debug, Clone, PartialEq)]
pub enum Criterion {
    Token(Vec<TokenValue>),
    Date(Vec<DateValue>),
}

/// `system|code`, `system|`, `|code` or `code`.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenValue {
    /// `None`: any system. `Some("")`: no system (`|code`).
    pub system: Option<String>,
    /// `None`: any code of the system (`system|`).
    pub code: Option<String>,
}

impl TokenValue {
    pub fn parse(raw: &str) -> Result<TokenValue, String> {
        let token = match raw.split_once('|') {
            None => TokenValue { system: None, code: Some(raw.to_owned()) },
            Some((system, code)) => {
                TokenValue { system: Some(system.to_owned()), code: (!code.is_empty()).then(|| code.to_owned()) }
            }
        };
        if token.code.as_deref().is_some_and(|c| c.contains('|'))
            || token.code.is_none() && token.system.as_deref() == Some("")
        {
            return Err(format!("`{}` is not a token (expected system|code, system|, |code or code)", quoted(raw)));
        }
        Ok(token)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatePrefix {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Sa,
    Eb,
}

/// A date search value as the local time range `[start, end)` it covers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DateValue {
    pub prefix: DatePrefix,
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
}

impl DateValue {
    /// Parses `[prefix]YYYY[-MM[-DD[Thh:mm[:ss[.fff]][Z|±hh:mm]]]]`. Values with an offset are
    /// converted to local time in `tz`, the zone the legacy database stores.
    pub fn parse(raw: &str, tz: Tz) -> Result<DateValue, String> {
        let bad = || format!("`{}` is not a FHIR date search value (e.g. ge2024-01-31)", quoted(raw));
        let (prefix, rest) = match raw.get(..2) {
            Some("eq") => (DatePrefix::Eq, &raw[2..]),
            Some("ne") => (DatePrefix::Ne, &raw[2..]),
            Some("lt") => (DatePrefix::Lt, &raw[2..]),
            Some("le") => (DatePrefix::Le, &raw[2..]),
            Some("gt") => (DatePrefix::Gt, &raw[2..]),
            Some("ge") => (DatePrefix::Ge, &raw[2..]),
            Some("sa") => (DatePrefix::Sa, &raw[2..]),
            Some("eb") => (DatePrefix::Eb, &raw[2..]),
            Some("ap") => return Err("the `ap` (approximately) date prefix is not supported".into()),
            _ => (DatePrefix::Eq, raw),
        };
        let (start, end) = parse_range(rest, tz).ok_or_else(bad)?;
        Ok(DateValue { prefix, start, end })
    }
}

fn parse_range(s: &str, tz: Tz) -> Option<(NaiveDateTime, NaiveDateTime)> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        s.get(r).filter(|t| t.bytes().all(|c| c.is_ascii_digit())).and_then(|t| t.parse::<u32>().ok())
    };
    let year = digits(0..4)? as i32;
    if b.len() == 4 {
        let start = NaiveDate::from_ymd_opt(year, 1, 1)?;
        return Some((time::start_of_day(start), time::start_of_day(NaiveDate::from_ymd_opt(year + 1, 1, 1)?)));
    }
    if b.get(4) != Some(&b'-') {
        return None;
    }
    let month = digits(5..7)?;
    if b.len() == 7 {
        let start = NaiveDate::from_ymd_opt(year, month, 1)?;
        let next = if month == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)?
        } else {
            NaiveDate::from_ymd_opt(year, month + 1, 1)?
        };
        return Some((time::start_of_day(start), time::start_of_day(next)));
    }
    if b.get(7) != Some(&b'-') {
        return None;
    }
    let day = NaiveDate::from_ymd_opt(year, month, digits(8..10)?)?;
    if b.len() == 10 {
        return Some((time::start_of_day(day), time::start_of_day(day.succ_opt()?)));
    }
    if b.get(10) != Some(&b'T') {
        return None;
    }
    // A time: split off the zone, if any.
    let time_part = &s[11..];
    let zone_at = time_part.find(['Z', '+', '-']).unwrap_or(time_part.len());
    let (clock, zone) = time_part.split_at(zone_at);
    let (naive, unit) = match clock.len() {
        5 => (
            NaiveDateTime::parse_from_str(&format!("{} {clock}", day.format("%Y-%m-%d")), "%Y-%m-%d %H:%M").ok()?,
            Duration::minutes(1),
        ),
        8 => (
            NaiveDateTime::parse_from_str(&format!("{} {clock}", day.format("%Y-%m-%d")), "%Y-%m-%d %H:%M:%S").ok()?,
            Duration::seconds(1),
        ),
        n if n > 9 && clock.as_bytes()[8] == b'.' => (
            NaiveDateTime::parse_from_str(&format!("{} {clock}", day.format("%Y-%m-%d")), "%Y-%m-%d %H:%M:%S%.f")
                .ok()?,
            Duration::milliseconds(1),
        ),
        _ => return None,
    };
    let local = match zone {
        "" => naive,
        "Z" => naive.and_utc().with_timezone(&tz).naive_local(),
        z => {
            let offset = chrono::DateTime::parse_from_str(&format!("2000-01-01T00:00:00{z}"), "%Y-%m-%dT%H:%M:%S%:z")
                .ok()?
                .offset()
                .to_owned();
            let utc = naive - Duration::seconds(i64::from(offset.local_minus_utc()));
            utc.and_utc().with_timezone(&tz).naive_local()
        }
    };
    Some((local, local + unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AMS: Tz = chrono_tz::Europe::Amsterdam;

    fn range(raw: &str) -> (String, String) {
        let v = DateValue::parse(raw, AMS).expect(raw);
        (v.start.to_string(), v.end.to_string())
    }

    #[test]
    fn precision_gives_the_range() {
        assert_eq!(range("2024"), ("2024-01-01 00:00:00".into(), "2025-01-01 00:00:00".into()));
        assert_eq!(range("ge2024-12"), ("2024-12-01 00:00:00".into(), "2025-01-01 00:00:00".into()));
        assert_eq!(range("le2024-02-29"), ("2024-02-29 00:00:00".into(), "2024-03-01 00:00:00".into()));
        assert_eq!(range("2024-02-29T10:15"), ("2024-02-29 10:15:00".into(), "2024-02-29 10:16:00".into()));
    }

    #[test]
    fn offsets_become_local_time() {
        assert_eq!(range("2024-07-01T10:00:00Z").0, "2024-07-01 12:00:00");
        assert_eq!(range("2024-01-01T10:00:00+00:00").0, "2024-01-01 11:00:00");
    }

    #[test]
    fn garbage_is_refused() {
        for bad in ["", "ge", "2024-13", "2024-02-30", "24-01-01", "2024-01-01T25:00", "ap2024", "2024-01-01'; --"] {
            assert!(DateValue::parse(bad, AMS).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens() {
        assert_eq!(
            TokenValue::parse("http://loinc.org|8480-6"),
            Ok(TokenValue { system: Some("http://loinc.org".into()), code: Some("8480-6".into()) })
        );
        assert_eq!(
            TokenValue::parse("http://loinc.org|"),
            Ok(TokenValue { system: Some("http://loinc.org".into()), code: None })
        );
        assert_eq!(TokenValue::parse("|x"), Ok(TokenValue { system: Some(String::new()), code: Some("x".into()) }));
        assert!(TokenValue::parse("a|b|c").is_err());
        assert!(TokenValue::parse("|").is_err());
    }
}
