//! Name patterns and their matching rules, defined once so the edge, `explain` and the
//! analyzer agree on what `*.contoso.com` means in each place it can be written.

use std::fmt;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use crate::address::{AddressError, Mailbox, parse_domain_name, parse_mailbox};

/// A validated domain name, lower case (accepted domains, rule domains, DNSBL zones).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct DomainName(String);

impl DomainName {
    pub fn parse(s: &str) -> Result<DomainName, AddressError> {
        parse_domain_name(s).map(DomainName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Rule semantics (`sender_domain_is`, `recipient_domain_is`): the domain itself and
    /// every subdomain, as Exchange Online's transport rules match.
    pub fn covers(&self, domain: &str) -> bool {
        is_same_or_subdomain(domain, &self.0)
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `domain` equals `parent` or ends with `.parent` (both lower case).
pub fn is_same_or_subdomain(domain: &str, parent: &str) -> bool {
    domain == parent || is_strict_subdomain(domain, parent)
}

fn is_strict_subdomain(domain: &str, parent: &str) -> bool {
    domain.len() > parent.len() + 1
        && domain.ends_with(parent)
        && domain.as_bytes()[domain.len() - parent.len() - 1] == b'.'
}

/// A name pattern, or an address in the config, is not valid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{text:?} is not a sender domain pattern (*, contoso.com or *.contoso.com)")]
    SenderDomainPattern { text: String, source: AddressError },
    #[error("{text:?} is not a certificate name (mail.contoso.com or *.contoso.com)")]
    CertName { text: String, source: AddressError },
    #[error("{text:?} is not an email address: {source}")]
    Mailbox { text: String, source: AddressError },
    #[error(transparent)]
    Domain(#[from] AddressError),
}

/// An inbound connector's `sender_domains` entry: `*`, `contoso.com` or `*.contoso.com`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SenderDomainPattern {
    /// `*`: every sender, the null sender included, so that bounces cannot use a side door.
    Any,
    /// `contoso.com`: that domain only.
    Exact(String),
    /// `*.contoso.com`: the subdomains of contoso.com, not contoso.com itself.
    Subdomains(String),
}

impl SenderDomainPattern {
    pub fn parse(s: &str) -> Result<SenderDomainPattern, NameError> {
        let s = s.trim();
        if s == "*" {
            return Ok(SenderDomainPattern::Any);
        }
        if let Some(base) = s.strip_prefix("*.") {
            return Ok(SenderDomainPattern::Subdomains(parse_domain_name(base)?));
        }
        parse_domain_name(s)
            .map(SenderDomainPattern::Exact)
            .map_err(|source| NameError::SenderDomainPattern { text: s.to_string(), source })
    }

    /// Whether a sender domain falls under the pattern. `None` is the null sender (or an
    /// address literal), which only `*` covers.
    pub fn covers(&self, sender_domain: Option<&str>) -> bool {
        match (self, sender_domain) {
            (SenderDomainPattern::Any, _) => true,
            (SenderDomainPattern::Exact(d), Some(s)) => s == d,
            (SenderDomainPattern::Subdomains(d), Some(s)) => is_strict_subdomain(s, d),
            (_, None) => false,
        }
    }

    /// Larger is more specific; used to pick among connectors that cover the same sender.
    pub fn specificity(&self) -> usize {
        match self {
            SenderDomainPattern::Any => 0,
            SenderDomainPattern::Subdomains(d) => 1 + 2 * d.len(),
            SenderDomainPattern::Exact(d) => 2 + 2 * d.len(),
        }
    }
}

impl fmt::Display for SenderDomainPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SenderDomainPattern::Any => f.write_str("*"),
            SenderDomainPattern::Exact(d) => f.write_str(d),
            SenderDomainPattern::Subdomains(d) => write!(f, "*.{d}"),
        }
    }
}

/// A certificate name a connector or rule expects: `mail.contoso.com`, or `*.contoso.com`
/// for exactly one more label (RFC 6125 semantics, the stricter reading).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CertNamePattern {
    base: String,
    wildcard: bool,
}

