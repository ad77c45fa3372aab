//! `[[tenants.transport_rules]]`: conditions, exceptions and actions, as Exchange names them.

use std::fmt;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use crate::address::Mailbox;
use crate::names::{CertNamePattern, DomainName, string_form};
use crate::net::IpEntry;

use super::*;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TransportRule {
    pub name: String,
    /// 0 runs first. Unset: after every rule with a priority, in file order.
    pub priority: Option<u32>,
    #[serde(default)]
    pub mode: RuleMode,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Where `sender_domain_is` looks, as Exchange's `-SenderAddressLocation`.
    #[serde(default)]
    pub sender_address_location: SenderAddressLocation,
    /// All conditions must hold; an empty set matches every message.
    #[serde(default)]
    pub conditions: Predicates,
    /// Any exception that holds stops the rule.
    #[serde(default)]
    pub exceptions: Predicates,
    pub actions: Actions,
    #[serde(default)]
    pub stop_processing: bool,
    pub comment: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RuleMode {
    #[default]
    Enforce,
    /// Evaluate and record in the trace and the log, but do not act.
    Audit,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SenderAddressLocation {
    /// The `From:` header (Exchange's default).
    #[default]
    Header,
    /// The envelope sender (`MAIL FROM`).
    Envelope,
    HeaderOrEnvelope,
}

/// Conditions or exceptions. Each set field is one predicate; within a field any value may
/// match.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Predicates {
    #[serde(default)]
    pub sender_ip_ranges: Vec<IpEntry>,
    /// Names of the tenant's inbound connectors.
    #[serde(default)]
    pub inbound_connector: Vec<String>,
    #[serde(default)]
    pub tls_certificate_name: Vec<CertNamePattern>,
    #[serde(default)]
    pub sender_domain_is: Vec<DomainName>,
    #[serde(default)]
    pub recipient_domain_is: Vec<DomainName>,
    pub from_scope: Option<FromScope>,
    #[serde(default)]
    pub header_contains: Vec<HeaderContains>,
}

impl Predicates {
    pub fn is_empty(&self) -> bool {
        self.sender_ip_ranges.is_empty()
            && self.inbound_connector.is_empty()
            && self.tls_certificate_name.is_empty()
            && self.sender_domain_is.is_empty()
            && self.recipient_domain_is.is_empty()
            && self.from_scope.is_none()
            && self.header_contains.is_empty()
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FromScope {
    /// The sender is one of the tenant's accepted domains and the message came through an
    /// on-premises connector matched by IP or certificate.
    InOrganization,
    NotInOrganization,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderContains {
    pub header: String,
    /// Case-insensitive substrings of the decoded header value; any one matches.
    pub words: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Actions {
    pub set_scl: Option<Scl>,
    pub reject: Option<RejectAction>,
    #[serde(default)]
    pub delete: bool,
    #[serde(default)]
    pub quarantine: bool,
    #[serde(default)]
    pub redirect_to: Vec<Mailbox>,
    pub set_header: Option<SetHeader>,
    pub prepend_subject: Option<String>,
}

impl Actions {
    pub fn is_empty(&self) -> bool {
        self.set_scl.is_none()
            && self.reject.is_none()
            && !self.delete
            && !self.quarantine
            && self.redirect_to.is_empty()
            && self.set_header.is_none()
            && self.prepend_subject.is_none()
    }
}

/// Spam confidence level: -1 (skip spam filtering) to 9.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Scl(pub i8);

impl<'de> Deserialize<'de> for Scl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Scl;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an SCL from -1 to 9")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scl, E> {
                match v {
                    -1..=9 => Ok(Scl(v as i8)),
                    _ => Err(E::custom(format!("SCL {v} is out of range: it runs from -1 to 9"))),
                }
            }
        }
        d.deserialize_i64(V)
    }
}

impl fmt::Display for Scl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RejectAction {
    #[serde(default = "default_reject_code")]
    pub enhanced_status_code: EnhancedCode,
    #[serde(default = "default_reject_text")]
    pub text: String,
}

pub(super) fn default_reject_code() -> EnhancedCode {
    EnhancedCode { class: 5, subject: 7, detail: 1 }
}
pub(super) fn default_reject_text() -> String {
    "Delivery not authorized, message refused".into()
}

/// An enhanced status code is malformed, or not the permanent failure a reject needs.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnhancedCodeError {
    #[error("{0:?} is not an enhanced status code such as 5.7.1")]
    Syntax(String),
    #[error("{0:?} is not a permanent failure: a reject code starts with 5")]
    NotPermanent(String),
}

/// An RFC 3463 enhanced status code such as `5.7.1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EnhancedCode {
    pub class: u8,
    pub subject: u16,
    pub detail: u16,
}

impl EnhancedCode {
    pub fn parse(s: &str) -> Result<EnhancedCode, EnhancedCodeError> {
        let bad = || EnhancedCodeError::Syntax(s.to_string());
        let mut it = s.trim().split('.');
        let (Some(c), Some(sub), Some(det), None) = (it.next(), it.next(), it.next(), it.next()) else {
            return Err(bad());
        };
        let class: u8 = c.parse().map_err(|_| bad())?;
        let subject: u16 = sub.parse().map_err(|_| bad())?;
        let detail: u16 = det.parse().map_err(|_| bad())?;
        if !matches!(class, 2 | 4 | 5) || subject > 999 || detail > 999 {
            return Err(bad());
        }
        Ok(EnhancedCode { class, subject, detail })
    }

    /// For a rule's reject: only permanent failures make sense after DATA.
    fn parse_permanent(s: &str) -> Result<EnhancedCode, EnhancedCodeError> {
        let code = EnhancedCode::parse(s)?;
        if code.class != 5 {
            return Err(EnhancedCodeError::NotPermanent(s.to_string()));
        }
        Ok(code)
    }
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

string_form!(EnhancedCode, EnhancedCode::parse_permanent, serialize);

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SetHeader {
    pub name: String,
    pub value: String,
}
