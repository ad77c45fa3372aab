//! The sender space of a tenant, cut into classes the policy cannot tell apart.
//!
//! Client IPs are cut at every boundary the tenant's config mentions (connector networks,
//! allow and block lists, rule ranges): inside one interval every entry either holds every
//! address or none, so one representative address decides for all. TLS states and envelope
//! senders are finite lists built the same way. The product of the three is exact.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use doorman_config::net::{IpEntry, range_to_nets};
use doorman_config::{Tenant, names::SenderDomainPattern};
use ipnet::IpNet;

/// A run of client addresses that the tenant's config treats alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct IpInterval {
    pub v6: bool,
    pub first: u128,
    pub last: u128,
}

impl IpInterval {
    pub fn representative(&self) -> IpAddr {
        to_ip(self.v6, self.first)
    }

    /// The interval as the fewest CIDRs.
    pub fn nets(&self) -> Vec<IpNet> {
        range_to_nets(to_ip(self.v6, self.first), to_ip(self.v6, self.last)).unwrap_or_default()
    }
}

fn to_ip(v6: bool, n: u128) -> IpAddr {
    if v6 { IpAddr::V6(Ipv6Addr::from(n)) } else { IpAddr::V4(Ipv4Addr::from(n as u32)) }
}

fn bounds(net: &IpNet) -> (bool, u128, u128) {
    match net {
        IpNet::V4(n) => (false, u32::from(n.network()) as u128, u32::from(n.broadcast()) as u128),
        IpNet::V6(n) => (true, u128::from(n.network()), u128::from(n.broadcast())),
    }
}

/// Intervals (merged, sorted) for people: each family as its CIDRs, or as
/// `all IPv4 except …` when that is shorter.
pub fn summarize(ivs: &[IpInterval]) -> String {
    let mut parts = Vec::new();
    for (v6, max, name) in [(false, u32::MAX as u128, "IPv4"), (true, u128::MAX, "IPv6")] {
        let mine: Vec<&IpInterval> = ivs.iter().filter(|i| i.v6 == v6).collect();
        if mine.is_empty() {
            continue;
        }
        let direct: Vec<String> = mine.iter().flat_map(|i| i.nets()).map(|n| n.to_string()).collect();
        let mut gaps = Vec::new();
        let mut next = 0u128;
        for i in &mine {
            if i.first > next {
                gaps.push(IpInterval { v6, first: next, last: i.first - 1 });
            }
            next = i.last.saturating_add(1);
            if i.last == max {
                next = max;
                break;
            }
        }
        if mine.last().is_some_and(|i| i.last < max) {
            gaps.push(IpInterval { v6, first: next, last: max });
        }
        let excluded: Vec<String> = gaps.iter().flat_map(|i| i.nets()).map(|n| n.to_string()).collect();
        parts.push(if excluded.is_empty() {
            format!("all {name}")
        } else if excluded.len() < direct.len() {
            format!("all {name} except {}", excluded.join(", "))
        } else {
            direct.join(", ")
        });
    }
    parts.join("; ")
}

/// Every IP entry the tenant's decisions look at.
pub fn ip_entries(t: &Tenant) -> Vec<&IpEntry> {
    let mut out: Vec<&IpEntry> = Vec::new();
    for c in &t.inbound_connectors {
        out.extend(&c.sender_ip_addresses);
    }
    out.extend(&t.connection_filter.ip_allow_list);
    out.extend(&t.connection_filter.ip_block_list);
    for r in &t.transport_rules {
        out.extend(&r.conditions.sender_ip_ranges);
        out.extend(&r.exceptions.sender_ip_ranges);
    }
    out
}

