//! Connect: server-wide only. No tenant is known before RCPT TO, so no tenant decides here.

use std::net::IpAddr;

use doorman_config::net::canonical_ip;

use crate::reply::Reply;
use crate::snapshot::Policy;
use crate::stage::StageDecision;
use crate::trace::{Check, Detail, Outcome, Trace};

/// What the edge knows when a connection arrives.
#[derive(Clone, Copy, Debug)]
pub struct ConnectInfo {
    /// The socket's peer.
    pub peer_ip: IpAddr,
    /// The client named by a PROXY header, when the peer sent one.
    pub proxied_client: Option<IpAddr>,
    /// Open connections, this one included.
    pub connections_total: u32,
    /// Open connections from the same client IP, this one included.
    pub connections_from_client: u32,
}

impl Policy {
    /// Whether a PROXY protocol header from `peer` is believed.
    pub fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        self.trusted_proxy(canonical_ip(peer)).is_some()
    }

    pub fn connect(&self, info: &ConnectInfo, detail: Detail) -> StageDecision {
        let mut trace = Trace::new(detail);
        let reply = self.connect_checks(info, &mut trace).unwrap_or_else(|r| r);
        StageDecision { reply, trace }
    }

    fn connect_checks(&self, info: &ConnectInfo, trace: &mut Trace) -> Result<Reply, Reply> {
        let peer = canonical_ip(info.peer_ip);
        let client = match info.proxied_client {
            Some(client) => match self.trusted_proxy(peer) {
                Some(entry) => {
                    let client = canonical_ip(client);
                    trace.step(Check::ProxyTrust, Outcome::Pass, || {
                        format!("{peer} is a trusted proxy ({}); the client is {client}", entry.label())
                    });
                    client
                }
                None => {
                    return Err(trace.refuse(Check::ProxyTrust, Reply::untrusted_proxy(), || {
                        format!("{peer} sent a PROXY header but is not in server.trusted_proxies")
                    }));
                }
            },
            None => {
                trace.step(Check::ProxyTrust, Outcome::Skip, || {
                    format!("no PROXY header; the client is the peer {peer}")
                });
                peer
            }
        };
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
        trace.step(Check::ConnectionLimit, Outcome::Pass, || {
            format!(
                "{} of {} connections, {} of {} from {client}",
                info.connections_total,
                limits.max_connections,
                info.connections_from_client,
                limits.max_connections_per_ip
            )
        });
        Ok(Reply::greeting(&self.config().server.hostname))
    }
}
