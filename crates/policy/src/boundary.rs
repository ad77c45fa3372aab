//! What the engine's predicates can tell apart: the boundaries the audit cuts each tenant's
//! sender space at.
//!
//! Every decision at RCPT and DATA is made of predicates on a few session facts ([`Fact`]).
//! [`Policy::boundaries`] lists, for one tenant, every value a predicate compares a fact with.
//! It names every field of the config that feeds a decision, without `..`, so a new field
//! does not compile until it is listed here or said to be no boundary; rule predicates list
//! theirs in [`crate::rules::Predicate::boundaries`], next to the check itself.

use std::collections::BTreeSet;

use doorman_config::names::{CertNamePattern, DomainName, SenderDomainPattern};
use doorman_config::{
    AcceptedDomain, ConnectionFilter, HeaderContains, InboundConnector, Server, Tenant, TransportRule,
};
use ipnet::IpNet;

use crate::rules::predicates;
use crate::snapshot::{Policy, TenantId};

/// A session fact that some predicate reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fact {
    /// The client's address after PROXY (connection filter, connectors, rule ranges).
    ClientIp,
    /// Whether the session uses TLS (`require_tls`).
    Tls,
    /// The names on a verified client certificate (connectors, rules).
    CertificateName,
    /// The envelope sender's domain (connectors' sender domains, rules).
    EnvelopeSender,
    /// Whether a domain is one of the tenant's own, by the most specific accepted domain
    /// (direct send, `from_scope`).
    OwnDomain,
    /// The `From:` header's domain (rules on the header).
    FromHeader,
    /// The recipient's domain (tenant attribution, rules).
    Recipient,
    /// Whether the directory holds the recipient.
    Directory,
    /// Which connector took the message: derived from the client IP, certificate and sender.
    Connector,
    /// Header contents (`header_contains`), which the sender writes.
    HeaderContent,
    /// DNSBL answers for the client.
    Dnsbl,
}

impl Fact {
    pub const ALL: [Fact; 11] = [
        Fact::ClientIp,
        Fact::Tls,
        Fact::CertificateName,
        Fact::EnvelopeSender,
        Fact::OwnDomain,
        Fact::FromHeader,
        Fact::Recipient,
        Fact::Directory,
        Fact::Connector,
        Fact::HeaderContent,
        Fact::Dnsbl,
    ];
}

/// The values a tenant's predicates compare session facts with.
#[derive(Clone, Debug, Default)]
pub struct Boundaries {
    /// The facts read at all.
    pub facts: BTreeSet<Fact>,
    /// Client networks, canonical (IPv4-mapped IPv6 folded into IPv4).
    pub networks: Vec<IpNet>,
    pub certificate_names: Vec<CertNamePattern>,
    /// Connectors' `sender_domains`.
    pub sender_patterns: Vec<SenderDomainPattern>,
    /// `sender_domain_is` of rules that look at the envelope.
    pub envelope_domains: Vec<DomainName>,
    /// `sender_domain_is` of rules that look at the `From:` header.
    pub from_domains: Vec<DomainName>,
    /// `recipient_domain_is`.
    pub recipient_domains: Vec<DomainName>,
    pub header_conditions: Vec<HeaderContains>,
    /// The tenant's accepted domains. Ownership is decided across tenants (the most specific
    /// accepted domain wins), so the accepted domains above and below these bear on it too.
    pub accepted_domains: Vec<DomainName>,
    pub dnsbl_zones: Vec<DomainName>,
}

impl Boundaries {
    /// Takes in another set (another config's, for `doorman diff`).
    pub fn merge(&mut self, other: Boundaries) {
        self.facts.extend(other.facts);
        self.networks.extend(other.networks);
        self.certificate_names.extend(other.certificate_names);
        self.sender_patterns.extend(other.sender_patterns);
        self.envelope_domains.extend(other.envelope_domains);
        self.from_domains.extend(other.from_domains);
        self.recipient_domains.extend(other.recipient_domains);
        self.header_conditions.extend(other.header_conditions);
        self.accepted_domains.extend(other.accepted_domains);
        self.dnsbl_zones.extend(other.dnsbl_zones);
    }
}

impl Policy {
    /// Every boundary the predicates deciding `tenant`'s RCPT and DATA distinguish.
    pub fn boundaries(&self, tenant: TenantId) -> Boundaries {
        let mut b = Boundaries::default();
        server(&self.config().server, &mut b);
        let Tenant {
            // Labels and the MX: the audit's business (front or side door), no decision's.
            name: _,
            mx: _,
            accepted_domains,
            // The directory is looked up by address; the audit tries a member and a
            // stranger of each region.
            recipients: _,
            recipients_file: _,
            recipients_from_file: _,
            inbound_connectors,
            connection_filter,
            transport_rules,
            // A switch on the own-domain fact.
            reject_direct_send: _,
            // Turns the SCL the rules set into a disposition: a constant, no fact of a session.
            scl_junk_threshold: _,
            // After acceptance, on facts from DNS and the message's content that no sender
            // class fixes: the audit reports per door whether they apply, not a partition.
            anti_spam: _,
            dmarc_reject_action: _,
            trusted_arc_sealers: _,
            // After acceptance.
            routing: _,
        } = self.tenant(tenant).config;
        b.facts.extend([Fact::Recipient, Fact::Directory, Fact::OwnDomain]);
        for d in accepted_domains {
            let AcceptedDomain { domain, kind: _, match_subdomains: _ } = d;
            b.accepted_domains.push(domain.clone());
        }
        for c in inbound_connectors {
            connector(c, &mut b);
        }
        let ConnectionFilter { ip_allow_list, ip_block_list } = connection_filter;
        for e in ip_allow_list.iter().chain(ip_block_list) {
            b.facts.insert(Fact::ClientIp);
            b.networks.extend(e.nets.iter().copied());
        }
        for r in transport_rules {
            rule(r, &mut b);
        }
        b
    }
}

