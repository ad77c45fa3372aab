//! What `doorman trace` selects: every condition given must hold.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use crate::record::{Event, Record};
use crate::time::rfc3339;

#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// RFC 3339 text (possibly just a date) that a line's time must not sort before.
    since: Option<String>,
    client_ip: Option<IpAddr>,
    tenant: Option<String>,
    event: Option<Event>,
    /// A whole address, or `@domain` for every recipient of a domain.
    rcpt: Option<String>,
}

/// An argument of `doorman trace` is not a condition it can select by.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("--since {0:?}: expected an age such as 10m, 2h, 1d, or a UTC time such as 2026-11-28T03:00")]
    Since(String),
    #[error("--event {0:?}: expected one of {events}", events = event_names())]
    Event(String),
}

fn event_names() -> String {
    Event::ALL.iter().map(|e| e.name()).collect::<Vec<_>>().join(", ")
}

impl Filter {
    /// Lines no older than `age`.
    pub fn since_age(mut self, age: Duration) -> Filter {
        self.since = Some(rfc3339(SystemTime::now().checked_sub(age).unwrap_or(SystemTime::UNIX_EPOCH)));
        self
    }

    /// Lines at or after a UTC time: `2026-11-28`, `2026-11-28T03:00`, `2026-11-28T03:00:00Z`.
    pub fn since_time(mut self, since: &str) -> Result<Filter, FilterError> {
        let since = since.trim();
        if !looks_like_time(since) {
            return Err(FilterError::Since(since.to_string()));
        }
        self.since = Some(since.trim_end_matches(['Z', 'z']).to_ascii_uppercase());
        Ok(self)
    }

    pub fn client_ip(mut self, ip: IpAddr) -> Filter {
        self.client_ip = Some(ip);
        self
    }

    pub fn tenant(mut self, tenant: &str) -> Filter {
        self.tenant = Some(tenant.to_string());
        self
    }

    pub fn event(mut self, event: &str) -> Result<Filter, FilterError> {
        let e = Event::from_name(event).ok_or_else(|| FilterError::Event(event.to_string()))?;
        self.event = Some(e);
        Ok(self)
    }

    pub fn rcpt(mut self, rcpt: &str) -> Filter {
        self.rcpt = Some(rcpt.trim().trim_start_matches('<').trim_end_matches('>').to_ascii_lowercase());
        self
    }

    pub fn matches(&self, r: &Record) -> bool {
        if let Some(since) = &self.since
            && r.time.as_str() < since.as_str()
        {
            return false;
        }
        if let Some(ip) = self.client_ip
            && r.client_ip.as_deref().and_then(|c| c.parse::<IpAddr>().ok()) != Some(ip)
        {
            return false;
        }
        if let Some(t) = &self.tenant
            && !r.tenant.as_deref().is_some_and(|rt| rt.eq_ignore_ascii_case(t))
        {
            return false;
        }
        if let Some(e) = self.event
            && r.event != e
        {
            return false;
        }
        if let Some(want) = &self.rcpt {
            let Some(have) = r.rcpt.as_deref().map(str::to_ascii_lowercase) else { return false };
            let hit = if want.starts_with('@') { have.ends_with(want.as_str()) } else { have == *want };
            if !hit {
                return false;
            }
        }
        true
    }
}

fn looks_like_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && s.chars().all(|c| c.is_ascii_digit() || "-:T.Zz".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(time: &str, event: Event, ip: &str, rcpt: &str) -> Record {
        let mut r = Record::now(event);
        r.time = time.into();
        r.client_ip = Some(ip.into());
        r.rcpt = Some(rcpt.into());
        r.tenant = Some("contoso".into());
        r
    }

    #[test]
    fn selects() {
        let r = rec("2026-11-28T03:25:50.123Z", Event::Reject, "203.0.113.9", "Alice@contoso.com");
        assert!(Filter::default().matches(&r));
        assert!(Filter::default().since_time("2026-11-28").unwrap().matches(&r));
        assert!(Filter::default().since_time("2026-11-28T03:25:50Z").unwrap().matches(&r));
        assert!(!Filter::default().since_time("2026-11-28T03:26").unwrap().matches(&r));
        assert!(Filter::default().client_ip("203.0.113.9".parse().unwrap()).matches(&r));
        assert!(!Filter::default().client_ip("203.0.113.8".parse().unwrap()).matches(&r));
        assert!(Filter::default().tenant("CONTOSO").matches(&r));
        assert!(Filter::default().event("reject").unwrap().matches(&r));
        assert!(!Filter::default().event("receive").unwrap().matches(&r));
        assert!(Filter::default().rcpt("<alice@contoso.com>").matches(&r));
        assert!(Filter::default().rcpt("@contoso.com").matches(&r));
        assert!(!Filter::default().rcpt("bob@contoso.com").matches(&r));
    }

    #[test]
    fn bad_arguments_are_explained() {
        assert!(Filter::default().since_time("yesterday").unwrap_err().to_string().contains("expected an age"));
        assert!(Filter::default().event("bounce").unwrap_err().to_string().contains("connect, reject, receive"));
    }
}
