//! Time stamps of access logs, parsed by hand: chrono's format-string parser costs more than the
//! rest of a line, and these shapes are fixed.

use chrono::{DateTime, Local, NaiveDate, TimeZone, Utc};

use super::text::number;

/// The length of a CLF stamp without brackets: `10/Oct/2000:13:55:36 -0700`.
pub(super) const CLF_LEN: usize = 26;

/// `10/Oct/2000:13:55:36 -0700` (nginx `$time_local`, Apache `%t` inside its brackets).
pub(super) fn clf(b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() != CLF_LEN || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[20] != b' ' {
        return None;
    }
    let day = two(b, 0)?;
    let month = month(&b[3..6])?;
    let year = number(&b[7..11])? as i64;
    let time = clock(b, 12)?;
    let offset = offset(&b[21..])?;
    instant(year, month, day, time, offset, 0)
}

/// ISO 8601 / RFC 3339: `2000-10-10T13:55:36-07:00`, a `T` or a space, optional fraction, `Z`,
/// `±HH:MM`, `±HHMM` or `±HH`. Without a zone it is the host's local time (as the contract says
/// for zone-less stamps).
pub(crate) fn iso8601(b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let year = number(&b[..4])? as i64;
    let month = two(b, 5)?;
    let day = two(b, 8)?;
    let time = clock(b, 11)?;
    let mut rest = &b[19..];
    let mut nanos = 0;
    if let Some(frac) = rest.strip_prefix(b".").or_else(|| rest.strip_prefix(b",")) {
        let digits = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        nanos = fraction(&frac[..digits]);
        rest = &frac[digits..];
    }
    match rest {
        b"" => {
            let naive = NaiveDate::from_ymd_opt(year as i32, month, day)?.and_hms_nano_opt(
                time / 3600,
                time / 60 % 60,
                time % 60,
                nanos,
            )?;
            Some(Local.from_local_datetime(&naive).earliest()?.to_utc())
        }
        b"Z" | b"z" => instant(year, month, day, time, 0, nanos),
        zone => instant(year, month, day, time, offset(zone)?, nanos),
    }
}

/// Seconds since the epoch with an optional fraction: nginx `$msec` (`1700000000.123`),
/// Apache `%{sec}t`.
pub(super) fn epoch(b: &[u8]) -> Option<DateTime<Utc>> {
    let (secs, frac) = match memchr::memchr(b'.', b) {
        Some(dot) => (&b[..dot], &b[dot + 1..]),
        None => (b, &b""[..]),
    };
    let nanos = match frac {
        b"" => 0,
        f if f.iter().all(u8::is_ascii_digit) => fraction(f),
        _ => return None,
    };
    DateTime::from_timestamp(i64::try_from(number(secs)?).ok()?, nanos)
}

/// An integer count of `per_second` units since the epoch (Apache `%{msec}t`, `%{usec}t`).
pub(super) fn epoch_units(b: &[u8], per_second: u64) -> Option<DateTime<Utc>> {
    let n = number(b)?;
    let nanos = (n % per_second) * (1_000_000_000 / per_second);
    DateTime::from_timestamp(i64::try_from(n / per_second).ok()?, nanos as u32)
}

/// A stamp in an Apache `%{strftime}t` format: with `%z` it keeps its offset, without one it
/// is the host's local time. chrono's format parser is slow, but only these formats need it.
pub(super) fn strftime(b: &[u8], format: &str) -> Option<DateTime<Utc>> {
    let text = std::str::from_utf8(b).ok()?;
    if format.contains("%z") {
        return DateTime::parse_from_str(text, format)
            .ok()
            .map(|t| t.to_utc());
    }
    let naive = chrono::NaiveDateTime::parse_from_str(text, format).ok()?;
    Some(Local.from_local_datetime(&naive).earliest()?.to_utc())
}

/// Up to nine fraction digits as nanoseconds; more are cut.
fn fraction(digits: &[u8]) -> u32 {
    let kept = &digits[..digits.len().min(9)];
    let value = number(kept).unwrap_or(0) as u32;
    value * 10u32.pow(9 - kept.len() as u32)
}

