//! Time as Kat compares it: closed intervals of milliseconds since the Unix epoch, UTC.
//!
//! A feature's date ("2024-10-03") or month ("2024-10") covers the whole day or month, so that a
//! user's `datetime=2024-10-03T12:00:00Z` still finds an event dated that day.
//!
//! ```
//! use kat::temporal::{Interval, parse_feature_date};
//! let day = parse_feature_date("2024-10-03").unwrap();
//! assert!(day.intersects(&Interval::instant(day.start + 3_600_000)));
//! ```

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, TimeZone, Utc};

/// A closed interval `[start, end]` in milliseconds since the epoch; open ends are
/// `i64::MIN` / `i64::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub start: i64,
    pub end: i64,
}

impl Interval {
    pub const ALL: Interval = Interval {
        start: i64::MIN,
        end: i64::MAX,
    };

    pub fn instant(t: i64) -> Self {
        Interval { start: t, end: t }
    }

    /// Both ends included, as OGC API - Features asks.
    pub fn intersects(&self, other: &Interval) -> bool {
        self.start <= other.end && other.start <= self.end
    }
}

const DAY_MS: i64 = 86_400_000;

fn date_start_ms(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_millis()
}

/// A whole day, `YYYY-MM-DD`.
pub fn parse_day(s: &str) -> Option<Interval> {
    if s.len() != 10 {
        return None;
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    let start = date_start_ms(d);
    Some(Interval {
        start,
        end: start + DAY_MS - 1,
    })
}

/// A whole month, `YYYY-MM`.
pub fn parse_month(s: &str) -> Option<Interval> {
    if s.len() != 7 {
        return None;
    }
    let d = NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").ok()?;
    let next = if d.month() == 12 {
        NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)?
    };
    Some(Interval {
        start: date_start_ms(d),
        end: date_start_ms(next) - 1,
    })
}

/// An RFC 3339 date-time (with `T` or a space, and `Z` or an offset).
pub fn parse_instant(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc).timestamp_millis())
}

/// A feature's own date: a day, a month, or a full date-time.
pub fn parse_feature_date(s: &str) -> Option<Interval> {
    parse_day(s)
        .or_else(|| parse_month(s))
        .or_else(|| parse_instant(s).map(Interval::instant))
}

/// Formats an instant as RFC 3339 in UTC, to the second.
pub fn format_instant(ms: i64) -> String {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Secs, true),
        None => String::from("1970-01-01T00:00:00Z"),
    }
}

/// Now, as RFC 3339 in UTC.
pub fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_covers_its_last_millisecond() {
        let m = parse_month("2024-12").unwrap();
        assert_eq!(format_instant(m.start), "2024-12-01T00:00:00Z");
        assert_eq!(m.end + 1, parse_day("2025-01-01").unwrap().start);
    }

    #[test]
    fn impossible_dates_are_refused() {
        assert!(parse_day("2024-02-30").is_none());
        assert!(parse_month("2024-13").is_none());
        assert!(parse_instant("2024-10-03T25:00:00Z").is_none());
    }
}
