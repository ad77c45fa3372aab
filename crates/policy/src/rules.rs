//! Transport rule predicates. Each kind of condition or exception is one [`Predicate`] arm:
//! the engine checks it against the facts of a tenant copy ([`Predicate::holds`]), and the
//! audit learns from the same arm what it tells apart ([`Predicate::boundaries`]). A kind
//! cannot be checked without saying what it distinguishes.

use doorman_config::address::{Mailbox, ReversePath};
use doorman_config::names::{CertNamePattern, DomainName};
use doorman_config::net::IpEntry;
use doorman_config::{Actions, FromScope, HeaderContains, Predicates, SenderAddressLocation};

use crate::boundary::{Boundaries, Fact};
use crate::connector::ConnectorMatch;
use crate::headers::MessageHeaders;
use crate::session::Session;

/// Everything a predicate may look at.
pub(crate) struct Facts<'a> {
    pub session: &'a Session,
    pub mail_from: &'a ReversePath,
    pub recipients: &'a [Mailbox],
    pub connector: Option<&'a ConnectorMatch>,
    pub in_organization: bool,
    pub headers: &'a MessageHeaders,
}

/// One condition or exception of a rule, as set in the config.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Predicate<'a> {
    SenderIpRanges(&'a [IpEntry]),
    InboundConnector(&'a [String]),
    TlsCertificateName(&'a [CertNamePattern]),
    SenderDomainIs(&'a [DomainName], SenderAddressLocation),
    RecipientDomainIs(&'a [DomainName]),
    FromScope(FromScope),
    HeaderContains(&'a HeaderContains),
}

/// Every predicate that is set, in a fixed order. The destructuring names every field, so a
/// new kind of predicate in the config fails to compile here until it has an arm.
pub(crate) fn predicates(p: &Predicates, location: SenderAddressLocation) -> Vec<Predicate<'_>> {
    let Predicates {
        sender_ip_ranges,
        inbound_connector,
        tls_certificate_name,
        sender_domain_is,
        recipient_domain_is,
        from_scope,
        header_contains,
    } = p;
    let mut out = Vec::new();
    if !sender_ip_ranges.is_empty() {
        out.push(Predicate::SenderIpRanges(sender_ip_ranges));
    }
    if !inbound_connector.is_empty() {
        out.push(Predicate::InboundConnector(inbound_connector));
    }
    if !tls_certificate_name.is_empty() {
        out.push(Predicate::TlsCertificateName(tls_certificate_name));
    }
    if !sender_domain_is.is_empty() {
        out.push(Predicate::SenderDomainIs(sender_domain_is, location));
    }
    if !recipient_domain_is.is_empty() {
        out.push(Predicate::RecipientDomainIs(recipient_domain_is));
    }
    if let Some(scope) = from_scope {
        out.push(Predicate::FromScope(*scope));
    }
    out.extend(header_contains.iter().map(Predicate::HeaderContains));
    out
}

/// Whether one `header_contains` condition holds: a case-insensitive substring of a decoded
/// value of the header. The index of the word that matched.
pub fn header_contains_match(h: &HeaderContains, headers: &MessageHeaders) -> Option<usize> {
    let words: Vec<String> = h.words.iter().map(|w| w.to_lowercase()).collect();
    headers.values(&h.header).find_map(|v| {
        let lower = v.to_lowercase();
        words.iter().position(|w| lower.contains(w.as_str()))
    })
}

/// [`header_contains_match`] as a yes or no; what the audit evaluates its content atoms with.
pub fn header_contains_holds(h: &HeaderContains, headers: &MessageHeaders) -> bool {
    header_contains_match(h, headers).is_some()
}

impl Predicate<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            Predicate::SenderIpRanges(_) => "sender_ip_ranges",
            Predicate::InboundConnector(_) => "inbound_connector",
            Predicate::TlsCertificateName(_) => "tls_certificate_name",
            Predicate::SenderDomainIs(..) => "sender_domain_is",
            Predicate::RecipientDomainIs(_) => "recipient_domain_is",
            Predicate::FromScope(_) => "from_scope",
            Predicate::HeaderContains(_) => "header_contains",
        }
    }

    /// The domains `sender_domain_is` looks at, by where it looks.
    fn sender_domains<'f>(location: SenderAddressLocation, f: &'f Facts) -> Vec<(&'static str, Option<&'f str>)> {
        let mut looked = Vec::new();
        if matches!(location, SenderAddressLocation::Header | SenderAddressLocation::HeaderOrEnvelope) {
            looked.push(("From header", f.headers.from_domain()));
        }
        if matches!(location, SenderAddressLocation::Envelope | SenderAddressLocation::HeaderOrEnvelope) {
            looked.push(("envelope sender", f.mail_from.domain()));
        }
        looked
    }

    pub fn holds(&self, f: &Facts) -> bool {
        match *self {
            Predicate::SenderIpRanges(ranges) => ranges.iter().any(|e| e.contains(f.session.client_ip)),
            Predicate::InboundConnector(names) => {
                f.connector.is_some_and(|c| names.iter().any(|want| want.eq_ignore_ascii_case(&c.name)))
            }
            Predicate::TlsCertificateName(patterns) => {
                f.session.verified_names().iter().any(|n| patterns.iter().any(|p| p.matches(n)))
            }
            Predicate::SenderDomainIs(domains, location) => Self::sender_domains(location, f)
                .iter()
                .any(|(_, d)| d.is_some_and(|d| domains.iter().any(|want| want.covers(d)))),
            Predicate::RecipientDomainIs(domains) => {
                f.recipients.iter().filter_map(|m| m.domain_name()).any(|d| domains.iter().any(|want| want.covers(d)))
            }
            Predicate::FromScope(scope) => f.in_organization == (scope == FromScope::InOrganization),
            Predicate::HeaderContains(h) => header_contains_holds(h, f.headers),
        }
    }

    /// What the predicate found, for the trace; only built when a trace is explained.
    pub fn detail(&self, f: &Facts) -> String {
        let ip = f.session.client_ip;
        match *self {
            Predicate::SenderIpRanges(ranges) => match ranges.iter().find(|e| e.contains(ip)) {
                Some(e) => format!("client {ip} is in {}", e.label()),
                None => format!("client {ip} is in none of {}", list(ranges.iter().map(|e| e.label()))),
            },
            Predicate::InboundConnector(names) => {
                let came = f.connector.map_or("no connector".to_string(), |c| format!("connector {:?}", c.name));
                format!(
                    "the message came through {came}; the rule wants {}",
                    list(names.iter().map(|n| format!("{n:?}")))
                )
            }
            Predicate::TlsCertificateName(patterns) => {
                let names = f.session.verified_names();
                match names.iter().find(|n| patterns.iter().any(|p| p.matches(n))) {
                    Some(n) => format!("the verified certificate name {n} matches"),
                    None if names.is_empty() => "the client presented no verified certificate".into(),
                    None => {
                        format!("the certificate names {} match none of {}", names.join(", "), list(patterns.iter()))
                    }
                }
            }
            Predicate::SenderDomainIs(domains, location) => {
                let looked = Self::sender_domains(location, f);
                let hit = looked
                    .iter()
                    .find_map(|(w, d)| d.filter(|d| domains.iter().any(|want| want.covers(d))).map(|d| (w, d)));
                match hit {
                    Some((w, d)) => format!("the {w} domain {d} is one of {}", list(domains.iter())),
                    None => {
                        let seen = list(looked.iter().map(|(w, d)| format!("{w} {}", d.unwrap_or("(none)"))));
                        format!("{seen}: not one of {}", list(domains.iter()))
                    }
                }
            }
            Predicate::RecipientDomainIs(domains) => {
                let hit = f
                    .recipients
                    .iter()
                    .filter_map(|m| m.domain_name())
                    .find(|d| domains.iter().any(|want| want.covers(d)));
                match hit {
                    Some(d) => format!("recipient domain {d} is one of {}", list(domains.iter())),
                    None => format!("no recipient domain is one of {}", list(domains.iter())),
                }
            }
            Predicate::FromScope(_) => {
                let is = if f.in_organization {
                    "in the organization (own domain, on-premises connector)"
                } else {
                    "not in the organization"
                };
                format!("the sender is {is}")
            }
            Predicate::HeaderContains(h) => match header_contains_match(h, f.headers) {
                Some(i) => format!("header {} contains {:?}", h.header, h.words[i]),
                None => {
                    format!("header {} contains none of {}", h.header, list(h.words.iter().map(|w| format!("{w:?}"))))
                }
            },
        }
    }

    /// What the predicate tells apart, for the audit's partition.
    pub fn boundaries(&self, b: &mut Boundaries) {
        match *self {
            Predicate::SenderIpRanges(ranges) => {
                b.facts.insert(Fact::ClientIp);
                b.networks.extend(ranges.iter().flat_map(|e| e.nets.iter().copied()));
            }
            // Which connector took the message is decided at RCPT from the client IP, the
            // certificate and the sender domain, whose boundaries the connectors give.
            Predicate::InboundConnector(_) => {
                b.facts.insert(Fact::Connector);
            }
            Predicate::TlsCertificateName(patterns) => {
                b.facts.insert(Fact::CertificateName);
                b.certificate_names.extend(patterns.iter().cloned());
            }
            Predicate::SenderDomainIs(domains, location) => {
                if location != SenderAddressLocation::Envelope {
                    b.facts.insert(Fact::FromHeader);
                    b.from_domains.extend(domains.iter().cloned());
                }
                if location != SenderAddressLocation::Header {
                    b.facts.insert(Fact::EnvelopeSender);
                    b.envelope_domains.extend(domains.iter().cloned());
                }
            }
            Predicate::RecipientDomainIs(domains) => {
                b.facts.insert(Fact::Recipient);
                b.recipient_domains.extend(domains.iter().cloned());
            }
            // In the organization: an own domain (the accepted domains' boundaries) through an
            // on-premises connector (the connectors' boundaries).
            Predicate::FromScope(_) => {
                b.facts.insert(Fact::OwnDomain);
                b.facts.insert(Fact::Connector);
            }
            Predicate::HeaderContains(h) => {
                b.facts.insert(Fact::HeaderContent);
                b.header_conditions.push(h.clone());
            }
        }
    }
}

