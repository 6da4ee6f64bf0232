//! Calendar quotas, with no tower types: UTC days, API Gateway's `DAY` /
//! `WEEK` / `MONTH` periods and what a period allows.
//!
//! Dates use Howard Hinnant's `days_from_civil` / `civil_from_days`
//! (public-domain, proleptic Gregorian, exact for every `i32` year): twenty
//! lines checked below against a day-by-day walk, rather than a date crate
//! for three conversions.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::calendar::{civil_from_days, days_from_civil};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ConfigError;

/// A UTC calendar day, as days since 1970-01-01. Displays and parses as
/// `YYYY-MM-DD`, as API Gateway's usage reports do.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(i64);

impl Day {
    /// The day `unix_time` falls in (UTC).
    #[must_use]
    pub fn from_unix(unix_time: Duration) -> Self {
        Self(i64::try_from(unix_time.as_secs() / 86_400).unwrap_or(i64::MAX))
    }

    /// `year-month-day`, or `None` if there is no such date.
    #[must_use]
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Self> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Self(days_from_civil(year, month, day)))
    }

    /// Days since 1970-01-01.
    #[must_use]
    pub fn days_since_epoch(self) -> i64 {
        self.0
    }

    /// The day `days` since 1970-01-01.
    #[must_use]
    pub fn from_days_since_epoch(days: i64) -> Self {
        Self(days)
    }

    /// (year, month, day).
    #[must_use]
    pub fn ymd(self) -> (i32, u32, u32) {
        civil_from_days(self.0)
    }

    /// The next day.
    #[must_use]
    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }

    /// Midnight UTC at the start of this day, as Unix time (zero before 1970).
    #[must_use]
    pub fn start_unix(self) -> Duration {
        Duration::from_secs(u64::try_from(self.0).unwrap_or(0).saturating_mul(86_400))
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl fmt::Debug for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Day({self})")
    }
}

impl FromStr for Day {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let invalid = || ConfigError::new(format!("`{s}` is not a YYYY-MM-DD date"));
        let mut parts = s.splitn(3, '-');
        let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid());
        };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return Err(invalid());
        }
        let number = |p: &str| p.parse::<u32>().map_err(|_| invalid());
        let year = i32::try_from(number(y)?).map_err(|_| invalid())?;
        Self::from_ymd(year, number(m)?, number(d)?).ok_or_else(invalid)
    }
}

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

fn is_leap(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A quota period. Periods are calendar periods in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QuotaPeriod {
    /// 00:00:00 to 24:00:00 UTC.
    Day,
    /// Monday 00:00 UTC to the next Monday (ISO 8601 weeks). API Gateway
    /// does not document its anchor; old docs hint at Sunday, emulators use
    /// Monday.
    Week,
    /// The 1st, 00:00 UTC, to the 1st of the next month.
    Month,
}

impl QuotaPeriod {
    /// The first day of the period that contains `day`.
    #[must_use]
    pub fn start(self, day: Day) -> Day {
        match self {
            Self::Day => day,
            // 1970-01-01 was a Thursday: three days after a Monday.
            Self::Week => Day(day.0 - (day.0 + 3).rem_euclid(7)),
            Self::Month => {
                let (y, m, _) = day.ymd();
                Day(days_from_civil(y, m, 1))
            }
        }
    }

    /// The first day of the next period (the end, exclusive).
    #[must_use]
    pub fn end(self, day: Day) -> Day {
        match self {
            Self::Day => Day(day.0 + 1),
            Self::Week => Day(self.start(day).0 + 7),
            Self::Month => {
                let (y, m, _) = day.ymd();
                let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                Day(days_from_civil(y, m, 1))
            }
        }
    }
}

/// A quota in API Gateway's words: `limit` requests per `period`, with
/// `offset` requests subtracted from the limit of the first period (API
/// Gateway's current `QuotaSettings.offset`: a plan that starts mid-month
/// can get a smaller first month).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuotaSettings {
    /// Requests per period.
    pub limit: u64,
    /// `DAY`, `WEEK` or `MONTH`.
    pub period: QuotaPeriod,
    /// Requests subtracted from the first period's limit. Default: 0.
    #[serde(default)]
    pub offset: u64,
}