impl CertNamePattern {
    pub fn parse(s: &str) -> Result<CertNamePattern, NameError> {
        let s = s.trim();
        let (base, wildcard) = match s.strip_prefix("*.") {
            Some(base) => (base, true),
            None => (s, false),
        };
        let base = parse_domain_name(base).map_err(|source| NameError::CertName { text: s.to_string(), source })?;
        Ok(CertNamePattern { base, wildcard })
    }

    /// Whether a name from a verified certificate satisfies the pattern. A wildcard in the
    /// certificate itself only matches the identical wildcard pattern.
    pub fn matches(&self, cert_name: &str) -> bool {
        let name = cert_name.strip_suffix('.').unwrap_or(cert_name).to_ascii_lowercase();
        if !self.wildcard {
            return name == self.base;
        }
        if name.strip_prefix("*.") == Some(self.base.as_str()) {
            return true;
        }
        match name.split_once('.') {
            Some((label, rest)) => !label.is_empty() && label != "*" && rest == self.base,
            None => false,
        }
    }
}

impl fmt::Display for CertNamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wildcard {
            f.write_str("*.")?;
        }
        f.write_str(&self.base)
    }
}

/// Deserialises a string through `parse`, raising the error inside the visitor so that the
/// TOML deserializer attaches the value's own span (an array element, not the whole array).
pub(crate) fn from_str_with<'de, D, T, F>(d: D, parse: fn(&str) -> Result<T, F>) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    F: fmt::Display,
{
    struct V<T, F>(fn(&str) -> Result<T, F>);
    impl<T, F: fmt::Display> de::Visitor<'_> for V<T, F> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            (self.0)(v).map_err(E::custom)
        }
    }
    d.deserialize_str(V(parse))
}

/// Implements `Deserialize` (from a string, through `parse`) and optionally `Serialize`
/// (through `Display`).
macro_rules! string_form {
    ($ty:ty, $parse:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::names::from_str_with(d, $parse)
            }
        }
    };
    ($ty:ty, $parse:expr, serialize) => {
        string_form!($ty, $parse);
        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}
pub(crate) use string_form;

string_form!(DomainName, DomainName::parse);
string_form!(SenderDomainPattern, SenderDomainPattern::parse, serialize);
string_form!(CertNamePattern, CertNamePattern::parse, serialize);
string_form!(Mailbox, |s: &str| parse_mailbox(s).map_err(|source| NameError::Mailbox { text: s.to_string(), source }));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_domain_patterns() {
        let any = SenderDomainPattern::parse("*").unwrap();
        let exact = SenderDomainPattern::parse("Contoso.com").unwrap();
        let sub = SenderDomainPattern::parse("*.contoso.com").unwrap();
        assert!(any.covers(Some("example.net")) && any.covers(None));
        assert!(exact.covers(Some("contoso.com")) && !exact.covers(Some("mail.contoso.com")) && !exact.covers(None));
        assert!(sub.covers(Some("mail.contoso.com")) && sub.covers(Some("a.b.contoso.com")));
        assert!(!sub.covers(Some("contoso.com")) && !sub.covers(Some("evilcontoso.com")));
        assert!(SenderDomainPattern::parse("*contoso.com").is_err());
        assert!(exact.specificity() > sub.specificity() && sub.specificity() > any.specificity());
    }

    #[test]
    fn certificate_names() {
        let exact = CertNamePattern::parse("mail.contoso-gateway.net").unwrap();
        assert!(exact.matches("MAIL.contoso-gateway.net") && exact.matches("mail.contoso-gateway.net."));
        assert!(!exact.matches("smtp.contoso-gateway.net"));
        let wild = CertNamePattern::parse("*.contoso-gateway.net").unwrap();
        assert!(wild.matches("mail.contoso-gateway.net"));
        assert!(wild.matches("*.contoso-gateway.net"));
        assert!(!wild.matches("contoso-gateway.net"));
        assert!(!wild.matches("a.b.contoso-gateway.net"));
        assert!(!wild.matches("mail.evil-contoso-gateway.net"));
        assert!(!exact.matches("*.contoso-gateway.net"));
    }

    #[test]
    fn rule_domains_cover_subdomains() {
        let d = DomainName::parse("contoso.com").unwrap();
        assert!(d.covers("contoso.com") && d.covers("eu.contoso.com"));
        assert!(!d.covers("notcontoso.com"));
    }
}
