//! Coercions from the loose values real exports carry (numbers in strings, many timestamp
//! layouts, epoch units decided by magnitude) to the canonical column types.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// Earliest and latest event times accepted: anything outside is a broken clock or a unit
/// mistake, and is quarantined rather than guessed (1990-01-01 .. 2100-01-01, µs).
pub const TS_MIN_US: i64 = 631_152_000_000_000;
pub const TS_MAX_US: i64 = 4_102_444_800_000_000;

pub fn plausible_ts(us: i64) -> bool {
    (TS_MIN_US..TS_MAX_US).contains(&us)
}

/// Epoch number to microseconds; the unit is decided by magnitude: below 1e11 seconds,
/// below 1e14 milliseconds, below 1e17 microseconds, else nanoseconds.
pub fn ts_from_epoch_f64(v: f64) -> Option<i64> {
    if !v.is_finite() {
        return None;
    }
    let a = v.abs();
    let us = if a < 1e11 {
        v * 1e6
    } else if a < 1e14 {
        v * 1e3
    } else if a < 1e17 {
        v
    } else {
        v / 1e3
    };
    (us.abs() < 9.0e18).then(|| us.round() as i64)
}

pub fn ts_from_epoch_i64(v: i64) -> Option<i64> {
    let a = v.unsigned_abs();
    if a < 100_000_000_000 {
        v.checked_mul(1_000_000)
    } else if a < 100_000_000_000_000 {
        v.checked_mul(1_000)
    } else if a < 100_000_000_000_000_000 {
        Some(v)
    } else {
        Some(v / 1_000)
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
}

/// Parses `YYYY-MM-DD[T ]HH:MM[:SS][(.|,)fraction][Z|±HH[:MM]| UTC| GMT]`; no offset means UTC.
fn parse_iso_like(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 16 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (y, mo, d) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (h, mi) = (digits(&b[11..13])?, digits(&b[14..16])?);
    if b[13] != b':' {
        return None;
    }
    let mut i = 16;
    let mut sec = 0;
    if b.get(i) == Some(&b':') {
        sec = digits(b.get(i + 1..i + 3)?)?;
        i += 3;
    }
    let mut micros = 0u32;
    if matches!(b.get(i), Some(b'.' | b',')) {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = &b[start..i];
        if frac.is_empty() {
            return None;
        }
        for k in 0..6 {
            micros = micros * 10 + frac.get(k).map_or(0, |d| u32::from(d - b'0'));
        }
    }
    let rest = s[i..].trim();
    let offset_s: i64 = match rest.as_bytes() {
        [] | [b'Z' | b'z'] => 0,
        _ if rest.eq_ignore_ascii_case("UTC") || rest.eq_ignore_ascii_case("GMT") => 0,
        [sign @ (b'+' | b'-'), tail @ ..] => {
            let tail: Vec<u8> = tail.iter().copied().filter(|c| *c != b':').collect();
            let (oh, om) = match tail.len() {
                2 => (digits(&tail)?, 0),
                4 => (digits(&tail[0..2])?, digits(&tail[2..4])?),
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let v = i64::from(oh * 3600 + om * 60);
            if *sign == b'-' {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let days = epoch_days(y, mo, d)?;
    // Leap second 60 is folded into 59.999999 rather than rejected.
    let (sec, micros) = if sec == 60 {
        (59, 999_999)
    } else {
        (sec, micros)
    };
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + sec);
    (secs * 1_000_000 + i64::from(micros)).checked_sub(offset_s * 1_000_000)
}

/// Days from 1970-01-01 to a valid date (`None` for an invalid one). The last date is
/// remembered per thread: the events of an export come day by day, and chrono's date
/// check was a third of the time of a timestamp.
fn epoch_days(y: u32, mo: u32, d: u32) -> Option<i64> {
    use std::cell::Cell;
    thread_local! {
        static LAST: Cell<(u32, i64)> = const { Cell::new((u32::MAX, 0)) };
    }
    // y < 10^4, mo and d < 10^2: one number per date.
    let key = y * 10_000 + mo * 100 + d;
    LAST.with(|last| {
        let (k, days) = last.get();
        if k == key {
            return Some(days);
        }
        let days = NaiveDate::from_ymd_opt(y as i32, mo, d)?
            .signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch"))
            .num_days();
        last.set((key, days));
        Some(days)
    })
}

/// Parses a timestamp string in any supported layout into UTC microseconds.
pub fn parse_ts_str(s: &str) -> Option<i64> {
    let s = trim(s);
    if s.is_empty() {
        return None;
    }
    // A date (`YYYY-MM-...`) is no number; the check costs a pass over its digits.
    let dated = s.len() > 7 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-';
    if let Some(n) = (!dated).then(|| parse_number(s)).flatten() {
        return match n {
            Number::Int(i) => ts_from_epoch_i64(i),
            Number::Float(f) => ts_from_epoch_f64(f),
        };
    }
    if let Some(us) = parse_iso_like(s) {
        return Some(us);
    }
    if let Ok(dt) = DateTime::parse_from_rfc2822(s) {
        return Some(dt.timestamp_micros());
    }
    for fmt in [
        "%d/%b/%Y:%H:%M:%S %z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y/%m/%d %H:%M:%S%.f %z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(s, fmt) {
            return Some(dt.timestamp_micros());
        }
    }
    for fmt in [
        "%Y/%m/%d %H:%M:%S%.f",
        "%d/%b/%Y:%H:%M:%S",
        "%b %d %Y %H:%M:%S",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(dt.and_utc().timestamp_micros());
        }
    }
    // A bare date is a coarse but real time: midnight UTC.
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(|d| {
        d.and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_micros()
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
}

/// A JSON number or a number in a string (`"401"`, `" 1.5 "`); `None` for anything else.
pub fn parse_number(s: &str) -> Option<Number> {
    let s = trim(s);
    let b = s.as_bytes();
    let body = b.strip_prefix(b"-").unwrap_or(b);
    if body.is_empty() || !body[0].is_ascii_digit() {
        return None;
    }
    if body.iter().all(u8::is_ascii_digit) {
        return s
            .parse::<i64>()
            .ok()
            .map(Number::Int)
            .or_else(|| s.parse().ok().map(Number::Float));
    }
    if body
        .iter()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return s
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Number::Float);
    }
    None
}

impl Number {
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }

    /// The integer value when the number is integral.
    pub fn as_i64(self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(i),
            Number::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(f as i64),
            Number::Float(_) => None,
        }
    }
}