impl QuotaSettings {
    /// `limit` per `period`, no offset.
    #[must_use]
    pub fn new(limit: u64, period: QuotaPeriod) -> Self {
        Self {
            limit,
            period,
            offset: 0,
        }
    }

    /// Subtracts `offset` requests from the first period's limit.
    #[must_use]
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.offset > self.limit {
            return Err(ConfigError::new(format!(
                "quota offset {} exceeds its limit {}",
                self.offset, self.limit
            )));
        }
        Ok(())
    }

    /// The limit of the period that starts on `period_start`, for a plan
    /// whose first period starts on `first_period`.
    #[must_use]
    pub fn limit_of(&self, period_start: Day, first_period: Day) -> u64 {
        if period_start == first_period {
            self.limit.saturating_sub(self.offset)
        } else {
            self.limit
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_bounds_match_the_calendar() {
        use crate::usage_plan::layer::PeriodMemo;
        for period in [QuotaPeriod::Day, QuotaPeriod::Week, QuotaPeriod::Month] {
            let memo = PeriodMemo::new();
            // Forwards over leap years and before the epoch, each day twice
            // (the second read is the remembered one), then backwards.
            let days: Vec<i64> = (-800..1200).chain((-40..40).rev()).collect();
            for days_since_epoch in days {
                let day = Day::from_days_since_epoch(days_since_epoch);
                let expected = (period.start(day), period.end(day));
                assert_eq!(memo.bounds(period, day), expected, "{period:?} {day}");
                assert_eq!(memo.bounds(period, day), expected, "{period:?} {day}");
            }
        }
    }

    #[test]
    fn civil_conversions_match_a_day_by_day_walk() {
        let mut day = Day::from_ymd(1900, 1, 1).unwrap();
        let (mut y, mut m, mut d) = (1900, 1, 1);
        for _ in 0..(366 * 300) {
            assert_eq!(day.ymd(), (y, m, d));
            assert_eq!(Day::from_ymd(y, m, d), Some(day));
            day = day.next();
            d += 1;
            if d > days_in_month(y, m) {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

    #[test]
    fn epoch_and_known_dates() {
        assert_eq!(Day::from_ymd(1970, 1, 1).unwrap().days_since_epoch(), 0);
        assert_eq!(
            Day::from_unix(Duration::from_secs(1_700_000_000)).to_string(),
            "2023-11-14"
        );
        assert_eq!(
            "2024-02-29".parse::<Day>().unwrap().to_string(),
            "2024-02-29"
        );
        assert!("2023-02-29".parse::<Day>().is_err());
        assert!("2023-2-1".parse::<Day>().is_err());
    }

    #[test]
    fn week_starts_on_monday_and_month_on_the_first() {
        let day: Day = "2026-11-26".parse().unwrap(); // a Thursday
        assert_eq!(QuotaPeriod::Week.start(day).to_string(), "2026-11-23");
        assert_eq!(QuotaPeriod::Week.end(day).to_string(), "2026-11-30");
        assert_eq!(QuotaPeriod::Month.start(day).to_string(), "2026-11-01");
        assert_eq!(QuotaPeriod::Month.end(day).to_string(), "2026-12-01");
        let december: Day = "2026-12-31".parse().unwrap();
        assert_eq!(QuotaPeriod::Month.end(december).to_string(), "2027-01-01");
        assert_eq!(QuotaPeriod::Day.end(december).to_string(), "2027-01-01");
        let monday: Day = "2026-11-23".parse().unwrap();
        assert_eq!(QuotaPeriod::Week.start(monday), monday);
    }

    #[test]
    fn offset_only_reduces_the_first_period() {
        let quota = QuotaSettings::new(100, QuotaPeriod::Month).offset(30);
        let first: Day = "2026-11-01".parse().unwrap();
        assert_eq!(quota.limit_of(first, first), 70);
        assert_eq!(quota.limit_of("2026-12-01".parse().unwrap(), first), 100);
        assert!(
            QuotaSettings::new(1, QuotaPeriod::Day)
                .offset(2)
                .validate()
                .is_err()
        );
    }
}
