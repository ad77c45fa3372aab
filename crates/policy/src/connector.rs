//! Inbound connector attribution (RCPT TO, step 3): which of the tenant's connectors a
//! message came through, or that a restricting Partner connector refuses it.
//!
//! The order follows Exchange Online:
//! 1. A connector the client *satisfies*: its verified certificate name or its IP matches, and
//!    the connector covers the envelope sender's domain. For a Partner connector, every
//!    restriction it sets must hold. Certificate matches beat IP matches, a longer prefix beats
//!    a shorter one, on-premises beats partner, and then file order decides.
//! 2. Otherwise, a restricting Partner connector that covers the sender domain refuses the
//!    message (5.7.51). This is what closes the side door.
//! 3. Otherwise, an unrestricted Partner connector covering the sender domain is attributed by
//!    sender domain alone. That is weak: it does not exempt from direct-send or DNSBL checks.
//! 4. Otherwise the message is anonymous: mail "from the internet".

use std::sync::Arc;

use doorman_config::names::{CertNamePattern, SenderDomainPattern};
use doorman_config::{ConnectorType, InboundConnector};
use ipnet::IpNet;
use serde::Serialize;

use crate::session::Session;
use crate::snapshot::TenantView;

/// How a connector was matched.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum MatchedBy {
    /// The name on a verified client certificate.
    Certificate {
        #[serde(rename = "certificate")]
        name: String,
    },
    /// The client IP, within this network of `sender_ip_addresses`.
    Ip {
        #[serde(serialize_with = "crate::ser_display")]
        network: IpNet,
    },
    /// Only the envelope sender's domain (an unrestricted Partner connector).
    SenderDomain { pattern: String },
}