/// An HTTP status from a number or a string such as `"401"` or `"401 Unauthorized"`.
pub fn status_from_str(s: &str) -> Option<i16> {
    let s = s.trim();
    let lead: &str = s.split(|c: char| !c.is_ascii_digit()).next().unwrap_or("");
    if lead.len() == 3 && (s.len() == 3 || !s.as_bytes()[3].is_ascii_digit()) {
        return status_from_i64(lead.parse().ok()?);
    }
    parse_number(s)
        .and_then(Number::as_i64)
        .and_then(status_from_i64)
}

pub fn status_from_i64(v: i64) -> Option<i16> {
    (100..=599).contains(&v).then_some(v as i16)
}

/// A boolean from `true`/`false`, `"yes"`/`"no"`, `1`/`0`.
pub fn bool_from_str(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" | "t" => Some(true),
        "false" | "no" | "n" | "0" | "f" => Some(false),
        _ => None,
    }
}

/// `s.trim()`, without the Unicode search for the common value that starts and ends with
/// a visible ASCII character.
pub fn trim(s: &str) -> &str {
    let visible = |c: &u8| (b'!'..=b'~').contains(c);
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(z)) if visible(a) && visible(z) => s,
        _ => s.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_705_314_600_000_000; // 2024-01-15T10:30:00Z

    /// ISO timestamps (the remembered date, the arithmetic) agree with chrono's whole
    /// date-time on valid and invalid dates and times, before and after 1970, date after
    /// date (a miss) and time after time on one date (a hit).
    #[test]
    fn iso_timestamps_agree_with_chrono() {
        let chrono_us = |y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32| -> Option<i64> {
            let (s, us) = if s == 60 { (59, 999_999) } else { (s, 123_456) };
            let dt = NaiveDate::from_ymd_opt(y, mo, d)?.and_hms_micro_opt(h, mi, s, us)?;
            Some(dt.and_utc().timestamp_micros())
        };
        let mut valid = 0;
        for y in [0, 4, 1900, 1969, 1970, 2000, 2023, 2024, 2100, 9999] {
            for mo in [0, 1, 2, 4, 12, 13] {
                for d in [0, 1, 28, 29, 30, 31, 32] {
                    for (h, mi, s) in [
                        (0, 0, 0),
                        (23, 59, 59),
                        (23, 59, 60),
                        (24, 0, 0),
                        (12, 60, 0),
                        (1, 2, 61),
                    ] {
                        let text = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.123456Z");
                        let want = chrono_us(y, mo, d, h, mi, s);
                        assert_eq!(parse_ts_str(&text), want, "{text}");
                        valid += usize::from(want.is_some());
                    }
                }
            }
        }
        assert!(valid > 400, "{valid}");
    }

    #[test]
    fn rfc3339_with_offsets_and_fractions() {
        assert_eq!(parse_ts_str("2024-01-15T10:30:00Z"), Some(T0));
        assert_eq!(parse_ts_str("2024-01-15T10:30:00.123Z"), Some(T0 + 123_000));
        assert_eq!(
            parse_ts_str("2024-01-15T10:30:00.123456789Z"),
            Some(T0 + 123_456)
        );
        assert_eq!(parse_ts_str("2024-01-15T12:30:00+02:00"), Some(T0));
        assert_eq!(parse_ts_str("2024-01-15T05:30:00-0500"), Some(T0));
        assert_eq!(parse_ts_str("2024-01-15t10:30:00z"), Some(T0));
        assert_eq!(parse_ts_str("2024-01-15T10:30:00+00"), Some(T0));
    }

    #[test]
    fn logger_layouts_are_utc() {
        assert_eq!(parse_ts_str("2024-01-15 10:30:00,123"), Some(T0 + 123_000));
        assert_eq!(parse_ts_str("2024-01-15 10:30:00.5"), Some(T0 + 500_000));
        assert_eq!(parse_ts_str("2024-01-15T10:30:00.000001"), Some(T0 + 1));
        assert_eq!(parse_ts_str("2024-01-15 10:30:00 UTC"), Some(T0));
        assert_eq!(parse_ts_str("2024-01-15 10:30"), Some(T0));
    }

    #[test]
    fn other_layouts() {
        assert_eq!(parse_ts_str("Mon, 15 Jan 2024 10:30:00 GMT"), Some(T0));
        assert_eq!(parse_ts_str("15/Jan/2024:10:30:00 +0000"), Some(T0));
        assert_eq!(parse_ts_str("2024-01-15"), Some(T0 - 37_800_000_000));
    }

    #[test]
    fn epochs_by_magnitude() {
        assert_eq!(parse_ts_str("1705314600"), Some(T0));
        assert_eq!(parse_ts_str("1705314600123"), Some(T0 + 123_000));
        assert_eq!(parse_ts_str("1705314600123456"), Some(T0 + 123_456));
        assert_eq!(parse_ts_str("1705314600123456789"), Some(T0 + 123_456));
        assert_eq!(parse_ts_str("1705314600.25"), Some(T0 + 250_000));
        assert_eq!(ts_from_epoch_i64(1_705_314_600), Some(T0));
        assert_eq!(ts_from_epoch_f64(1_705_314_600_000.0), Some(T0));
    }

    #[test]
    fn garbage_is_not_a_time() {
        for s in [
            "",
            "yesterday",
            "2024-13-45T10:00:00Z",
            "2024-01-15T25:00:00Z",
            "NaN",
            "2024-01-15T10:30:00+99:00",
            "2024-01-15T10:30:00 garbage",
        ] {
            assert_eq!(parse_ts_str(s), None, "{s}");
        }
        assert!(!plausible_ts(0));
        assert!(plausible_ts(T0));
        assert_eq!(ts_from_epoch_f64(f64::NAN), None);
    }

    #[test]
    fn numbers_in_strings() {
        assert_eq!(parse_number("401"), Some(Number::Int(401)));
        assert_eq!(parse_number(" -3 "), Some(Number::Int(-3)));
        assert_eq!(parse_number("1.5"), Some(Number::Float(1.5)));
        assert_eq!(parse_number("1e3"), Some(Number::Float(1000.0)));
        assert_eq!(parse_number("abc"), None);
        assert_eq!(parse_number("12abc"), None);
        assert_eq!(parse_number(""), None);
    }

    #[test]
    fn statuses() {
        assert_eq!(status_from_str("401"), Some(401));
        assert_eq!(status_from_str(" 503 "), Some(503));
        assert_eq!(status_from_str("401 Unauthorized"), Some(401));
        assert_eq!(status_from_str("429.0"), Some(429));
        assert_eq!(status_from_str("4010"), None);
        assert_eq!(status_from_str("error"), None);
        assert_eq!(status_from_str("99"), None);
        assert_eq!(status_from_i64(600), None);
    }

    #[test]
    fn booleans() {
        assert_eq!(bool_from_str("TRUE"), Some(true));
        assert_eq!(bool_from_str("no"), Some(false));
        assert_eq!(bool_from_str("maybe"), None);
    }
}
