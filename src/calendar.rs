//! Calendar arithmetic in UTC, and API Gateway's request time in Common Log
//! Format (`04/Mar/2020:19:15:17 +0000`).
//!
//! Howard Hinnant's `days_from_civil` / `civil_from_days` rather than a date
//! crate: quotas, events and access logs need these forty lines, not a
//! dependency. Shared by every block that writes or counts dates.

#[cfg(any(feature = "events", feature = "access-log"))]
use std::fmt::Write as _;
#[cfg(any(feature = "events", feature = "access-log"))]
use std::time::Duration;

#[cfg(any(feature = "events", feature = "access-log"))]
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Unix time as `dd/Mon/yyyy:HH:MM:SS +0000`.
///
/// Digits are pushed by hand (this runs once per event and per access-log
/// line; `write!` cost more than the calendar arithmetic).
#[cfg(any(feature = "events", feature = "access-log"))]
pub(crate) fn common_log_format(unix: Duration) -> String {
    let secs = i64::try_from(unix.as_secs()).unwrap_or(i64::MAX);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let month = MONTHS[usize::try_from(month - 1).unwrap_or(0)];
    let mut out = String::with_capacity(26);
    let two = |out: &mut String, n: i64| {
        out.push(char::from(b'0' + u8::try_from(n / 10 % 10).unwrap_or(0)));
        out.push(char::from(b'0' + u8::try_from(n % 10).unwrap_or(0)));
    };
    two(&mut out, i64::from(day));
    out.push('/');
    out.push_str(month);
    out.push('/');
    if (0..=9999).contains(&year) {
        two(&mut out, i64::from(year) / 100);
        two(&mut out, i64::from(year) % 100);
    } else {
        let _ = write!(out, "{year:04}");
    }
    for n in [rem / 3600, rem % 3600 / 60, rem % 60] {
        out.push(':');
        two(&mut out, n);
    }
    out.push_str(" +0000");
    out
}

/// Unix time in milliseconds, as `requestTimeEpoch` / `timeEpoch`.
#[cfg(feature = "events")]
pub(crate) fn epoch_millis(unix: Duration) -> i64 {
    i64::try_from(unix.as_millis()).unwrap_or(i64::MAX)
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), proleptic
/// Gregorian. Years beyond `i32` saturate.
pub(crate) fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        i32::try_from(year).unwrap_or(if year < 0 { i32::MIN } else { i32::MAX }),
        month,
        day,
    )
}

/// (year, month 1..=12, day 1..=31) to days since 1970-01-01.
#[cfg(feature = "usage-plan")]
pub(crate) fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(any(feature = "events", feature = "access-log"))]
    fn at(secs: u64) -> String {
        common_log_format(Duration::from_secs(secs))
    }

    #[test]
    #[cfg(any(feature = "events", feature = "access-log"))]
    fn formats_known_instants() {
        assert_eq!(at(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(at(1_583_348_638), "04/Mar/2020:19:03:58 +0000");
        assert_eq!(at(1_700_000_000), "14/Nov/2023:22:13:20 +0000");
        // Leap days and century rules.
        assert_eq!(at(951_782_400), "29/Feb/2000:00:00:00 +0000");
        assert_eq!(at(1_709_251_199), "29/Feb/2024:23:59:59 +0000");
        assert_eq!(at(4_107_542_400), "01/Mar/2100:00:00:00 +0000");
        // Past 9999 the year simply grows.
        assert_eq!(at(253_402_300_800), "01/Jan/10000:00:00:00 +0000");
    }

    #[test]
    #[cfg(feature = "usage-plan")]
    fn days_from_civil_inverts_civil_from_days() {
        for days in (-800_000..800_000).step_by(97) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn every_day_follows_the_previous_one() {
        // Walk 1970..2200 day by day: dates must be consecutive.
        let mut previous = civil_from_days(0);
        for days in 1..84_000 {
            let (y, m, d) = civil_from_days(days);
            let (py, pm, pd) = previous;
            let next_day = y == py && m == pm && d == pd + 1;
            let next_month = y == py && m == pm + 1 && d == 1 && pd >= 28;
            let next_year = y == py + 1 && m == 1 && d == 1 && pm == 12 && pd == 31;
            assert!(
                next_day || next_month || next_year,
                "{previous:?} -> {:?}",
                (y, m, d)
            );
            previous = (y, m, d);
        }
    }

    #[test]
    #[cfg(feature = "events")]
    fn epoch_millis_keeps_milliseconds() {
        assert_eq!(
            epoch_millis(Duration::from_millis(1_583_348_638_390)),
            1_583_348_638_390
        );
    }
}
