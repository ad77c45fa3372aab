//! The compiled policy: a config turned into the indexes decisions need, immutable once
//! built. The edge shares one snapshot per config generation behind an `Arc`; a transaction
//! keeps the snapshot it started with, so a reload never changes a decision half-way.

use std::net::IpAddr;
use std::sync::Arc;

use doorman_config::address::Mailbox;
use doorman_config::net::IpEntry;
use doorman_config::{Config, Tenant, TransportRule};
use ipnet::IpNet;

use crate::connector::{ConnectorFacts, Summary};
use crate::domains::{DomainRef, DomainTable};
use crate::iptable::{IpIndex, IpTable};

/// A tenant's position in one snapshot. Not stable across reloads: use the name for that.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(pub u32);

pub struct Policy {
    config: Config,
    tenants: Vec<TenantIndex>,
    names: Vec<TenantNames>,
    domains: DomainTable,
    trusted_proxies: IpTable<usize>,
}

/// The per-tenant indexes: what RCPT needs, compiled and kept together. The fields RCPT reads
/// come first, inside the first two cache lines, which the record's alignment keeps a pair
/// that the hardware fetches together.
#[repr(C, align(128))]
pub(crate) struct TenantIndex {
    /// Eight bytes, then the inline IPv4 keys of `ips`: the first cache line.
    pub summary: Summary,
    /// Allow list, block list and connector networks in one index. Each network holds what it
    /// and every network around it mean, so one longest-prefix lookup answers all three.
    pub ips: IpIndex<IpHits>,
    pub connectors: Box<[ConnectorFacts]>,
}

/// What DATA and the reports need of a tenant: kept apart from [`TenantIndex`], so that the
/// records RCPT reads stay small and many fit in the TLB.
pub(crate) struct TenantNames {
    pub name: Arc<str>,
    pub connector_names: Vec<Arc<str>>,
    /// Rule indexes in run order: priority, then file order; unset priorities last.
    pub rule_order: Vec<usize>,
}

/// What a client IP hits in a tenant's lists. Indexes are into the tenant's config lists.
#[derive(Clone, Default)]
pub(crate) struct IpHits {
    /// The most specific allow (block) list entry holding the IP; the first in the file when
    /// several have the same network.
    pub allow: Option<usize>,
    pub block: Option<usize>,
    /// Connectors listing the IP, each with its most specific network.
    pub connectors: Vec<(usize, IpNet)>,
}

impl IpHits {
    /// Folds in the facts of a network inside the ones already folded.
    fn refine(&mut self, net: IpNet, inner: &IpHits) {
        self.allow = inner.allow.or(self.allow);
        self.block = inner.block.or(self.block);
        for &(c, _) in &inner.connectors {
            match self.connectors.iter_mut().find(|(i, _)| *i == c) {
                Some(hit) => hit.1 = net,
                None => self.connectors.push((c, net)),
            }
        }
    }
}

static NO_HITS: IpHits = IpHits { allow: None, block: None, connectors: Vec::new() };

/// One tenant, as decisions see it.
#[derive(Clone, Copy)]
pub struct TenantView<'p> {
    pub id: TenantId,
    pub config: &'p Tenant,
    pub(crate) index: &'p TenantIndex,
    names: &'p TenantNames,
}

impl Policy {
    /// Compiles a config. It never fails: a config that did not pass the checks still
    /// compiles to something deterministic (first owner of a domain wins, a rule naming an
    /// unknown connector never matches).
    pub fn new(config: Config) -> Policy {
        let domain_count = config.tenants.iter().map(|t| t.accepted_domains.len()).sum();
        let address_count = config.tenants.iter().map(|t| t.directory().count()).sum();
        let mut domains = DomainTable::with_capacity(domain_count, address_count);
        let mut tenants = Vec::with_capacity(config.tenants.len());
        let mut names = Vec::with_capacity(config.tenants.len());
        for (t, tenant) in config.tenants.iter().enumerate() {
            for (d, ad) in tenant.accepted_domains.iter().enumerate() {
                domains.insert(ad.domain.as_str(), TenantId(t as u32), d, ad.kind, ad.match_subdomains);
            }
            let (index, tenant_names) = index_tenant(tenant);
            tenants.push(index);
            names.push(tenant_names);
        }
        // Addresses after every domain, so each is attributed to the domain's real owner.
        for (t, tenant) in config.tenants.iter().enumerate() {
            for m in tenant.directory() {
                if let Some(domain) = m.domain_name() {
                    domains.insert_address(&m.directory_key(), domain, TenantId(t as u32));
                }
            }
        }
        let mut trusted_proxies = IpTable::default();
        for (i, e) in config.server.trusted_proxies.iter().enumerate() {
            for net in &e.nets {
                trusted_proxies.insert_first(*net, i);
            }
        }
        Policy { config, tenants, names, domains, trusted_proxies }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn tenants(&self) -> impl Iterator<Item = TenantView<'_>> {
        (0..self.tenants.len()).map(|t| self.tenant(TenantId(t as u32)))
    }

