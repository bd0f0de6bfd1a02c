//! RFC 3339 timestamps for the `Mesh-Timestamp` header: written in UTC
//! with nanoseconds (`2026-12-03T15:11:02.123456789Z`), read with any
//! offset and any number of fraction digits (up to nanoseconds).
//!
//! The calendar arithmetic converts between days since 1970-01-01 and a
//! proleptic Gregorian date by 400-year eras (146,097 days each), so it
//! needs no table and no loop.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const NANOS: i128 = 1_000_000_000;

/// `time` in UTC, `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
pub(crate) fn format(time: SystemTime) -> String {
    let nanos: i128 = match time.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    };
    let secs = nanos.div_euclid(NANOS);
    let frac = nanos.rem_euclid(NANOS);
    let days = secs.div_euclid(86_400);
    let in_day = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days as i64);
    if !(0..=9999).contains(&y) {
        // Outside what RFC 3339 can write: readers reject it.
        return format!("{y}-{m:02}-{d:02}T{in_day}s.{frac:09}Z");
    }
    // By hand, not `format!`: this runs once per exported event.
    let mut out = String::with_capacity(30);
    let parts: [(i128, usize, char); 7] = [
        (y as i128, 4, '-'),
        (m as i128, 2, '-'),
        (d as i128, 2, 'T'),
        (in_day / 3600, 2, ':'),
        (in_day / 60 % 60, 2, ':'),
        (in_day % 60, 2, '.'),
        (frac, 9, 'Z'),
    ];
    for (n, width, after) in parts {
        push_digits(&mut out, n as u64, width);
        out.push(after);
    }
    out
}

/// `n` in decimal, zero-padded to `width` digits.
fn push_digits(out: &mut String, mut n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for _ in buf.len() - at..width {
        out.push('0');
    }
    for &b in &buf[at..] {
        out.push(char::from(b));
    }
}

/// Parses an RFC 3339 date-time (`T` or `t` or a space between date and
/// time; `Z`, `z` or `±HH:MM`). `None` if it is not one.
pub(crate) fn parse(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        digits
            .iter()
            .try_fold(0i64, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0')))
    };
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
    {
        return None;
    }
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut at = 19;
    let mut frac: i128 = 0;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            if at - start < 9 {
                frac = frac * 10 + i128::from(b[at] - b'0');
            }
            at += 1;
        }
        let digits = at - start;
        if digits == 0 {
            return None;
        }
        for _ in digits..9 {
            frac *= 10;
        }
    }
    let offset = match b.get(at)? {
        b'Z' | b'z' if at + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if at + 6 == b.len() && b[at + 3] == b':' => {
            let (h, m) = (num(at + 1, 2)?, num(at + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = h * 60 + m;
            if *sign == b'+' { minutes } else { -minutes }
        }
        _ => return None,
    };
    // A leap second is read as the second after it.
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset * 60;
    let nanos = i128::from(secs) * NANOS + frac;
    if nanos >= 0 {
        let n = u128::try_from(nanos).ok()?;
        UNIX_EPOCH
            .checked_add(Duration::new((n / 1_000_000_000) as u64, (n % 1_000_000_000) as u32))
    } else {
        let n = u128::try_from(-nanos).ok()?;
        UNIX_EPOCH
            .checked_sub(Duration::new((n / 1_000_000_000) as u64, (n % 1_000_000_000) as u32))
    }
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date. Years are counted
/// from March (so the leap day ends a year), in 400-year eras.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400; // [0, 399]
    let month_from_march = (m + 9) % 12; // March = 0
    let day_of_year = (153 * month_from_march + 2) / 5 + d - 1; // [0, 365]
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468 // 1970-01-01 is day 719,468 of era 0
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097; // [0, 146096]
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153; // March = 0
    let d = day_of_year - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = year_of_era + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(format(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::new(1_798_989_062, 123_456_789);
        assert_eq!(format(t), "2027-01-03T15:11:02.123456789Z");
        let leap_day = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(format(leap_day), "2000-02-29T00:00:00.000000000Z");
        let before = UNIX_EPOCH - Duration::from_nanos(1);
        assert_eq!(format(before), "1969-12-31T23:59:59.999999999Z");
    }

    #[test]
    fn parses_offsets_and_fractions() {
        let t = UNIX_EPOCH + Duration::new(1_798_989_062, 120_000_000);
        assert_eq!(parse("2027-01-03T15:11:02.12Z"), Some(t));
        assert_eq!(parse("2027-01-03t16:11:02.12+01:00"), Some(t));
        assert_eq!(parse("2027-01-03T14:41:02.120-00:30"), Some(t));
        assert_eq!(parse("2027-01-03 15:11:02.1200000000009z"), Some(t), "beyond ns is cut");
        for bad in [
            "",
            "2027-01-03",
            "2027-13-03T15:11:02Z",
            "2027-02-29T15:11:02Z",
            "2027-01-03T24:00:00Z",
            "2027-01-03T15:11:02",
            "2027-01-03T15:11:02.Z",
            "2027-01-03T15:11:02+0100",
            "2027-01-03T15:11:02Zjunk",
            "２027-01-03T15:11:02Z",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn round_trips_every_day_of_four_centuries() {
        // Every day from 1800 to 2200, at a time with nanoseconds.
        let start = days_from_civil(1800, 1, 1);
        let end = days_from_civil(2200, 1, 1);
        for day in start..end {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
            let secs = day * 86_400 + 45_296; // 12:34:56
            let t = if secs >= 0 {
                UNIX_EPOCH + Duration::new(secs as u64, 7)
            } else {
                UNIX_EPOCH - Duration::new((-secs) as u64, 0) + Duration::from_nanos(7)
            };
            assert_eq!(parse(&format(t)), Some(t), "{}", format(t));
        }
    }
}
