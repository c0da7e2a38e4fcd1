//! Legacy local times -> FHIR date/dateTime/instant with the offset of a configured zone.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone};
use chrono_tz::Tz;
use dva_source_api::Value;

/// A point or day read from a legacy column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LegacyTime {
    /// Only a year (`1964`) or year and month (`1964-07`): kept at that precision.
    Partial {
        year: i32,
        month: Option<u32>,
    },
    Date(NaiveDate),
    Local(NaiveDateTime),
    WithOffset(DateTime<FixedOffset>),
}

const DATETIME_FORMATS: &[&str] = &[
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%d-%m-%Y %H:%M:%S",
    "%d-%m-%Y %H:%M",
];
const DATE_FORMATS: &[&str] = &["%Y-%m-%d", "%d-%m-%Y", "%Y%m%d"];

/// Reads the date or time a column holds, whatever way the database stored it.
pub fn read(value: &Value) -> Option<LegacyTime> {
    match value {
        Value::Date(d) => Some(LegacyTime::Date(*d)),
        Value::Timestamp(t) => Some(LegacyTime::Local(*t)),
        Value::TimestampTz(t) => Some(LegacyTime::WithOffset(*t)),
        // Legacy systems store 20240301 as a number.
        Value::Int(i) => NaiveDate::parse_from_str(&i.to_string(), "%Y%m%d").ok().map(LegacyTime::Date),
        Value::Text(s) => parse_text(s.trim()),
        _ => None,
    }
}

fn parse_text(s: &str) -> Option<LegacyTime> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(LegacyTime::WithOffset(t));
    }
    for f in DATETIME_FORMATS {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(LegacyTime::Local(t));
        }
    }
    for f in DATE_FORMATS {
        if let Ok(d) = NaiveDate::parse_from_str(s, f) {
            return Some(LegacyTime::Date(d));
        }
    }
    let bytes = s.as_bytes();
    let year = s.get(..4).filter(|y| y.bytes().all(|b| b.is_ascii_digit()))?.parse().ok()?;
    match bytes.len() {
        4 => Some(LegacyTime::Partial { year, month: None }),
        7 if bytes[4] == b'-' => {
            let month = s[5..].parse().ok().filter(|m| (1..=12).contains(m))?;
            Some(LegacyTime::Partial { year, month: Some(month) })
        }
        _ => None,
    }
}

/// The instant a local time stands for. In the autumn overlap the earlier instant is taken;
/// a time in the spring gap (which no clock showed) is moved forward by the gap.
pub fn localize(tz: Tz, local: NaiveDateTime) -> DateTime<FixedOffset> {
    let resolved = tz
        .from_local_datetime(&local)
        .earliest()
        .or_else(|| tz.from_local_datetime(&(local + Duration::hours(1))).earliest());
    match resolved {
        Some(t) => t.with_timezone(&t.offset().fix()),
        // Unreachable for real zones; fall back to the standard offset rather than fail.
        None => tz.offset_from_utc_datetime(&local).fix().from_utc_datetime(&local),
    }
}

fn format_instant(t: DateTime<FixedOffset>) -> String {
    if t.timestamp_subsec_nanos() == 0 {
        t.format("%Y-%m-%dT%H:%M:%S%:z").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
    }
}

/// FHIR `dateTime`: keeps the precision of the source (a date stays a date).
pub fn to_datetime(tz: Tz, t: LegacyTime) -> String {
    match t {
        LegacyTime::Partial { year, month: None } => format!("{year:04}"),
        LegacyTime::Partial { year, month: Some(m) } => format!("{year:04}-{m:02}"),
        LegacyTime::Date(d) => d.format("%Y-%m-%d").to_string(),
        LegacyTime::Local(l) => format_instant(localize(tz, l)),
        LegacyTime::WithOffset(t) => format_instant(t),
    }
}

/// FHIR `date`: the local calendar day.
pub fn to_date(tz: Tz, t: LegacyTime) -> String {
    match t {
        LegacyTime::WithOffset(t) => t.with_timezone(&tz).date_naive().format("%Y-%m-%d").to_string(),
        LegacyTime::Local(l) => l.date().format("%Y-%m-%d").to_string(),
        other => to_datetime(tz, other),
    }
}

/// FHIR `instant`: needs a time; a date alone is not an instant.
pub fn to_instant(tz: Tz, t: LegacyTime) -> Option<String> {
    match t {
        LegacyTime::Local(_) | LegacyTime::WithOffset(_) => Some(to_datetime(tz, t)),
        _ => None,
    }
}

/// Local midnight of a day, as a naive local time.
pub fn start_of_day(d: NaiveDate) -> NaiveDateTime {
    d.and_time(NaiveTime::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AMS: Tz = chrono_tz::Europe::Amsterdam;

    fn dt(s: &str) -> String {
        to_datetime(AMS, read(&Value::Text(s.into())).expect("parses"))
    }

    #[test]
    fn local_times_get_the_offset_of_their_season() {
        assert_eq!(dt("2024-01-15 09:30:00"), "2024-01-15T09:30:00+01:00");
        assert_eq!(dt("2024-07-15 09:30"), "2024-07-15T09:30:00+02:00");
        assert_eq!(dt("15-07-2024 09:30"), "2024-07-15T09:30:00+02:00");
    }

    #[test]
    fn dst_edges_are_resolved_not_failed() {
        // 02:30 on the last Sunday of March never happened in Amsterdam.
        assert_eq!(dt("2024-03-31 02:30:00"), "2024-03-31T03:30:00+02:00");
        // 02:30 on the last Sunday of October happened twice: the first one is taken.
        assert_eq!(dt("2024-10-27 02:30:00"), "2024-10-27T02:30:00+02:00");
    }

    #[test]
    fn precision_is_kept() {
        assert_eq!(dt("2024-02-29"), "2024-02-29");
        assert_eq!(dt("1964-07"), "1964-07");
        assert_eq!(dt("1964"), "1964");
        assert_eq!(to_datetime(AMS, read(&Value::Int(20240301)).expect("int date")), "2024-03-01");
        assert!(read(&Value::Text("31-02-2024".into())).is_none());
        assert!(read(&Value::Text("gisteren".into())).is_none());
    }
}