fn two(b: &[u8], at: usize) -> Option<u32> {
    let (h, l) = (b[at].wrapping_sub(b'0'), b[at + 1].wrapping_sub(b'0'));
    (h < 10 && l < 10).then(|| u32::from(h * 10 + l))
}

/// `HH:MM:SS` at `at`, as seconds of the day (a leap second 60 is allowed).
fn clock(b: &[u8], at: usize) -> Option<u32> {
    if b[at + 2] != b':' || b[at + 5] != b':' {
        return None;
    }
    let (h, m, s) = (two(b, at)?, two(b, at + 3)?, two(b, at + 6)?);
    (h < 24 && m < 60 && s <= 60).then_some(h * 3600 + m * 60 + s)
}

/// `+HHMM`, `+HH:MM` or `+HH` as seconds east of UTC.
fn offset(b: &[u8]) -> Option<i64> {
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = match b.len() {
        3 => (two(b, 1)?, 0),
        5 => (two(b, 1)?, two(b, 3)?),
        6 if b[3] == b':' => (two(b, 1)?, two(b, 4)?),
        _ => return None,
    };
    (h < 24 && m < 60).then(|| sign * i64::from(h * 3600 + m * 60))
}

pub(crate) fn month(name: &[u8]) -> Option<u32> {
    const NAMES: [&[u8; 3]; 12] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec",
    ];
    let lower = [name[0] | 0x20, name[1] | 0x20, name[2] | 0x20];
    NAMES
        .iter()
        .position(|n| **n == lower)
        .map(|i| i as u32 + 1)
}

fn instant(
    year: i64,
    month: u32,
    day: u32,
    secs_of_day: u32,
    offset: i64,
    nanos: u32,
) -> Option<DateTime<Utc>> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let local = days_from_civil(year, month, day) * 86_400 + i64::from(secs_of_day);
    DateTime::from_timestamp(local - offset, nanos)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::parse::utc;

    #[test]
    fn clf_stamps_convert_to_utc() {
        assert_eq!(
            clf(b"10/Oct/2000:13:55:36 -0700"),
            Some(utc("2000-10-10T20:55:36Z"))
        );
        assert_eq!(
            clf(b"29/Feb/2024:00:00:00 +0530"),
            Some(utc("2024-02-28T18:30:00Z"))
        );
        assert_eq!(
            clf(b"01/jan/1970:00:00:00 +0000"),
            Some(utc("1970-01-01T00:00:00Z"))
        );
        assert_eq!(clf(b"29/Feb/2023:00:00:00 +0000"), None);
        assert_eq!(clf(b"10/Foo/2000:13:55:36 -0700"), None);
        assert_eq!(clf(b"10/Oct/2000:25:55:36 -0700"), None);
        assert_eq!(clf(b"10/Oct/2000:13:55:36 07000"), None);
        assert_eq!(clf(b"10/Oct/2000:13:55:36"), None);
    }

    #[test]
    fn iso_stamps_keep_their_offset() {
        assert_eq!(
            iso8601(b"2000-10-10T13:55:36-07:00"),
            Some(utc("2000-10-10T20:55:36Z"))
        );
        assert_eq!(
            iso8601(b"2000-10-10T13:55:36+0200"),
            Some(utc("2000-10-10T11:55:36Z"))
        );
        assert_eq!(
            iso8601(b"2000-10-10 13:55:36.25Z"),
            Some(utc("2000-10-10T13:55:36.250Z"))
        );
        assert_eq!(iso8601(b"2000-13-10T13:55:36Z"), None);
        assert_eq!(iso8601(b"2000-10-10T13:55:36.Z"), None);
        assert_eq!(iso8601(b"2000-10-10T13:55:36 junk"), None);
    }

    #[test]
    fn epoch_stamps_in_every_unit() {
        let at = utc("2023-11-14T22:13:20.123Z");
        assert_eq!(epoch(b"1700000000.123"), Some(at));
        assert_eq!(epoch_units(b"1700000000123", 1000), Some(at));
        assert_eq!(epoch_units(b"1700000000123000", 1_000_000), Some(at));
        assert_eq!(epoch(b"1700000000"), Some(utc("2023-11-14T22:13:20Z")));
        assert_eq!(epoch(b"17x"), None);
        assert_eq!(epoch(b"1.2.3"), None);
    }
}
