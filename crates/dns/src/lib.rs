//! Every DNS question doorman asks goes through one resolver set-up: the servers and timeout
//! of `[server.dns]` (or the system's), one attempt per question, and a cache whose answers
//! live at least a minute, so a flood from one client costs one query per name.
//!
//! - [`resolver`] builds that resolver; [`dnsbl::Dnsbl`] asks the block lists through it.
//! - [`lookup_mx`] finds a domain's MX hosts (`doorman audit --exo` uses it to tell whether
//!   the MX is Exchange Online or a gateway).
//! - [`mx`], [`txt`], [`cname`] and [`addresses`] ask one question each of a resolver, for the
//!   prober. A name with no such record is an answer (empty); only a failure is an error.

pub mod dnsbl;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use doorman_config::Dns;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;

pub use hickory_resolver::TokioResolver as Resolver;
pub use hickory_resolver::net::NetError as ResolveError;
use hickory_resolver::proto::rr::Name;
pub use hickory_resolver::proto::rr::RData;
pub use hickory_resolver::proto::rr::RecordType;

/// A DNS set-up or question failed.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("cannot set up the resolver: {0}")]
    Build(#[source] ResolveError),
    #[error("cannot read the system's DNS configuration: {0}")]
    SystemConfig(#[source] ResolveError),
    #[error("no MX answer for {domain} within {} s", timeout.as_secs_f64())]
    Timeout { domain: String, timeout: Duration },
    #[error("MX lookup for {domain}: {}", answer(source, domain, RecordType::MX))]
    Lookup { domain: String, source: ResolveError },
    #[error("no {kind} answer for {name} within {} s", timeout.as_secs_f64())]
    QueryTimeout { name: String, kind: RecordType, timeout: Duration },
    #[error("{kind} lookup for {name}: {}", answer(source, name, *kind))]
    Query { name: String, kind: RecordType, source: ResolveError },
}

/// A failed lookup in words: the resolver's own text for "no such record" is its query's
/// debug form.
fn answer(e: &ResolveError, name: &str, kind: RecordType) -> String {
    let name = name.trim_end_matches('.');
    if e.is_nx_domain() {
        format!("{name} does not exist (NXDOMAIN)")
    } else if e.is_no_records_found() {
        format!("{name} has no {kind} record")
    } else {
        e.to_string()
    }
}

/// Asks `resolver` for `kind` records of `name` (made absolute), within `timeout`.
async fn ask(
    resolver: &TokioResolver,
    name: &str,
    kind: RecordType,
    timeout: Duration,
) -> Result<Vec<RData>, DnsError> {
    let absolute = format!("{}.", name.trim_end_matches('.'));
    match tokio::time::timeout(timeout, resolver.lookup(absolute.as_str(), kind)).await {
        Err(_) => Err(DnsError::QueryTimeout { name: name.to_string(), kind, timeout }),
        Ok(Ok(found)) => {
            Ok(found.answers().iter().filter(|r| r.record_type() == kind).map(|r| r.data.clone()).collect())
        }
        Ok(Err(e)) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
        Ok(Err(source)) => Err(DnsError::Query { name: name.to_string(), kind, source }),
    }
}

fn host(name: &Name) -> String {
    name.to_utf8().trim_end_matches('.').to_ascii_lowercase()
}

/// The MX hosts of `name` with their preferences, lowest first.
pub async fn mx(resolver: &TokioResolver, name: &str, timeout: Duration) -> Result<Vec<(u16, String)>, DnsError> {
    let mut found: Vec<(u16, String)> = ask(resolver, name, RecordType::MX, timeout)
        .await?
        .iter()
        .filter_map(|r| match r {
            RData::MX(m) => Some((m.preference, host(&m.exchange))),
            _ => None,
        })
        .collect();
    found.sort();
    Ok(found)
}

/// The TXT records of `name`, each one's strings joined.
pub async fn txt(resolver: &TokioResolver, name: &str, timeout: Duration) -> Result<Vec<String>, DnsError> {
    Ok(ask(resolver, name, RecordType::TXT, timeout)
        .await?
        .iter()
        .filter_map(|r| match r {
            RData::TXT(t) => Some(t.txt_data.iter().map(|part| String::from_utf8_lossy(part)).collect::<String>()),
            _ => None,
        })
        .collect())
}

/// Where `name` is an alias of, if it is one.
pub async fn cname(resolver: &TokioResolver, name: &str, timeout: Duration) -> Result<Option<String>, DnsError> {
    Ok(ask(resolver, name, RecordType::CNAME, timeout).await?.iter().find_map(|r| match r {
        RData::CNAME(c) => Some(host(&c.0)),
        _ => None,
    }))
}

/// The IPv4 and IPv6 addresses of `name`.
pub async fn addresses(resolver: &TokioResolver, name: &str, timeout: Duration) -> Result<Vec<IpAddr>, DnsError> {
    let mut all = Vec::new();
    for kind in [RecordType::A, RecordType::AAAA] {
        all.extend(ask(resolver, name, kind, timeout).await?.iter().filter_map(|r| match r {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        }));
    }
    Ok(all)
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
            .map(|&addr: &SocketAddr| {
                let on = |mut c: ConnectionConfig| {
                    c.port = addr.port();
                    c
                };
                NameServerConfig::new(addr.ip(), true, vec![on(ConnectionConfig::udp()), on(ConnectionConfig::tcp())])
            })
            .collect();
        TokioResolver::builder_with_config(ResolverConfig::from_name_servers(servers), TokioRuntimeProvider::default())
    };
    builder.with_options(opts).build().map_err(DnsError::Build)
}

/// The MX hosts of `domain`, lowest preference first.
pub async fn lookup_mx(dns: &Dns, domain: &str) -> Result<Vec<String>, DnsError> {
    let resolver = resolver(dns)?;
    let name = format!("{}.", domain.trim_end_matches('.'));
    let found = tokio::time::timeout(dns.timeout.0, resolver.mx_lookup(name.as_str()))
        .await
        .map_err(|_| DnsError::Timeout { domain: domain.to_string(), timeout: dns.timeout.0 })?
        .map_err(|source| DnsError::Lookup { domain: domain.to_string(), source })?;
    let mut mx: Vec<(u16, String)> = found
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::MX(m) => Some((m.preference, m.exchange.to_utf8().trim_end_matches('.').to_string())),
            _ => None,
        })
        .collect();
    mx.sort();
    Ok(mx.into_iter().map(|(_, h)| h).collect())
}
