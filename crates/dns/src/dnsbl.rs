//! DNSBL lookups through the shared resolver (`doorman-dns`), whose cache keeps answers for
//! their TTL (bounded below, so a flood from one client costs one query per zone).
//!
//! A lookup that fails or times out is reported as failed, never as "not listed": the policy
//! then defers the recipient with `451 4.4.3`, so a listed client is never let in because the
//! list could not be asked. Spamhaus-style refusal codes (127.255.255.x) count as failures too.

use std::net::IpAddr;
use std::time::Duration;

use crate::{DnsError, ResolveError, Resolver};
use doorman_config::Dns;
use doorman_policy::{DnsblAnswer, DnsblResult};

#[derive(Clone)]
pub struct Dnsbl {
    resolver: Resolver,
    timeout: Duration,
}

impl Dnsbl {
    pub fn new(dns: &Dns) -> Result<Dnsbl, DnsError> {
        Ok(Dnsbl { resolver: crate::resolver(dns)?, timeout: dns.timeout.0 })
    }

    /// The resolver it asks through, for other questions that should share its cache.
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// Asks every zone at once.
    pub async fn check(&self, ip: IpAddr, zones: &[String]) -> Vec<DnsblAnswer> {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, zone) in zones.iter().enumerate() {
            let this = self.clone();
            let zone = zone.clone();
            tasks.spawn(async move { (i, this.lookup(ip, &zone).await) });
        }
        let mut answers: Vec<Option<DnsblAnswer>> = vec![None; zones.len()];
        while let Some(done) = tasks.join_next().await {
            if let Ok((i, result)) = done {
                answers[i] = Some(DnsblAnswer { zone: zones[i].clone(), result });
            }
        }
        answers
            .into_iter()
            .enumerate()
            .map(|(i, a)| {
                a.unwrap_or_else(|| DnsblAnswer {
                    zone: zones[i].clone(),
                    result: DnsblResult::Failed("the lookup task failed".into()),
                })
            })
            .collect()
    }

    pub async fn lookup(&self, ip: IpAddr, zone: &str) -> DnsblResult {
        let name = query_name(ip, zone);
        match tokio::time::timeout(self.timeout, self.resolver.ipv4_lookup(name.as_str())).await {
            Err(_) => DnsblResult::Failed(format!("no answer for {name} within {:?}", self.timeout)),
            Ok(Ok(found)) => {
                let addrs: Vec<std::net::Ipv4Addr> = found
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        crate::RData::A(a) => Some(a.0),
                        _ => None,
                    })
                    .collect();
                if let Some(refused) = addrs.iter().find(|a| a.octets()[..3] == [127, 255, 255]) {
                    return DnsblResult::Failed(format!("{zone} refused the query ({refused})"));
                }
                match addrs.iter().find(|a| a.octets()[0] == 127) {
                    Some(a) => DnsblResult::Listed(a.to_string()),
                    None => DnsblResult::Failed(format!("{zone} answered {addrs:?}, not a 127.0.0.0/8 code")),
                }
            }
            Ok(Err(e)) if not_listed(&e) => DnsblResult::NotListed,
            Ok(Err(e)) => DnsblResult::Failed(e.to_string()),
        }
    }
}

fn not_listed(e: &ResolveError) -> bool {
    e.is_nx_domain() || e.is_no_records_found()
}

/// `9.113.0.203.zen.example.` for 203.0.113.9; IPv6 as 32 reversed nibbles (RFC 5782).
pub fn query_name(ip: IpAddr, zone: &str) -> String {
    let zone = zone.trim_end_matches('.');
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.{zone}.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut out = String::with_capacity(64 + zone.len());
            for byte in v6.octets().iter().rev() {
                out.push_str(&format!("{:x}.{:x}.", byte & 0xF, byte >> 4));
            }
            out.push_str(zone);
            out.push('.');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_names() {
        assert_eq!(super::query_name("203.0.113.9".parse().unwrap(), "zen.example"), "9.113.0.203.zen.example.");
        let v6 = super::query_name("2001:db8::1".parse().unwrap(), "bl.example.");
        assert_eq!(v6, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example.");
    }
}
