//! The two time formats mail needs, written by the `time` crate: RFC 3339 for the tracking
//! log (UTC with milliseconds, so that lines sort as text) and RFC 5322 for `Received` and
//! `Date` headers.

use std::time::SystemTime;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;
use time::macros::format_description;

/// `2026-11-28T03:25:50.123Z`
pub fn rfc3339(t: SystemTime) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    OffsetDateTime::from(t).format(&format).unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".into())
}

pub fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

/// `Sat, 28 Nov 2026 03:25:50 +0000` (RFC 5322's date-time is RFC 2822's).
pub fn rfc5322(t: SystemTime) -> String {
    OffsetDateTime::from(t).format(&Rfc2822).unwrap_or_else(|_| "Thu, 01 Jan 1970 00:00:00 +0000".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn formats_known_instants() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_836_350_123);
        assert_eq!(rfc3339(t), "2026-11-28T03:25:50.123Z");
        assert_eq!(rfc5322(t), "Sat, 28 Nov 2026 03:25:50 +0000");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        // 2024-02-29, a leap day.
        assert_eq!(rfc5322(UNIX_EPOCH + Duration::from_secs(1_709_164_800)), "Thu, 29 Feb 2024 00:00:00 +0000");
        assert_eq!(rfc5322(UNIX_EPOCH + Duration::from_secs(86_400 * 3)), "Sun, 04 Jan 1970 00:00:00 +0000");
    }
}
