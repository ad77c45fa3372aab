//! Listeners and the accept loop: PROXY header, connection limits, implicit TLS and the
//! greeting, then one task per session.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use doorman_config::ListenerTls;
use doorman_config::net::canonical_ip;
use doorman_policy::{ConnectInfo, Detail, ProxyHeader, Session as PolicySession};
use doorman_tracking::{Event, Record};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::connection::{Connection, ReadError, Stream};
use crate::proxy::{self, Parsed};
use crate::session::Session;
use crate::state::Shared;

/// How long a trusted proxy has to send its whole header.
const PROXY_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, tls: ListenerTls) {
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.draining() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                shared.metrics.connections_accepted.inc();
                let shared = shared.clone();
                tokio::spawn(async move {
                    shared.metrics.connections_open.inc();
                    handle(&shared, stream, peer, tls).await;
                    shared.metrics.connections_open.dec();
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle(shared: &Arc<Shared>, stream: TcpStream, peer: SocketAddr, listener_tls: ListenerTls) {
    let _ = stream.set_nodelay(true);
    let generation = shared.current();
    let session_id = doorman_spool::new_queue_id();
    let peer_ip = canonical_ip(peer.ip());
    let limits = &generation.config().server.limits;
    let mut conn = Connection::new(Stream::Plain(stream), limits.command_timeout_at(shared.open_connections()));
    let policy = &generation.policy;
    // Only a trusted proxy's header is read: from anyone else the first bytes are the client's.
    let proxy = if policy.is_trusted_proxy(peer_ip) { Some(read_proxy_header(&mut conn, shared).await) } else { None };
    if let Some(ProxyHeader::Malformed(why)) = &proxy {
        tracing::info!(peer = %peer_ip, "PROXY header: {why}");
    }
    let client = policy.connecting_client(peer_ip, proxy.as_ref());
    let (_guard, counts) = shared.count_connection(client, policy.client_network(client));
    let connect = ConnectInfo {
        peer_ip,
        proxy,
        connections_total: counts.total,
        connections_from_client: counts.from_client,
        connections_from_network: counts.from_network,
    };
    let decision = policy.connect(&connect, Detail::Brief);
    let reply = decision.reply.to_string();
    if !decision.is_accepted() {
        shared.metrics.connections_refused.inc();
        let mut r = Record::now(Event::Reject);
        r.session = Some(session_id.clone());
        r.client_ip = Some(decision.client.to_string());
        r.stage = Some(doorman_tracking::Stage::Connect);
        r.reply = Some(reply.clone());
        shared.tracking.log(r);
    }

    let mut info = PolicySession::new(decision.client);
    if listener_tls == ListenerTls::Implicit {
        let timeout = crate::tls::handshake_timeout(&generation.config().server.limits);
        let setup = generation.tls.clone();
        if let Err(e) = conn.start_implicit_tls(TlsAcceptor::from(setup.config.clone()), timeout).await {
            tracing::info!(client = %decision.client, "TLS handshake failed: {e}");
            return;
        }
        if let Some(tls) = conn.tls() {
            info.tls = Some(crate::tls::session_info(tls, &setup));
        }
    }

    shared.metrics.reply(decision.reply.code);
    conn.queue(&reply);
    if !decision.is_accepted() {
        conn.close().await;
        return;
    }
    let mut r = Record::now(Event::Connect);
    r.session = Some(session_id.clone());
    r.client_ip = Some(decision.client.to_string());
    r.tls = info.tls.as_ref().map(|t| t.to_string());
    r.reply = Some(reply);
    shared.tracking.log(r);
    Session::new(shared.clone(), conn, session_id, listener_tls, generation, info, connect).run().await;
}

/// Reads a trusted proxy's header; what went wrong is for the policy to answer.
async fn read_proxy_header(conn: &mut Connection, shared: &Shared) -> ProxyHeader {
    let mut shutdown = shared.shutdown.subscribe();
    let deadline = std::time::Instant::now() + PROXY_HEADER_TIMEOUT;
    loop {
        match proxy::parse(conn.unread()) {
            Parsed::Header(h, len) => {
                conn.consume(len);
                return h;
            }
            Parsed::Incomplete => {
                if let Err(e) = conn.fill(deadline, &mut shutdown).await {
                    let why = match e {
                        ReadError::Timeout | ReadError::TooSlow => {
                            format!("no complete PROXY header within {} s", PROXY_HEADER_TIMEOUT.as_secs())
                        }
                        ReadError::Closed => "the connection closed before a complete PROXY header".into(),
                        ReadError::Closing => "the server is shutting down".into(),
                        ReadError::Io(e) => format!("no complete PROXY header: {e}"),
                    };
                    return ProxyHeader::Malformed(why);
                }
            }
            malformed => return malformed.into_header(),
        }
    }
}
