//! Wall-clock helpers without a date crate.
//!
//! The simulated backends only need "now" as Unix seconds, ISO-8601 timestamps
//! and weekday names; pulling in a calendar crate for that would be overkill.
//! Every data function takes `now` as a parameter so tests can pin the time.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds in a day.
pub const DAY: u64 = 86_400;

/// Current Unix time in seconds (0 if the clock is before 1970, which only a
/// badly broken host can produce — the data then simply starts at the epoch).
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Days since 1970-01-01.
pub fn day_number(secs: u64) -> u64 {
    secs / DAY
}

/// Civil date (year, month 1..=12, day 1..=31) for a day number
/// (Howard Hinnant's `civil_from_days`, restricted to dates after 1970).
pub fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// `2024-05-01T12:34:56Z`.
pub fn iso8601(secs: u64) -> String {
    let (y, m, d) = civil_from_days(day_number(secs));
    let rem = secs % DAY;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// `2024-05-01`.
pub fn iso_date(secs: u64) -> String {
    let (y, m, d) = civil_from_days(day_number(secs));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Short weekday name (`Mon`..`Sun`) of a day number.
pub fn weekday(days: u64) -> &'static str {
    // 1970-01-01 was a Thursday.
    const NAMES: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    NAMES[(days % 7) as usize]
}

/// True on Saturdays and Sundays (exchanges are closed; quotes stop drifting).
pub fn is_weekend(days: u64) -> bool {
    matches!(weekday(days), "Sat" | "Sun")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_714_566_896), "2024-05-01T12:34:56Z");
        assert_eq!(iso_date(951_782_400), "2000-02-29");
    }

    #[test]
    fn weekdays_follow_the_calendar() {
        assert_eq!(weekday(0), "Thu");
        // 2024-05-01 was a Wednesday.
        assert_eq!(weekday(day_number(1_714_566_896)), "Wed");
        assert!(is_weekend(2) && is_weekend(3) && !is_weekend(4));
    }
}
