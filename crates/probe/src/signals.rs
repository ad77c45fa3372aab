//! The DNS signs of a cloud tenant, and the tenant hosts a stranger can reach. The field report's
//! case: the MX names a spam-filter gateway, yet the domain's Exchange Online host
//! (`contoso-com.mail.protection.outlook.com`) answers too, and anyone can work it out.

use std::net::IpAddr;
use std::time::Duration;

use doorman_dns::{DnsError, Resolver};
use serde::Serialize;

use crate::providers::{PROVIDERS, provider_of_host};

/// What DNS says about one domain.
#[derive(Debug, Serialize)]
pub struct Discovery {
    pub domain: String,
    pub mx: Vec<MxHost>,
    /// Every sign of a provider, with the question and the answer that showed it.
    pub signals: Vec<Signal>,
    pub tenant_hosts: Vec<TenantHost>,
    /// Questions that failed. A verdict that rests on them is inconclusive.
    pub failures: Vec<String>,
    /// The MX question itself failed: then no host can be told a side door from the front.
    pub mx_failed: bool,
}

#[derive(Debug, Serialize)]
pub struct MxHost {
    pub preference: u16,
    pub host: String,
    pub addresses: Vec<IpAddr>,
    /// The provider whose front door this host is, if any.
    pub provider: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct Signal {
    pub provider: &'static str,
    pub kind: SignalKind,
    /// The name asked.
    pub name: String,
    pub answer: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// An MX host is the provider's.
    Mx,
    /// The tenant host derived from the domain resolves.
    TenantHost,
    /// A verification TXT record (`MS=…`, `google-site-verification=…`).
    Verification,
    /// The SPF record includes the provider.
    SpfInclude,
    /// A CNAME points at the provider (`autodiscover`, the DKIM selector).
    Cname,
}

/// A provider's host for this tenant that resolves.
#[derive(Debug, Serialize)]
pub struct TenantHost {
    pub provider: &'static str,
    pub host: String,
    pub addresses: Vec<IpAddr>,
    /// Whether the MX names it: then it is the front door, not a side door.
    pub named_by_mx: bool,
}

impl Discovery {
    fn failed(&mut self, e: DnsError) {
        self.failures.push(e.to_string());
    }

    /// Tenant hosts that answer while the MX names something else: the doors to probe.
    pub fn side_door_candidates(&self) -> impl Iterator<Item = &TenantHost> {
        self.tenant_hosts.iter().filter(|h| !h.named_by_mx)
    }

    /// The `onmicrosoft.com` tenant the DKIM selector's CNAME names, if it does.
    pub fn microsoft_tenant(&self) -> Option<String> {
        self.signals.iter().filter(|s| s.kind == SignalKind::Cname).find_map(|s| {
            let (_, tenant) = s.answer.split_once("._domainkey.")?;
            tenant.ends_with(".onmicrosoft.com").then(|| tenant.to_string())
        })
    }
}

/// Asks DNS, through `resolver`, for every sign the provider table knows, each question
/// within `timeout`.
pub async fn discover(resolver: &Resolver, domain: &str, timeout: Duration) -> Discovery {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let mut d = Discovery {
        domain: domain.clone(),
        mx: Vec::new(),
        signals: Vec::new(),
        tenant_hosts: Vec::new(),
        failures: Vec::new(),
        mx_failed: false,
    };

    match doorman_dns::mx(resolver, &domain, timeout).await {
        Ok(hosts) => {
            for (preference, host) in hosts {
                let addresses = doorman_dns::addresses(resolver, &host, timeout).await.unwrap_or_else(|e| {
                    d.failed(e);
                    Vec::new()
                });
                let provider = provider_of_host(&host).map(|p| p.name);
                if let Some(p) = provider {
                    d.signals.push(Signal {
                        provider: p,
                        kind: SignalKind::Mx,
                        name: domain.clone(),
                        answer: host.clone(),
                    });
                    d.tenant_hosts.push(TenantHost {
                        provider: p,
                        host: host.clone(),
                        addresses: addresses.clone(),
                        named_by_mx: true,
                    });
                }
                d.mx.push(MxHost { preference, host, addresses, provider });
            }
        }
        Err(e) => {
            d.mx_failed = true;
            d.failed(e);
        }
    }

    match doorman_dns::txt(resolver, &domain, timeout).await {
        Ok(records) => {
            for record in records {
                for p in PROVIDERS {
                    if p.verification_prefixes.iter().any(|v| record.starts_with(v)) {
                        d.signals.push(Signal {
                            provider: p.name,
                            kind: SignalKind::Verification,
                            name: domain.clone(),
                            answer: record.clone(),
                        });
                    }
                    if spf_includes(&record).any(|inc| p.spf_includes.iter().any(|s| inc.eq_ignore_ascii_case(s))) {
                        d.signals.push(Signal {
                            provider: p.name,
                            kind: SignalKind::SpfInclude,
                            name: domain.clone(),
                            answer: record.clone(),
                        });
                    }
                }
            }
        }
        Err(e) => d.failed(e),
    }

    for p in PROVIDERS {
        for (label, suffix) in p.cnames {
            let name = format!("{label}.{domain}");
            match doorman_dns::cname(resolver, &name, timeout).await {
                Ok(Some(target)) if target == *suffix || target.ends_with(&format!(".{suffix}")) => {
                    d.signals.push(Signal { provider: p.name, kind: SignalKind::Cname, name, answer: target });
                }
                Ok(_) => {}
                Err(e) => d.failed(e),
            }
        }
        let Some(derive) = p.tenant_host else { continue };
        let host = derive(&domain);
        if d.tenant_hosts.iter().any(|t| t.host == host) {
            continue;
        }
        match doorman_dns::addresses(resolver, &host, timeout).await {
            Ok(addresses) if !addresses.is_empty() => {
                // An MX of the same provider (its newer `*.mx.microsoft` form, say) is the same
                // front door under another name.
                let named_by_mx = d.mx.iter().any(|m| m.host == host || m.provider == Some(p.name));
                let answer = addresses.iter().map(IpAddr::to_string).collect::<Vec<_>>().join(", ");
                d.signals.push(Signal { provider: p.name, kind: SignalKind::TenantHost, name: host.clone(), answer });
                d.tenant_hosts.push(TenantHost { provider: p.name, host, addresses, named_by_mx });
            }
            Ok(_) => {}
            Err(e) => d.failed(e),
        }
    }
    d
}

/// The `include:` targets of an SPF record (none if `record` is not one).
fn spf_includes(record: &str) -> impl Iterator<Item = &str> {
    let spf = record.split_whitespace().next().is_some_and(|v| v.eq_ignore_ascii_case("v=spf1"));
    record.split_whitespace().filter(move |_| spf).filter_map(|term| {
        let term = term.trim_start_matches(['+', '?', '~']);
        term.get(..8).filter(|p| p.eq_ignore_ascii_case("include:")).map(|_| &term[8..])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spf_includes_are_read_from_spf_records_only() {
        let inc: Vec<&str> =
            spf_includes("v=spf1 ip4:192.0.2.0/24 include:spf.protection.outlook.com ~include:_spf.google.com -all")
                .collect();
        assert_eq!(inc, ["spf.protection.outlook.com", "_spf.google.com"]);
        assert_eq!(spf_includes("MS=ms123 include:spf.protection.outlook.com").count(), 0);
    }
}
