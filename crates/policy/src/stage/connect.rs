//! Connect: server-wide only. No tenant is known before RCPT TO, so no tenant decides here.

use std::net::IpAddr;

use doorman_config::net::canonical_ip;
use serde::Serialize;

use crate::reply::Reply;
use crate::snapshot::Policy;
use crate::trace::{Check, Detail, Outcome, Trace};

/// What a PROXY protocol header (v1 or v2) said, as the edge read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxyHeader {
    /// The proxy relays this client.
    Client(IpAddr),
    /// The proxy speaks for itself (v2 LOCAL, v1 UNKNOWN, or a non-IP family): health checks.
    Local,
    /// Not a header that can be read, or none came in time; why.
    Malformed(String),
}

/// What the edge knows when a connection arrives.
#[derive(Clone, Debug)]
pub struct ConnectInfo {
    /// The socket's peer.
    pub peer_ip: IpAddr,
    /// The PROXY header the peer sent, if any. The edge reads one from every trusted proxy
    /// before the greeting; from any other peer a header is refused.
    pub proxy: Option<ProxyHeader>,
    /// Open connections, this one included.
    pub connections_total: u32,
    /// Open connections from the same client IP, this one included.
    pub connections_from_client: u32,
    /// Open connections from the client's network ([`Policy::client_network`]), this one
    /// included.
    pub connections_from_network: u32,
}

impl ConnectInfo {
    /// A connection that is the only one open: what `explain` and the audit assume.
    pub fn alone(peer_ip: IpAddr, proxy: Option<ProxyHeader>) -> ConnectInfo {
        ConnectInfo { peer_ip, proxy, connections_total: 1, connections_from_client: 1, connections_from_network: 1 }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ConnectDecision {
    pub reply: Reply,
    /// The client of the session: the one a trusted proxy's header names, else the peer.
    pub client: IpAddr,
    pub trace: Trace,
}

impl ConnectDecision {
    pub fn is_accepted(&self) -> bool {
        self.reply.is_positive()
    }
}

impl Policy {
    /// Whether a PROXY protocol header from `peer` is believed.
    pub fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        self.trusted_proxy(canonical_ip(peer)).is_some()
    }

    /// The client [`Policy::connect`] will name for this peer and header: the edge counts
    /// connections per client before it can ask `connect`. The peer when the header is refused.
    pub fn connecting_client(&self, peer_ip: IpAddr, proxy: Option<&ProxyHeader>) -> IpAddr {
        let peer = canonical_ip(peer_ip);
        match proxy {
            Some(ProxyHeader::Client(client)) if self.is_trusted_proxy(peer) => canonical_ip(*client),
            _ => peer,
        }
    }

    /// The network a client's connections are counted in, for
    /// `server.limits.max_connections_per_network`.
    pub fn client_network(&self, client: IpAddr) -> ipnet::IpNet {
        self.config().server.limits.client_network(canonical_ip(client))
    }

    pub fn connect(&self, info: &ConnectInfo, detail: Detail) -> ConnectDecision {
        let mut trace = Trace::new(detail);
        let client = self.connecting_client(info.peer_ip, info.proxy.as_ref());
        let reply = self.connect_checks(info, client, &mut trace).unwrap_or_else(|r| r);
        ConnectDecision { reply, client, trace }
    }

    fn connect_checks(&self, info: &ConnectInfo, client: IpAddr, trace: &mut Trace) -> Result<Reply, Reply> {
        let peer = canonical_ip(info.peer_ip);
        match (self.trusted_proxy(peer), &info.proxy) {
            (None, None) => trace
                .step(Check::ProxyTrust, Outcome::Skip, || format!("no PROXY header; the client is the peer {peer}")),
            (None, Some(_)) => {
                return Err(trace.refuse(Check::ProxyTrust, Reply::untrusted_proxy(), || {
                    format!("{peer} sent a PROXY header but is not in server.trusted_proxies")
                }));
            }
            (Some(entry), None) => {
                return Err(trace.refuse(Check::ProxyTrust, Reply::missing_proxy_header(), || {
                    format!(
                        "{peer} is a trusted proxy ({}) and sent no PROXY header: a trusted proxy must name the client",
                        entry.label()
                    )
                }));
            }
            (Some(entry), Some(ProxyHeader::Malformed(why))) => {
                return Err(trace.refuse(Check::ProxyTrust, Reply::malformed_proxy_header(why), || {
                    format!("{peer} is a trusted proxy ({}), but its PROXY header is malformed: {why}", entry.label())
                }));
            }
            (Some(entry), Some(ProxyHeader::Local)) => trace.step(Check::ProxyTrust, Outcome::Pass, || {
                format!(
                    "{peer} is a trusted proxy ({}) speaking for itself (LOCAL); the client is {peer}",
                    entry.label()
                )
            }),
            (Some(entry), Some(ProxyHeader::Client(_))) => trace.step(Check::ProxyTrust, Outcome::Pass, || {
                format!("{peer} is a trusted proxy ({}); the client is {client}", entry.label())
            }),
        }
        let limits = &self.config().server.limits;
        if info.connections_total > limits.max_connections {
            return Err(trace.refuse(Check::ConnectionLimit, Reply::too_many_connections(), || {
                format!("{} connections open, the limit is {}", info.connections_total, limits.max_connections)
            }));
        }
        if info.connections_from_client > limits.max_connections_per_ip {
            return Err(trace.refuse(Check::ConnectionLimit, Reply::too_many_connections_from(client), || {
                format!(
                    "{} connections open from {client}, the limit is {}",
                    info.connections_from_client, limits.max_connections_per_ip
                )
            }));
        }
        let network = self.client_network(client);
        if info.connections_from_network > limits.max_connections_per_network {
            return Err(trace.refuse(
                Check::ConnectionLimit,
                Reply::too_many_connections_from_network(network),
                || {
                    format!(
                        "{} connections open from {network}, the limit is {}",
                        info.connections_from_network, limits.max_connections_per_network
                    )
                },
            ));
        }
        trace.step(Check::ConnectionLimit, Outcome::Pass, || {
            format!(
                "{} of {} connections, {} of {} from {client}, {} of {} from {network}",
                info.connections_total,
                limits.max_connections,
                info.connections_from_client,
                limits.max_connections_per_ip,
                info.connections_from_network,
                limits.max_connections_per_network
            )
        });
        Ok(Reply::greeting(&self.config().server.hostname))
    }
}
