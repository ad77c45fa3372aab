//! The two time formats mail needs, without a calendar crate: RFC 3339 for the tracking log
//! (UTC, so that lines sort as text) and RFC 5322 for `Received` headers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// (year, month, day) of a day count since 1970-01-01, proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

struct Parts {
    days: i64,
    secs_of_day: u64,
    millis: u32,
}

fn parts(t: SystemTime) -> Parts {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = d.as_secs();
    Parts { days: (secs / 86_400) as i64, secs_of_day: secs % 86_400, millis: d.subsec_millis() }
}

/// `2026-11-28T03:25:50.123Z`
pub fn rfc3339(t: SystemTime) -> String {
    let p = parts(t);
    let (y, m, d) = civil_from_days(p.days);
    let s = p.secs_of_day;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", s / 3600, s / 60 % 60, s % 60, p.millis)
}

pub fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

/// `Sat, 28 Nov 2026 03:25:50 +0000`
pub fn rfc5322(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let p = parts(t);
    let (y, m, d) = civil_from_days(p.days);
    let s = p.secs_of_day;
    format!(
        "{}, {d} {} {y:04} {:02}:{:02}:{:02} +0000",
        DAYS[p.days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// A relative duration as `30s`, `10m`, `2h` or `1d`.
pub fn parse_relative(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = text.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(n.checked_mul(mult)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_836_350_123);
        assert_eq!(rfc3339(t), "2026-11-28T03:25:50.123Z");
        assert_eq!(rfc5322(t), "Sat, 28 Nov 2026 03:25:50 +0000");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        // 2024-02-29, a leap day.
        assert_eq!(rfc5322(UNIX_EPOCH + Duration::from_secs(1_709_164_800)), "Thu, 29 Feb 2024 00:00:00 +0000");
    }

    #[test]
    fn relative() {
        assert_eq!(parse_relative("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_relative("1d"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_relative("2026-11-28"), None);
        assert_eq!(parse_relative("5"), None);
    }
}