fn server(s: &Server, b: &mut Boundaries) {
    let Server {
        dnsbl_zones,
        // Before RCPT (PROXY trust, connection counts) or the same for every sender (the
        // limits: the engine decides them before any tenant's check), or I/O.
        hostname: _,
        listeners: _,
        tls: _,
        trusted_proxies: _,
        limits: _,
        spool_dir: _,
        spool_sync: _,
        tracking_log: _,
        dns: _,
        metrics_listener: _,
        queue: _,
        // After acceptance, on facts no sender class fixes.
        authentication: _,
        spam_filter: _,
        // Which configs a reload takes, not what a session gets.
        allow_empty: _,
    } = s;
    if !dnsbl_zones.is_empty() {
        b.facts.insert(Fact::Dnsbl);
        b.dnsbl_zones.extend(dnsbl_zones.iter().cloned());
    }
}

fn connector(c: &InboundConnector, b: &mut Boundaries) {
    let InboundConnector {
        name: _,
        // Constants of the connector, not facts of a session.
        kind: _,
        enabled: _,
        restrict_domains_to_ip_addresses: _,
        restrict_domains_to_certificate: _,
        comment: _,
        // Which client authentication judges, after acceptance.
        enhanced_filtering: _,
        sender_domains,
        sender_ip_addresses,
        tls_sender_certificate_name,
        require_tls,
    } = c;
    b.facts.insert(Fact::EnvelopeSender);
    b.sender_patterns.extend(sender_domains.iter().cloned());
    b.facts.insert(Fact::ClientIp);
    b.networks.extend(sender_ip_addresses.iter().flat_map(|e| e.nets.iter().copied()));
    if let Some(p) = tls_sender_certificate_name {
        b.facts.insert(Fact::CertificateName);
        b.certificate_names.push(p.clone());
    }
    if *require_tls {
        b.facts.insert(Fact::Tls);
    }
}

fn rule(r: &TransportRule, b: &mut Boundaries) {
    let TransportRule {
        // Constants of the rule: they decide what a match does, not whether it matches.
        name: _,
        priority: _,
        mode: _,
        enabled: _,
        actions: _,
        stop_processing: _,
        comment: _,
        sender_address_location,
        conditions,
        exceptions,
    } = r;
    for p in
        predicates(conditions, *sender_address_location).iter().chain(&predicates(exceptions, *sender_address_location))
    {
        p.boundaries(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Predicate;
    use doorman_config::{FromScope, SenderAddressLocation};

    /// One example of every kind of rule predicate; the match has no wildcard, so a new kind
    /// needs an example here.
    fn example(kind: &Predicate<'static>) -> &'static str {
        match kind {
            Predicate::SenderIpRanges(_) => "conditions.sender_ip_ranges = [\"192.0.2.0/24\"]",
            Predicate::InboundConnector(_) => "conditions.inbound_connector = [\"c\"]",
            Predicate::TlsCertificateName(_) => "conditions.tls_certificate_name = [\"*.gw.test\"]",
            Predicate::SenderDomainIs(..) => "conditions.sender_domain_is = [\"partner.test\"]",
            Predicate::RecipientDomainIs(_) => "conditions.recipient_domain_is = [\"eu.contoso.test\"]",
            Predicate::FromScope(_) => "conditions.from_scope = \"in_organization\"",
            Predicate::HeaderContains(_) => {
                "conditions.header_contains = [{ header = \"Subject\", words = [\"[SPAM]\"] }]"
            }
        }
    }

    #[test]
    fn every_predicate_kind_names_what_it_distinguishes() {
        static NAMES: [String; 0] = [];
        let header: &'static HeaderContains =
            Box::leak(Box::new(HeaderContains { header: "Subject".into(), words: Vec::new() }));
        let kinds: [Predicate<'static>; 7] = [
            Predicate::SenderIpRanges(&[]),
            Predicate::InboundConnector(&NAMES),
            Predicate::TlsCertificateName(&[]),
            Predicate::SenderDomainIs(&[], SenderAddressLocation::Header),
            Predicate::RecipientDomainIs(&[]),
            Predicate::FromScope(FromScope::InOrganization),
            Predicate::HeaderContains(header),
        ];
        let boundaries = |rule: &str| {
            let toml = format!(
                "[[tenants]]\nname = \"t\"\nmx = [\"self\"]\naccepted_domains = [{{ domain = \"contoso.test\" }}]\n\
                 [[tenants.inbound_connectors]]\nname = \"c\"\ntype = \"partner\"\n{rule}"
            );
            let loaded = doorman_config::load_str("t.toml", &toml, std::path::Path::new(".")).unwrap();
            format!("{:?}", Policy::new(loaded.config).boundaries(TenantId(0)))
        };
        let bare = boundaries("");
        for kind in &kinds {
            let rule = format!("[[tenants.transport_rules]]\nname = \"r\"\n{}\nactions.set_scl = 1\n", example(kind));
            assert_ne!(boundaries(&rule), bare, "{} names no boundary", kind.name());
        }
    }
}
