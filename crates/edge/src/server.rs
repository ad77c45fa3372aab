//! Listeners and the accept loop: PROXY header, connection limits, implicit TLS and the
//! greeting, then one task per session.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use doorman_config::ListenerTls;
use doorman_config::net::canonical_ip;
use doorman_policy::{ConnectInfo, Detail, Session as PolicySession};
use doorman_tracking::{Event, Record};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::connection::{Connection, Stream};
use crate::proxy::{self, Parsed, ProxyHeader};
use crate::session::Session;
use crate::state::Shared;

/// How long a trusted proxy has to send its header.
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
                shared.metrics.connections_accepted.fetch_add(1, Relaxed);
                let shared = shared.clone();
                tokio::spawn(async move {
                    shared.metrics.connections_open.fetch_add(1, Relaxed);
                    handle(&shared, stream, peer, tls).await;
                    shared.metrics.connections_open.fetch_sub(1, Relaxed);
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
    let mut conn = Connection::new(Stream::Plain(stream));
    let refuse = |client: IpAddr, reply: String| {
        shared.metrics.connections_refused.fetch_add(1, Relaxed);
        let mut r = Record::now(Event::Reject);
        r.session = Some(session_id.clone());
        r.client_ip = Some(client.to_string());
        r.stage = Some("connect".into());
        r.reply = Some(reply);
        shared.tracking.log(r);
    };

    let proxied = if generation.policy.is_trusted_proxy(peer_ip) {
        match read_proxy_header(&mut conn, shared).await {
            Ok(ProxyHeader::Client(ip)) => Some(canonical_ip(ip)),
            Ok(ProxyHeader::Local) => None,
            Err(why) => {
                tracing::info!(peer = %peer_ip, "closing: {why}");
                refuse(peer_ip, why);
                return;
            }
        }
    } else {
        None
    };
    let client = proxied.unwrap_or(peer_ip);
    let (_guard, total, from_client) = shared.count_connection(client);
    let decision = generation.policy.connect(
        &ConnectInfo {
            peer_ip,
            proxied_client: proxied,
            connections_total: total,
            connections_from_client: from_client,
        },
        Detail::Brief,
    );

    let mut info = PolicySession::new(client);
    if listener_tls == ListenerTls::Implicit {
        let timeout = crate::tls::handshake_timeout(&generation.config().server.limits);
        let setup = generation.tls.clone();
        if let Err(e) = conn.start_tls(TlsAcceptor::from(setup.config.clone()), timeout).await {
            tracing::info!(client = %client, "TLS handshake failed: {e}");
            return;
        }
        if let Some(tls) = conn.tls() {
            info.tls = Some(crate::tls::session_info(tls, &setup));
        }
    }

    let reply = decision.reply.to_string();
    shared.metrics.reply(decision.reply.code);
    conn.queue(&reply);
    if !decision.is_accepted() {
        refuse(client, reply);
        conn.close().await;
        return;
    }
    let mut r = Record::now(Event::Connect);
    r.session = Some(session_id.clone());
    r.client_ip = Some(client.to_string());
    r.tls = info.tls.as_ref().map(|t| t.to_string());
    r.reply = Some(reply);
    shared.tracking.log(r);
    Session::new(shared.clone(), conn, session_id, listener_tls, generation, info).run().await;
}

async fn read_proxy_header(conn: &mut Connection, shared: &Shared) -> Result<ProxyHeader, String> {
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        match proxy::parse(conn.unread()) {
            Parsed::Header(h, len) => {
                conn.consume(len);
                return Ok(h);
            }
            Parsed::Malformed(why) => return Err(why),
            Parsed::Incomplete => {
                if let Err(e) = conn.fill(PROXY_HEADER_TIMEOUT, &mut shutdown).await {
                    return Err(format!("no complete PROXY header from a trusted proxy: {e:?}"));
                }
            }
        }
    }
}
