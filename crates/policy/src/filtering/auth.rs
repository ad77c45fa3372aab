//! Sender authentication as facts (SPF, DKIM, ARC, DMARC, found by the caller), and what
//! the engine makes of them: EOP's composite verdict (`compauth`) and the RFC 8601
//! `Authentication-Results` field.

use std::fmt::{self, Write};
use std::net::IpAddr;

use doorman_config::names::DomainName;
use serde::Serialize;

use super::received::AuthSubject;
use crate::session::DnsblAnswer;

/// One method's result, in RFC 8601's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthResult {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    None,
    TempError,
    PermError,
}

impl AuthResult {
    pub fn name(self) -> &'static str {
        match self {
            AuthResult::Pass => "pass",
            AuthResult::Fail => "fail",
            AuthResult::SoftFail => "softfail",
            AuthResult::Neutral => "neutral",
            AuthResult::None => "none",
            AuthResult::TempError => "temperror",
            AuthResult::PermError => "permerror",
        }
    }

    pub fn from_name(name: &str) -> Option<AuthResult> {
        [
            AuthResult::Pass,
            AuthResult::Fail,
            AuthResult::SoftFail,
            AuthResult::Neutral,
            AuthResult::None,
            AuthResult::TempError,
            AuthResult::PermError,
        ]
        .into_iter()
        .find(|r| r.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for AuthResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SpfCheck {
    pub result: AuthResult,
    /// The identity checked: the MAIL FROM address (`postmaster@HELO` for the null sender),
    /// or the HELO name.
    pub identity: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DkimCheck {
    pub result: AuthResult,
    /// The signature's `d=` and `s=`; absent when it could not be parsed.
    pub domain: Option<String>,
    pub selector: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ArcCheck {
    /// `none` without ARC sets.
    pub result: AuthResult,
    /// The `d=` of the newest ARC-Seal.
    pub sealer: Option<String>,
    /// The DMARC result that sealer recorded in its ARC-Authentication-Results.
    pub sealed_dmarc: Option<AuthResult>,
}

/// The policy a DMARC record publishes (`p=`, or `sp=` for a subdomain).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DmarcPolicy {
    /// No DMARC record.
    Absent,
    None,
    Quarantine,
    Reject,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DmarcCheck {
    pub result: AuthResult,
    /// The `From:` domain DMARC judged.
    pub from_domain: String,
    pub policy: DmarcPolicy,
}

/// The client SPF, DMARC and the DNSBLs judged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Judged {
    pub ip: IpAddr,
    /// The trusted sealer whose ARC-Authentication-Results named it, when the `Received`
    /// chain could not be followed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_arc: Option<String>,
}

/// Everything authentication found for one message, judged at one client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Authentication {
    /// What the plan asked to authenticate.
    pub subject: AuthSubject,
    pub judged: Judged,
    pub spf_helo: Option<SpfCheck>,
    pub spf_mail_from: SpfCheck,
    pub dkim: Vec<DkimCheck>,
    pub arc: ArcCheck,
    pub dmarc: DmarcCheck,
    /// DNSBL answers for the subject, when it is not the connecting client (whose answers
    /// the connection stage had).
    pub dnsbl: Vec<DnsblAnswer>,
}

/// EOP's composite authentication: `compauth=pass reason=100`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CompAuth {
    pub result: CompAuthResult,
    pub reason: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CompAuthResult {
    Pass,
    Fail,
    SoftPass,
    None,
}

impl CompAuthResult {
    pub fn name(self) -> &'static str {
        match self {
            CompAuthResult::Pass => "pass",
            CompAuthResult::Fail => "fail",
            CompAuthResult::SoftPass => "softpass",
            CompAuthResult::None => "none",
        }
    }
}

impl fmt::Display for CompAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} reason={:03}", self.result.name(), self.reason)
    }
}