    /// Panics on an id from another snapshot that is out of range.
    pub fn tenant(&self, id: TenantId) -> TenantView<'_> {
        let t = id.0 as usize;
        TenantView { id, config: &self.config.tenants[t], index: &self.tenants[t], names: &self.names[t] }
    }

    pub fn tenant_by_name(&self, name: &str) -> Option<TenantView<'_>> {
        self.tenants().find(|t| t.config.name.eq_ignore_ascii_case(name))
    }

    /// Accepted domain attribution (lower-case domain).
    pub fn domain_owner(&self, domain: &str) -> Option<DomainRef> {
        self.domains.lookup(domain)
    }

    /// Whether `domain` (lower case) is `tenant`'s by the same attribution recipients get:
    /// the most specific accepted domain decides.
    pub fn is_own_domain(&self, tenant: TenantId, domain: &str) -> bool {
        self.domains.lookup(domain).is_some_and(|r| r.tenant == tenant)
    }

    /// A recipient's accepted domain, and whether it is in that tenant's directory.
    pub fn attribute_recipient(&self, mailbox: &Mailbox) -> Option<(DomainRef, bool)> {
        self.domains.lookup_recipient(&mailbox.directory_key(), mailbox.domain_name()?)
    }

    pub(crate) fn trusted_proxy(&self, ip: IpAddr) -> Option<&IpEntry> {
        self.trusted_proxies.longest_match(ip).map(|(_, i)| &self.config.server.trusted_proxies[*i])
    }
}

fn index_tenant(tenant: &Tenant) -> (TenantIndex, TenantNames) {
    // Each network's own facts first ...
    let mut own: IpTable<IpHits> = IpTable::default();
    for (c, conn) in tenant.inbound_connectors.iter().enumerate() {
        for net in conn.sender_ip_addresses.iter().flat_map(|e| &e.nets) {
            let facts = own.get_or_insert_with(*net, IpHits::default);
            if !facts.connectors.iter().any(|(i, _)| *i == c) {
                facts.connectors.push((c, *net));
            }
        }
    }
    let filter = &tenant.connection_filter;
    for (i, e) in filter.ip_allow_list.iter().enumerate() {
        for n in &e.nets {
            own.get_or_insert_with(*n, IpHits::default).allow.get_or_insert(i);
        }
    }
    for (i, e) in filter.ip_block_list.iter().enumerate() {
        for n in &e.nets {
            own.get_or_insert_with(*n, IpHits::default).block.get_or_insert(i);
        }
    }
    // ... then pushed down: a network inherits from every network around it, least specific first.
    let pushed_down = own.iter().map(|(net, _)| {
        let mut hits = IpHits::default();
        for (outer, facts) in own.covering_net(net) {
            hits.refine(outer, facts);
        }
        (net, hits)
    });
    let ips = IpIndex::build(pushed_down.collect());

    let connectors: Box<[ConnectorFacts]> = tenant.inbound_connectors.iter().map(ConnectorFacts::new).collect();
    let mut rule_order: Vec<usize> = (0..tenant.transport_rules.len()).collect();
    rule_order.sort_by_key(|&r| (tenant.transport_rules[r].priority.unwrap_or(u32::MAX), r));
    let index = TenantIndex { ips, summary: Summary::new(&connectors, tenant.reject_direct_send), connectors };
    let names = TenantNames {
        name: tenant.name.as_str().into(),
        connector_names: tenant.inbound_connectors.iter().map(|c| c.name.as_str().into()).collect(),
        rule_order,
    };
    (index, names)
}

impl<'p> TenantView<'p> {
    pub fn name(&self) -> &'p str {
        &self.names.name
    }

    /// The name, shared: decisions hand it out without copying it.
    pub fn shared_name(&self) -> Arc<str> {
        self.names.name.clone()
    }

    pub(crate) fn connector_name(&self, index: usize) -> Arc<str> {
        self.names.connector_names[index].clone()
    }

    /// Allow and block entries by longest match, and every connector listing `ip`: one
    /// longest-prefix lookup, no allocation.
    pub(crate) fn ip_hits(&self, ip: IpAddr) -> &'p IpHits {
        self.index.ips.longest_match(ip).map_or(&NO_HITS, |(_, hits)| hits)
    }

    /// The transport rules in the order they run.
    pub fn rules_in_order(&self) -> impl Iterator<Item = (usize, &'p TransportRule)> + 'p {
        let rules = &self.config.transport_rules;
        self.names.rule_order.iter().map(move |&r| (r, &rules[r]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stranger's IPv4 RCPT reads the summary and the inline IPv4 keys: they must share the
    /// record's first cache line.
    #[test]
    fn the_hot_fields_fill_the_first_cache_line() {
        assert_eq!(std::mem::offset_of!(TenantIndex, summary), 0);
        assert_eq!(size_of::<Summary>(), 8);
        let end = std::mem::offset_of!(TenantIndex, ips) + IpIndex::<IpHits>::HOT_BYTES;
        assert!(end <= 64, "the hot fields end at byte {end}");
        assert_eq!(align_of::<TenantIndex>(), 128);
        assert_eq!(size_of::<TenantIndex>(), 128, "one aligned pair of cache lines per tenant");
    }
}
