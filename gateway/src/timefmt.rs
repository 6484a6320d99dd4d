//! The date formats S3 speaks: ISO 8601 in XML, RFC 1123 in headers, and the compact
//! `YYYYMMDDTHHMMSSZ` of SigV4.

use std::time::{Duration, UNIX_EPOCH};

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2024-05-01T12:30:00.123Z`
pub fn iso8601(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        ms % 1000
    )
}

/// Parses `2024-05-01T12:30:00Z` (with or without milliseconds, `Z` or `+00:00`) into
/// milliseconds since the epoch: the timestamps of S3's XML and lock headers.
pub fn parse_iso8601(s: &str) -> Option<u64> {
    let s = s.trim();
    let body = s.strip_suffix('Z').or_else(|| s.strip_suffix("+00:00"))?;
    let (date, time) = body.split_once('T')?;
    let (time, frac) = match time.split_once('.') {
        Some((t, f)) => (t, f),
        None => (time, ""),
    };
    let num = |v: &str| -> Option<u32> { v.bytes().all(|b| b.is_ascii_digit()).then(|| v.parse().ok())? };
    let mut d = date.split('-');
    let (y, mo, dd) = (num(d.next()?)?, num(d.next()?)?, num(d.next()?)?);
    let mut t = time.split(':');
    let (h, mi, se) = (num(t.next()?)?, num(t.next()?)?, num(t.next()?)?);
    if d.next().is_some()
        || t.next().is_some()
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&dd)
        || h > 23
        || mi > 59
        || se > 60
    {
        return None;
    }
    let ms = match frac.len() {
        0 => 0,
        n => num(&frac[..n.min(3)])? * 10u32.pow(3 - n.min(3) as u32),
    };
    let secs = days_from_civil(y as i64, mo, dd) * 86_400 + (h * 3600 + mi * 60 + se) as i64;
    u64::try_from(secs).ok().map(|s| s * 1000 + u64::from(ms))
}

/// `Wed, 01 May 2024 12:30:00 GMT`
pub fn http_date(ms: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_millis(ms))
}

/// Parses SigV4's `20240501T123000Z` into seconds since the epoch.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    Some(days_from_civil(y as i64, mo, d) * 86_400 + (h * 3600 + mi * 60 + se) as i64)
}

/// Parses an RFC 1123 date header into seconds since the epoch.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let t = httpdate::parse_http_date(s).ok()?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_secs() as i64)
}

/// Seconds since the epoch to SigV4's `20240501T123000Z`.
pub fn amz_date(secs: i64) -> String {
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!("{y:04}{mo:02}{d:02}T{:02}{:02}{:02}Z", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_round_trips() {
        for ms in [0, 1_714_566_600_123, 4_102_444_800_000] {
            assert_eq!(parse_iso8601(&iso8601(ms)), Some(ms));
        }
        assert_eq!(parse_iso8601("2024-05-01T12:30:00Z"), Some(1_714_566_600_000));
        assert_eq!(parse_iso8601("2024-05-01T12:30:00+00:00"), Some(1_714_566_600_000));
        assert_eq!(parse_iso8601("2024-05-01"), None);
        assert_eq!(parse_iso8601("2024-13-01T00:00:00Z"), None);
    }

    #[test]
    fn formats_round_trip() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_714_566_600_123), "2024-05-01T12:30:00.123Z");
        assert_eq!(parse_amz_date("20240501T123000Z"), Some(1_714_566_600));
        assert_eq!(parse_amz_date("2024-05-01T12:30:00Z"), None);
        assert_eq!(http_date(1_714_566_600_000), "Wed, 01 May 2024 12:30:00 GMT");
        assert_eq!(parse_http_date("Wed, 01 May 2024 12:30:00 GMT"), Some(1_714_566_600));
    }
}