/// The result of one predicate on one copy.
pub(crate) struct PredicateResult<'a> {
    pub predicate: Predicate<'a>,
    pub holds: bool,
}

impl PredicateResult<'_> {
    pub fn name(&self) -> &'static str {
        self.predicate.name()
    }
}

/// Evaluates every predicate that is set, in a fixed order.
pub(crate) fn evaluate<'a>(p: &'a Predicates, location: SenderAddressLocation, f: &Facts) -> Vec<PredicateResult<'a>> {
    predicates(p, location)
        .into_iter()
        .map(|predicate| PredicateResult { holds: predicate.holds(f), predicate })
        .collect()
}

/// The `header_contains` conditions of a rule that can still decide whether it matches once
/// every other fact is known: none when another condition fails or another exception holds.
pub(crate) fn content_in_play<'a>(
    conditions: &'a Predicates,
    exceptions: &'a Predicates,
    location: SenderAddressLocation,
    f: &Facts,
) -> Vec<&'a HeaderContains> {
    let (cond, exc) = (predicates(conditions, location), predicates(exceptions, location));
    let decided = |p: &Predicate| !matches!(p, Predicate::HeaderContains(_));
    if cond.iter().filter(|p| decided(p)).any(|p| !p.holds(f)) || exc.iter().filter(|p| decided(p)).any(|p| p.holds(f))
    {
        return Vec::new();
    }
    cond.iter()
        .chain(&exc)
        .filter_map(|p| match p {
            Predicate::HeaderContains(h) => Some(*h),
            _ => None,
        })
        .collect()
}

/// The actions of a rule, each in a few words, for traces and the tracking log.
pub(crate) fn describe_actions(a: &Actions) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(scl) = a.set_scl {
        out.push(format!("set SCL {scl}"));
    }
    if let Some(h) = &a.set_header {
        out.push(format!("set header {}: {}", h.name, h.value));
    }
    if let Some(p) = &a.prepend_subject {
        out.push(format!("prepend {p:?} to the subject"));
    }
    if !a.redirect_to.is_empty() {
        out.push(format!("redirect to {}", list(a.redirect_to.iter())));
    }
    if a.quarantine {
        out.push("quarantine".into());
    }
    if a.delete {
        out.push("delete silently".into());
    }
    if let Some(r) = &a.reject {
        out.push(format!("reject with {} {}", r.enhanced_status_code, r.text));
    }
    out
}

fn list<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items.into_iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}