/// The reasons, as EOP numbers them (the families are Microsoft's; the numbers within a
/// family are doorman's and listed in docs/filtering.md).
pub mod reason {
    /// DMARC passed.
    pub const DMARC_PASS: u16 = 100;
    /// DMARC failed, and a trusted ARC sealer recorded a pass before forwarding broke it.
    pub const TRUSTED_ARC: u16 = 130;
    /// No DMARC record, but SPF or a DKIM signature passed.
    pub const IMPLICIT_PASS: u16 = 201;
    /// DMARC failed under `p=none`, but SPF or a DKIM signature passed (unaligned).
    pub const UNALIGNED_PASS: u16 = 202;
    /// DMARC failed under `p=quarantine` or `p=reject`.
    pub const EXPLICIT_FAIL: u16 = 0;
    /// No DMARC record, or `p=none`, and nothing passed.
    pub const IMPLICIT_FAIL: u16 = 1;
    /// A DNS failure left the result open.
    pub const TEMPORARY: u16 = 301;
}

impl DmarcPolicy {
    pub fn name(self) -> &'static str {
        match self {
            DmarcPolicy::Absent => "absent",
            DmarcPolicy::None => "none",
            DmarcPolicy::Quarantine => "quarantine",
            DmarcPolicy::Reject => "reject",
        }
    }
}

impl Authentication {
    /// `pass` when any signature passed, else the first one's result, `none` without any.
    pub fn dkim_summary(&self) -> AuthResult {
        if self.dkim.iter().any(|d| d.result == AuthResult::Pass) {
            AuthResult::Pass
        } else {
            self.dkim.first().map_or(AuthResult::None, |d| d.result)
        }
    }

    fn anything_passed(&self) -> bool {
        self.spf_mail_from.result == AuthResult::Pass || self.dkim.iter().any(|d| d.result == AuthResult::Pass)
    }

    /// Whether the newest ARC seal is by one of `trusted` and vouches for a DMARC pass.
    pub fn trusted_arc(&self, trusted: &[DomainName]) -> bool {
        self.arc.result == AuthResult::Pass
            && self.arc.sealed_dmarc == Some(AuthResult::Pass)
            && self.arc.sealer.as_deref().is_some_and(|s| trusted.iter().any(|t| t.as_str().eq_ignore_ascii_case(s)))
    }

    /// The composite verdict for a tenant that trusts `trusted` ARC sealers.
    pub fn compauth(&self, trusted: &[DomainName]) -> CompAuth {
        use CompAuthResult::*;
        let (result, reason) = match (self.dmarc.result, self.dmarc.policy) {
            (AuthResult::Pass, _) => (Pass, reason::DMARC_PASS),
            (AuthResult::TempError, _) => (None, reason::TEMPORARY),
            _ if self.trusted_arc(trusted) => (Pass, reason::TRUSTED_ARC),
            (_, DmarcPolicy::Quarantine | DmarcPolicy::Reject) => (Fail, reason::EXPLICIT_FAIL),
            (_, DmarcPolicy::Absent) if self.anything_passed() => (SoftPass, reason::IMPLICIT_PASS),
            (_, DmarcPolicy::None) if self.anything_passed() => (SoftPass, reason::UNALIGNED_PASS),
            _ => (Fail, reason::IMPLICIT_FAIL),
        };
        CompAuth { result, reason }
    }

    /// The value of the `Authentication-Results` field (RFC 8601) with `host` as authserv-id.
    pub fn header_value(&self, host: &str, compauth: CompAuth) -> String {
        let mut v = pvalue(host);
        let mut method = |text: String| {
            v.push_str(";\r\n\t");
            v.push_str(&text);
        };
        let spf = &self.spf_mail_from;
        method(format!("spf={} smtp.mailfrom={} (client-ip={})", spf.result, pvalue(&spf.identity), self.judged.ip));
        if let Some(h) = &self.spf_helo {
            method(format!("spf={} smtp.helo={}", h.result, pvalue(&h.identity)));
        }
        if self.dkim.is_empty() {
            method("dkim=none".into());
        }
        for d in &self.dkim {
            let mut t = format!("dkim={}", d.result);
            if let Some(domain) = &d.domain {
                let _ = write!(t, " header.d={}", pvalue(domain));
            }
            if let Some(s) = &d.selector {
                let _ = write!(t, " header.s={}", pvalue(s));
            }
            method(t);
        }
        let mut arc = format!("arc={}", self.arc.result);
        if let Some(s) = &self.arc.sealer {
            let _ = write!(arc, " header.oldest-pass=0 smtp.remote-sealer={}", pvalue(s));
        }
        method(arc);
        let policy = match self.dmarc.policy {
            DmarcPolicy::Absent => "none",
            DmarcPolicy::None => "none",
            DmarcPolicy::Quarantine => "quarantine",
            DmarcPolicy::Reject => "reject",
        };
        method(format!("dmarc={} action={policy} header.from={}", self.dmarc.result, pvalue(&self.dmarc.from_domain)));
        method(format!("compauth={compauth}"));
        v
    }
}