/// Cuts IPv4 and IPv6 space at every boundary of `entries`.
pub fn ip_intervals(entries: &[&IpEntry]) -> Vec<IpInterval> {
    let mut out = Vec::new();
    for (v6, max) in [(false, u32::MAX as u128), (true, u128::MAX)] {
        let mut cuts: Vec<u128> = vec![0];
        for e in entries {
            for net in &e.nets {
                let (is6, first, last) = bounds(net);
                if is6 == v6 {
                    cuts.push(first);
                    if last < max {
                        cuts.push(last + 1);
                    }
                }
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        for (i, &first) in cuts.iter().enumerate() {
            let last = cuts.get(i + 1).map_or(max, |next| next - 1);
            out.push(IpInterval { v6, first, last });
        }
    }
    out
}

/// How the client presents itself in TLS.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsClass {
    None,
    /// TLS without a certificate that verified.
    NoCertificate,
    /// A verified certificate with this name (one per configured name pattern).
    Certificate(String),
    /// A verified certificate no connector names.
    OtherCertificate,
}

impl TlsClass {
    pub fn label(&self) -> String {
        match self {
            TlsClass::None => "no TLS".into(),
            TlsClass::NoCertificate => "TLS, no verified certificate".into(),
            TlsClass::Certificate(n) => format!("TLS, verified certificate {n}"),
            TlsClass::OtherCertificate => "TLS, another verified certificate".into(),
        }
    }
}

pub const OTHER_CERTIFICATE: &str = "other.doorman-audit.invalid";

pub fn tls_classes(t: &Tenant) -> Vec<TlsClass> {
    let mut out = vec![TlsClass::None, TlsClass::NoCertificate];
    for c in &t.inbound_connectors {
        if let Some(p) = &c.tls_sender_certificate_name {
            let text = p.to_string();
            let name = match text.strip_prefix("*.") {
                Some(base) => format!("mx.{base}"),
                None => text,
            };
            let class = TlsClass::Certificate(name);
            if !out.contains(&class) {
                out.push(class);
            }
        }
    }
    out.push(TlsClass::OtherCertificate);
    out
}

/// Who the envelope sender claims to be.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SenderClass {
    /// One of the tenant's own accepted domains: direct send.
    OwnDomain(String),
    /// A domain a connector's `sender_domains` names.
    ConnectorDomain(String),
    /// Any other external domain.
    External,
    Null,
}

pub const EXTERNAL_DOMAIN: &str = "external.doorman-audit.invalid";

impl SenderClass {
    pub fn address(&self) -> String {
        match self {
            SenderClass::OwnDomain(d) | SenderClass::ConnectorDomain(d) => format!("<sender@{d}>"),
            SenderClass::External => format!("<sender@{EXTERNAL_DOMAIN}>"),
            SenderClass::Null => "<>".into(),
        }
    }

    pub fn label(&self) -> String {
        match self {
            SenderClass::OwnDomain(d) => format!("sender in own domain {d} (direct send)"),
            SenderClass::ConnectorDomain(d) => format!("sender in {d}"),
            SenderClass::External => "any other external sender".into(),
            SenderClass::Null => "null sender <>".into(),
        }
    }
}

pub fn sender_classes(t: &Tenant) -> Vec<SenderClass> {
    let mut out: Vec<SenderClass> =
        t.accepted_domains.iter().map(|d| SenderClass::OwnDomain(d.domain.to_string())).collect();
    for c in &t.inbound_connectors {
        for p in &c.sender_domains {
            let class = match p {
                SenderDomainPattern::Any => continue,
                SenderDomainPattern::Exact(d) => SenderClass::ConnectorDomain(d.clone()),
                SenderDomainPattern::Subdomains(d) => SenderClass::ConnectorDomain(format!("mail.{d}")),
            };
            if !out.contains(&class)
                && !matches!(&class, SenderClass::ConnectorDomain(d) if out.contains(&SenderClass::OwnDomain(d.clone())))
            {
                out.push(class);
            }
        }
    }
    out.push(SenderClass::External);
    out.push(SenderClass::Null);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_cut_at_every_boundary() {
        let a = IpEntry::parse("80.66.20.0/28").unwrap();
        let b = IpEntry::parse("80.66.20.8").unwrap();
        let v: Vec<IpInterval> = ip_intervals(&[&a, &b]).into_iter().filter(|i| !i.v6).collect();
        let shown: Vec<String> =
            v.iter().map(|i| format!("{}-{}", to_ip(false, i.first), to_ip(false, i.last))).collect();
        assert_eq!(
            shown,
            [
                "0.0.0.0-80.66.20.-1".replace("80.66.20.-1", "80.66.19.255"),
                "80.66.20.0-80.66.20.7".into(),
                "80.66.20.8-80.66.20.8".into(),
                "80.66.20.9-80.66.20.15".into(),
                "80.66.20.16-255.255.255.255".into()
            ]
        );
        assert_eq!(v[1].nets().iter().map(|n| n.to_string()).collect::<Vec<_>>(), ["80.66.20.0/29"]);
    }
}
