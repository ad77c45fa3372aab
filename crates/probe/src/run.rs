//! A probe run: for each domain, DNS first, then one conversation with each tenant host the
//! MX does not name. A good citizen: one connection at a time, and never two conversations
//! with the same address closer together than the delay.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use doorman_dns::Resolver;
use serde::Serialize;

use crate::conversation::{HostProbe, Settings, probe};
use crate::signals::{Discovery, discover};
use crate::verdict::{Verdict, judge};

pub struct Options {
    pub smtp: Settings,
    /// Each DNS question's limit.
    pub dns_timeout: Duration,
    /// Between two conversations with the same address.
    pub delay: Duration,
    /// The recipient to ask for; `postmaster@DOMAIN` when `None`.
    pub rcpt: Option<String>,
    /// The gateway's networks: a probe from inside them says nothing about strangers.
    pub gateways: Vec<ipnet::IpNet>,
}

/// Everything known about one domain, and the verdict.
#[derive(Debug, Serialize)]
pub struct DomainReport {
    pub domain: String,
    pub verdict: Verdict,
    pub reason: String,
    pub dns: Discovery,
    pub hosts: Vec<HostProbe>,
    pub warnings: Vec<String>,
}

pub struct Prober<'a> {
    resolver: &'a Resolver,
    options: Options,
    last_contact: HashMap<IpAddr, Instant>,
}

impl<'a> Prober<'a> {
    pub fn new(resolver: &'a Resolver, options: Options) -> Prober<'a> {
        Prober { resolver, options, last_contact: HashMap::new() }
    }

    pub async fn domain(&mut self, domain: &str) -> DomainReport {
        let dns = discover(self.resolver, domain, self.options.dns_timeout).await;
        let domain = dns.domain.clone();
        let recipients = vec![
            self.options.rcpt.clone().unwrap_or_else(|| format!("postmaster@{domain}")),
            // An address no one has: accepted, the host checks no directory at its edge.
            format!("doorman-probe-{:08x}@{domain}", unguessable()),
        ];
        let mut hosts = Vec::new();
        let candidates: Vec<(String, IpAddr)> =
            dns.side_door_candidates().filter_map(|c| Some((c.host.clone(), *c.addresses.first()?))).collect();
        for (host, address) in candidates {
            if let Some(last) = self.last_contact.get(&address) {
                let wait = self.options.delay.saturating_sub(last.elapsed());
                tokio::time::sleep(wait).await;
            }
            hosts.push(probe(&host, address, &domain, &recipients, &self.options.smtp).await);
            self.last_contact.insert(address, Instant::now());
        }
        let mut warnings = Vec::new();
        for h in &hosts {
            if let Some(src) = h.source
                && let Some(net) = self.options.gateways.iter().find(|g| g.contains(&src))
            {
                warnings.push(format!(
                    "the probe came from {src}, inside the gateway's {net}: what {} lets the gateway do says nothing about strangers; probe from outside it",
                    h.host
                ));
            }
        }
        let (verdict, reason) = judge(&dns, &hosts);
        DomainReport { domain, verdict, reason, dns, hosts, warnings }
    }
}

/// Enough to make a local part no one has; not a secret.
fn unguessable() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    h.finish() as u32
}