/// A value as RFC 8601 writes it: a token, or a quoted string.
fn pvalue(s: &str) -> String {
    // A token (RFC 2045) or an addr-spec of one: `@` and `.` may join tokens.
    let token = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-._@+!#$%&'*/^`{|}~".contains(c));
    if token {
        s.to_string()
    } else {
        let clean: String = s.chars().filter(|c| !c.is_control()).collect();
        format!("\"{}\"", clean.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(dmarc: AuthResult, policy: DmarcPolicy, spf: AuthResult) -> Authentication {
        Authentication {
            subject: AuthSubject::connecting("198.51.100.7".parse().unwrap(), None),
            judged: Judged { ip: "198.51.100.7".parse().unwrap(), by_arc: None },
            spf_helo: None,
            spf_mail_from: SpfCheck { result: spf, identity: "a@sender.test".into() },
            dkim: vec![],
            arc: ArcCheck { result: AuthResult::None, sealer: None, sealed_dmarc: None },
            dmarc: DmarcCheck { result: dmarc, from_domain: "sender.test".into(), policy },
            dnsbl: vec![],
        }
    }

    #[test]
    fn compauth_follows_dmarc_then_arc_then_implicit_signs() {
        let s = |a: &Authentication| a.compauth(&[]).to_string();
        assert_eq!(s(&auth(AuthResult::Pass, DmarcPolicy::Reject, AuthResult::Pass)), "pass reason=100");
        assert_eq!(s(&auth(AuthResult::Fail, DmarcPolicy::Reject, AuthResult::Fail)), "fail reason=000");
        assert_eq!(s(&auth(AuthResult::None, DmarcPolicy::Absent, AuthResult::Pass)), "softpass reason=201");
        assert_eq!(s(&auth(AuthResult::None, DmarcPolicy::Absent, AuthResult::Fail)), "fail reason=001");
        assert_eq!(s(&auth(AuthResult::TempError, DmarcPolicy::Reject, AuthResult::Pass)), "none reason=301");
        let mut forwarded = auth(AuthResult::Fail, DmarcPolicy::Reject, AuthResult::Fail);
        forwarded.arc = ArcCheck {
            result: AuthResult::Pass,
            sealer: Some("lists.test".into()),
            sealed_dmarc: Some(AuthResult::Pass),
        };
        assert_eq!(s(&forwarded), "fail reason=000", "an untrusted sealer changes nothing");
        let trusted = [DomainName::parse("lists.test").unwrap()];
        assert_eq!(forwarded.compauth(&trusted).to_string(), "pass reason=130");
    }

    #[test]
    fn the_header_quotes_what_is_not_a_token() {
        let a = auth(AuthResult::Fail, DmarcPolicy::Reject, AuthResult::Fail);
        let v = a.header_value("mx.doorman.test", a.compauth(&[]));
        assert!(
            v.starts_with("mx.doorman.test;\r\n\tspf=fail smtp.mailfrom=a@sender.test (client-ip=198.51.100.7)"),
            "{v}"
        );
        assert!(v.contains("dmarc=fail action=reject header.from=sender.test"), "{v}");
        assert!(v.ends_with("compauth=fail reason=000"), "{v}");
        assert_eq!(pvalue("a b\"c"), "\"a b\\\"c\"");
    }
}
