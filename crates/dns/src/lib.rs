//! Every DNS question doorman asks goes through one resolver set-up: the servers and timeout
//! of `[server.dns]` (or the system's), one attempt per question, and a cache whose answers
//! live at least a minute, so a flood from one client costs one query per name.
//!
//! - [`resolver`] builds that resolver; the edge's DNSBL checks ask it.
//! - [`lookup_mx`] finds a domain's MX hosts (`doorman audit --exo` uses it to tell whether
//!   the MX is Exchange Online or a gateway).

use std::net::SocketAddr;
use std::time::Duration;

use doorman_config::Dns;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;

pub use hickory_resolver::ResolveError;
pub use hickory_resolver::TokioResolver as Resolver;

/// A DNS set-up or question failed.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("cannot read the system's DNS configuration: {0}")]
    SystemConfig(#[source] ResolveError),
    #[error("no MX answer for {domain} within {timeout:?}")]
    Timeout { domain: String, timeout: Duration },
    #[error("MX lookup for {domain}: {source}")]
    Lookup { domain: String, source: ResolveError },
}

/// The resolver for `dns`: its servers over UDP and TCP, or the system's when none are given.
pub fn resolver(dns: &Dns) -> Result<TokioResolver, DnsError> {
    let mut opts = ResolverOpts::default();
    opts.timeout = dns.timeout.0;
    opts.attempts = 1;
    opts.cache_size = 4096;
    opts.positive_min_ttl = Some(Duration::from_secs(60));
    opts.negative_min_ttl = Some(Duration::from_secs(60));
    opts.ndots = 0;
    let builder = if dns.servers.is_empty() {
        TokioResolver::builder_tokio().map_err(DnsError::SystemConfig)?
    } else {
        let servers: Vec<NameServerConfig> = dns
            .servers
            .iter()
            .flat_map(|&addr: &SocketAddr| {
                [NameServerConfig::new(addr, Protocol::Udp), NameServerConfig::new(addr, Protocol::Tcp)]
            })
            .collect();
        TokioResolver::builder_with_config(
            ResolverConfig::from_parts(None, vec![], NameServerConfigGroup::from(servers)),
            TokioConnectionProvider::default(),
        )
    };
    Ok(builder.with_options(opts).build())
}

/// The MX hosts of `domain`, lowest preference first.
pub async fn lookup_mx(dns: &Dns, domain: &str) -> Result<Vec<String>, DnsError> {
    let resolver = resolver(dns)?;
    let name = format!("{}.", domain.trim_end_matches('.'));
    let found = tokio::time::timeout(dns.timeout.0, resolver.mx_lookup(name.as_str()))
        .await
        .map_err(|_| DnsError::Timeout { domain: domain.to_string(), timeout: dns.timeout.0 })?
        .map_err(|source| DnsError::Lookup { domain: domain.to_string(), source })?;
    let mut mx: Vec<(u16, String)> =
        found.iter().map(|m| (m.preference(), m.exchange().to_utf8().trim_end_matches('.').to_string())).collect();
    mx.sort();
    Ok(mx.into_iter().map(|(_, h)| h).collect())
}