impl MatchedBy {
    /// Matched by IP or certificate: the client proved who it is.
    pub fn is_authenticated(&self) -> bool {
        !matches!(self, MatchedBy::SenderDomain { .. })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ConnectorMatch {
    /// Index into the tenant's `inbound_connectors`.
    #[serde(skip)]
    pub index: usize,
    pub name: Arc<str>,
    #[serde(rename = "type")]
    pub kind: ConnectorType,
    #[serde(flatten)]
    pub by: MatchedBy,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attribution {
    Matched(ConnectorMatch),
    /// A restricting Partner connector covers the sender; the client satisfies it not.
    Restricted {
        index: usize,
    },
    Anonymous,
}

/// Attributes a message from `session` with envelope sender domain `sender_domain` (`None`
/// for the null sender) to one of `tenant`'s connectors.
pub fn attribute(tenant: TenantView<'_>, session: &Session, sender_domain: Option<&str>) -> Attribution {
    attribute_with(tenant, session, sender_domain, &tenant.ip_hits(session.client_ip).connectors)
}

/// [`attribute`] with the connectors listing the client IP already looked up.
pub(crate) fn attribute_with(
    tenant: TenantView<'_>,
    session: &Session,
    sender_domain: Option<&str>,
    ip_hits: &[(usize, IpNet)],
) -> Attribution {
    let summary = tenant.index.summary;
    if summary.connectors == 0 {
        return Attribution::Anonymous;
    }
    let connectors = &tenant.index.connectors;
    let names = session.verified_names();

    // (rank, connector) where a larger rank wins; ties keep the earlier connector. Only a
    // listed IP or a verified certificate can satisfy a connector, so a stranger skips this.
    let mut best: Option<((u8, u8, u8), usize, MatchedBy)> = None;
    let candidates = if ip_hits.is_empty() && names.is_empty() { &[][..] } else { &connectors[..] };
    for (i, c) in candidates.iter().enumerate() {
        if !c.enabled || !c.covers(sender_domain) {
            continue;
        }
        let cert = match (&c.cert, names) {
            (Some(p), [_, ..]) => names.iter().find(|n| p.matches(n)),
            _ => None,
        };
        let ip = ip_hits.iter().find(|(ci, _)| *ci == i).map(|(_, net)| *net);
        let satisfied = match c.kind {
            ConnectorType::OnPremises => cert.is_some() || ip.is_some(),
            ConnectorType::Partner => {
                (cert.is_some() || ip.is_some())
                    && (!c.restrict_ip || ip.is_some())
                    && (!c.restrict_cert || cert.is_some())
            }
        };
        if !satisfied {
            continue;
        }
        let on_prem = u8::from(c.kind == ConnectorType::OnPremises);
        let (rank, by) = match (cert, ip) {
            (Some(name), _) => ((2, 0, on_prem), MatchedBy::Certificate { name: name.clone() }),
            (None, Some(net)) => ((1, net.prefix_len(), on_prem), MatchedBy::Ip { network: net }),
            (None, None) => unreachable!("satisfied implies a certificate or IP match"),
        };
        if best.as_ref().is_none_or(|(r, _, _)| rank > *r) {
            best = Some((rank, i, by));
        }
    }
    if let Some((_, index, by)) = best {
        return Attribution::Matched(connectors[index].matched(tenant, index, by));
    }

    // The most specific Partner connector covering the sender, restricting or not.
    let most_specific = |want_restricting: bool| match summary.any_sender {
        true => {
            let i = if want_restricting { summary.restricting } else { summary.unrestricted };
            (i != NONE).then_some((None, i as usize))
        }
        false => connectors
            .iter()
            .enumerate()
            .filter(|(_, c)| c.enabled && c.kind == ConnectorType::Partner && c.restricts() == want_restricting)
            .filter_map(|(i, c)| c.best_pattern(sender_domain).map(|p| (p, i)))
            .min_by_key(|(p, i)| (std::cmp::Reverse(p.map_or(0, SenderDomainPattern::specificity)), *i)),
    };
    if let Some((_, index)) = most_specific(true) {
        return Attribution::Restricted { index };
    }
    if let Some((pattern, index)) = most_specific(false) {
        let pattern = pattern.map_or_else(|| "*".to_string(), |p| p.to_string());
        return Attribution::Matched(connectors[index].matched(tenant, index, MatchedBy::SenderDomain { pattern }));
    }
    Attribution::Anonymous
}

/// The few facts about a tenant's connectors that every RCPT reads, packed into the first
/// bytes of the tenant's record, so that a stranger's RCPT reads no further.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub(crate) struct Summary {
    pub connectors: u16,
    /// When every enabled Partner connector covers `*`, the fallback of step 2 and 3 is the
    /// same for every sender: the first restricting and the first unrestricted one ([`NONE`]
    /// for none), looked up here instead of searched for.
    restricting: u16,
    unrestricted: u16,
    any_sender: bool,
    /// `reject_direct_send`, which needs the attribution's outcome.
    pub reject_direct_send: bool,
}

const NONE: u16 = u16::MAX;

impl Summary {
    pub fn new(facts: &[ConnectorFacts], reject_direct_send: bool) -> Summary {
        let partners = || facts.iter().enumerate().filter(|(_, c)| c.enabled && c.kind == ConnectorType::Partner);
        let first =
            |restricting: bool| partners().find(|(_, c)| c.restricts() == restricting).map_or(NONE, |(i, _)| i as u16);
        // Beyond u16 indexes the search runs instead; no tenant has that many connectors.
        let any_sender = facts.len() < NONE as usize && partners().all(|(_, c)| c.senders.is_none());
        Summary {
            connectors: facts.len().min(NONE as usize) as u16,
            restricting: first(true),
            unrestricted: first(false),
            any_sender,
            reject_direct_send,
        }
    }
}

/// What attribution needs of one connector, compiled once and kept next to its siblings,
/// so a decision does not walk the config's nested lists.
pub(crate) struct ConnectorFacts {
    kind: ConnectorType,
    enabled: bool,
    restrict_ip: bool,
    restrict_cert: bool,
    pub require_tls: bool,
    /// `None` when `*` is among the patterns: every sender, the null sender included.
    senders: Option<Box<[SenderDomainPattern]>>,
    cert: Option<CertNamePattern>,
}

impl ConnectorFacts {
    pub(crate) fn new(c: &InboundConnector) -> ConnectorFacts {
        let any = c.sender_domains.contains(&SenderDomainPattern::Any);
        ConnectorFacts {
            kind: c.kind,
            enabled: c.enabled,
            restrict_ip: c.restrict_domains_to_ip_addresses,
            restrict_cert: c.restrict_domains_to_certificate,
            require_tls: c.require_tls,
            senders: (!any).then(|| c.sender_domains.clone().into_boxed_slice()),
            cert: c.tls_sender_certificate_name.clone(),
        }
    }

    fn restricts(&self) -> bool {
        self.restrict_ip || self.restrict_cert
    }

    fn covers(&self, sender_domain: Option<&str>) -> bool {
        match &self.senders {
            None => true,
            Some(patterns) => patterns.iter().any(|p| p.covers(sender_domain)),
        }
    }

    /// The most specific pattern covering the sender: `Some(None)` for `*`.
    fn best_pattern(&self, sender_domain: Option<&str>) -> Option<Option<&SenderDomainPattern>> {
        match &self.senders {
            None => Some(None),
            Some(patterns) => {
                patterns.iter().filter(|p| p.covers(sender_domain)).max_by_key(|p| p.specificity()).map(Some)
            }
        }
    }

    fn matched(&self, tenant: TenantView<'_>, index: usize, by: MatchedBy) -> ConnectorMatch {
        ConnectorMatch { index, name: tenant.connector_name(index), kind: self.kind, by }
    }
}

/// A sentence for the trace: how a connector matched.
pub fn describe_match(m: &ConnectorMatch, session: &Session, sender_domain: Option<&str>) -> String {
    let kind = kind_name(m.kind);
    match &m.by {
        MatchedBy::Certificate { name } => {
            format!("{kind} connector {:?} matched by the verified certificate name {name}", m.name)
        }
        MatchedBy::Ip { network } => {
            format!("{kind} connector {:?} matched by client IP {} in {network}", m.name, session.client_ip)
        }
        MatchedBy::SenderDomain { pattern } => format!(
            "{kind} connector {:?} matched by sender domain {} (pattern {pattern}) only, not by IP or certificate",
            m.name,
            sender_domain.unwrap_or("<> (null sender)")
        ),
    }
}

/// A sentence for the trace: why a restricting Partner connector refuses the client.
pub fn describe_restriction(c: &InboundConnector, session: &Session, sender_domain: Option<&str>) -> String {
    let mut wants = Vec::new();
    if c.restrict_domains_to_ip_addresses {
        let ips: Vec<String> = c.sender_ip_addresses.iter().map(|e| e.label()).collect();
        let ip = session.client_ip;
        let side = if c.sender_ip_addresses.iter().any(|e| e.contains(ip)) { "inside" } else { "outside" };
        wants.push(format!("IP addresses {}: the client {ip} is {side} them", ips.join(", ")));
    }
    if c.restrict_domains_to_certificate {
        let want = c.tls_sender_certificate_name.as_ref().map(|p| p.to_string()).unwrap_or_default();
        let have = match (&session.tls, session.verified_names()) {
            (None, _) => "the session has no TLS".to_string(),
            (Some(_), []) => "the client presented no verified certificate".to_string(),
            (Some(_), names) => format!("the client's verified certificate names {}", names.join(", ")),
        };
        wants.push(format!("certificate name {want}: {have}"));
    }
    let pattern = c.sender_domains.iter().find(|p| p.covers(sender_domain)).map(|p| p.to_string()).unwrap_or_default();
    format!(
        "partner connector {:?} covers sender domain {} (pattern {pattern}) and restricts it to {}",
        c.name,
        sender_domain.unwrap_or("<> (null sender)"),
        wants.join(" and ")
    )
}

pub fn kind_name(kind: ConnectorType) -> &'static str {
    match kind {
        ConnectorType::Partner => "partner",
        ConnectorType::OnPremises => "on-premises",
    }
}
