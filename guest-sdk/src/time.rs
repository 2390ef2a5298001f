//! Timestamps as OCSF wants them: milliseconds since the Unix epoch, UTC.

/// Parses an RFC 3339 / ISO 8601 timestamp (`2024-01-15T10:20:30Z`,
/// `2024-01-15T10:20:30.123+02:00`) into milliseconds since the epoch.
/// Returns `None` for anything else.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + (c - b'0') as i64;
        }
        Some(v)
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut ms = 0i64;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                ms = ms * 10 + (b[i] - b'0') as i64;
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..3 {
            ms *= 10;
        }
    }
    let offset_min = match b.get(i) {
        None => 0, // no zone: AWS services mean UTC
        Some(b'Z') | Some(b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if b.len() == i + 6 && b[i + 3] == b':' => {
            let m = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
            if sign == b'+' { m } else { -m }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some(((days * 86_400 + h * 3600 + mi * 60 + sec) - offset_min * 60) * 1000 + ms)
}

/// Parses the text dates AWS writes inside some responses (STS credentials' `expiration`,
/// IAM's `createDate`, console-style exports), always UTC: `Jan 15, 2024, 11:01:02 AM`, the
/// older `Jan 15, 2024 11:01:02 AM`, either with the narrow no-break space newer Java
/// runtimes put before `AM`/`PM`, and the compact ISO 8601 form `20131102T010628Z`. Returns
/// `None` for anything else.
pub fn parse_aws_text_date_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    // 20131102T010628Z
    let b = s.as_bytes();
    if b.len() == 16 && b[8] == b'T' && b[15] == b'Z' && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit) {
        return parse_rfc3339_ms(&format!("{}-{}-{}T{}:{}:{}Z", &s[0..4], &s[4..6], &s[6..8], &s[9..11], &s[11..13], &s[13..15]));
    }
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (month, rest) = s.split_once(' ')?;
    let m = MONTHS.iter().position(|x| *x == month)? as i64 + 1;
    let (day, rest) = rest.split_once(", ")?;
    let (year, rest) = rest.split_once(' ')?;
    let year = year.strip_suffix(',').unwrap_or(year);
    let (clock, half) = rest.split_once([' ', '\u{202f}'])?;
    let mut parts = clock.split(':').map(|p| p.parse::<i64>().ok());
    let (h, mi, sec) = (parts.next()??, parts.next()??, parts.next()??);
    if parts.next().is_some() || !(1..=12).contains(&h) || mi > 59 || sec > 60 {
        return None;
    }
    let h = match half {
        "AM" => h % 12,
        "PM" => h % 12 + 12,
        _ => return None,
    };
    let (d, y) = (day.parse::<i64>().ok()?, year.parse::<i64>().ok()?);
    if !(1..=31).contains(&d) || year.len() != 4 {
        return None;
    }
    Some((days_from_civil(y, m, d) * 86_400 + h * 3600 + mi * 60 + sec) * 1000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_aws_writes() {
        let cases = [
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2024-01-15T10:20:30Z", Some(1_705_314_030_000)),
            ("2024-01-15T10:20:30.5Z", Some(1_705_314_030_500)),
            ("2024-01-15T10:20:30.123456Z", Some(1_705_314_030_123)),
            ("2024-01-15T12:20:30+02:00", Some(1_705_314_030_000)),
            ("2024-01-15T10:20:30", Some(1_705_314_030_000)),
            ("2024-02-30T10:20:30Z", Some(1_709_288_430_000)), // not validated per month; AWS never writes it
            ("2024-01-15 10:20:30Z", Some(1_705_314_030_000)),
            ("2024-13-15T10:20:30Z", None),
            ("yesterday", None),
            ("2024-01-15T10:20:30Zjunk", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_rfc3339_ms(s), want, "{s}");
        }
    }

    #[test]
    fn parses_aws_text_dates() {
        let cases = [
            ("Jan 15, 2024, 11:01:02 AM", Some(1_705_316_462_000)),
            ("Jan 15, 2024, 12:01:02 AM", Some(1_705_276_862_000)),
            ("Jan 15, 2024, 12:01:02 PM", Some(1_705_320_062_000)),
            ("Oct 8, 2024, 4:15:32 PM", Some(1_728_404_132_000)),
            ("Oct 8, 2024 4:15:32 PM", Some(1_728_404_132_000)),
            ("Oct 8, 2024, 4:15:32\u{202f}PM", Some(1_728_404_132_000)),
            ("20131102T010628Z", Some(1_383_354_388_000)),
            ("Jan 15 2024 11:01:02 AM", None),
            ("Foo 15, 2024, 11:01:02 AM", None),
            ("Jan 15, 2024, 13:01:02 PM", None),
            ("2024-01-15T10:20:30Z", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_aws_text_date_ms(s), want, "{s}");
        }
    }

    #[test]
    fn civil_round_trips() {
        for days in [-1000, 0, 1, 19_737, 20_000, 100_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m as i64, d as i64), days);
        }
        assert_eq!(civil_from_days(19_737), (2024, 1, 15));
    }
}
