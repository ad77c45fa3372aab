//! doorman's inbound SMTP edge (`doorman serve`).
//!
//! - [`server`] accepts connections: PROXY header, limits, greeting.
//! - [`session`] speaks SMTP, one file per stage, and asks the policy engine at each.
//! - [`framing`] and [`connection`] read lines and message bodies strictly (no smuggling).
//! - [`tls`], [`proxy`], [`dnsbl`] do what needs crypto or the network for the policy.
//! - The spool (`doorman-spool`) is the output: nothing is answered `250` before it is durable.
//! - [`reload`] swaps config generations live; [`metrics`] serves Prometheus text.

pub mod connection;
pub mod dnsbl;
pub mod framing;
pub mod message;
pub mod metrics;
pub mod proxy;
pub mod reload;
mod server;
mod session;
pub mod shutdown;
mod state;
pub mod tls;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use doorman_queue::QueueManager;
use doorman_spool::Spool;
use doorman_tracking::TrackingLog;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

pub use reload::ConfigSource;

use crate::reload::Generation;
use crate::shutdown::Phase;
use crate::state::Shared;
use crate::tls::SelfSigned;

/// Runs the edge until SIGTERM or SIGINT. Errors are for the operator: they name the file,
/// key or address at fault.
pub fn run(source: ConfigSource) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("doorman")
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(serve(source))
}

async fn serve(source: ConfigSource) -> Result<(), String> {
    let loaded = source.load().map_err(|d| d.to_string())?;
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let base = base_dir(&source);
    let server = loaded.config.server.clone();
    let self_signed = SelfSigned::generate(&server.hostname)?;
    if server.tls.certificate.is_none() {
        tracing::info!("no server.tls.certificate: using a self-signed certificate for {}", server.hostname);
    }
    let generation = Generation::compile(loaded, 1, &self_signed)?;
    let spool_dir = base.join(&server.spool_dir);
    let spool = Spool::open(&spool_dir).map_err(|e| format!("server.spool_dir: {e}"))?;
    let log_path = base.join(&server.tracking_log);
    let tracking =
        TrackingLog::open(&log_path).map_err(|e| format!("server.tracking_log: {}: {e}", log_path.display()))?;

    let mut listeners = Vec::new();
    for (i, l) in server.listeners.iter().enumerate() {
        let socket = TcpListener::bind(l.address)
            .await
            .map_err(|e| format!("server.listeners[{i}]: cannot listen on {}: {e}", l.address))?;
        listeners.push((socket, l.tls));
    }
    let metrics_socket = match server.metrics_listener {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|e| format!("server.metrics_listener: cannot listen on {addr}: {e}"))?,
        ),
        None => None,
    };

    let (trigger, _) = shutdown::channel();
    let (spool, tracking) = (Arc::new(spool), Arc::new(tracking));
    let shared = Arc::new(Shared::new(generation, source, self_signed, spool.clone(), tracking.clone(), trigger));
    let watcher = tokio::spawn(reload::watch(shared.clone()));
    let policy_of = shared.clone();
    let queue = QueueManager::new(
        spool,
        base.clone(),
        Arc::new(move || policy_of.current().policy.clone()),
        tracking,
        shared.queue_wake.clone(),
    );
    let delivery = tokio::spawn(queue.run());
    for (socket, tls) in listeners {
        let addr = socket.local_addr().map(|a| a.to_string()).unwrap_or_default();
        tracing::info!("listening on {addr} ({tls:?})");
        tokio::spawn(server::accept_loop(shared.clone(), socket, tls));
    }
    if let Some(socket) = metrics_socket {
        tracing::info!("metrics on http://{}/metrics", socket.local_addr().map(|a| a.to_string()).unwrap_or_default());
        tokio::spawn(metrics::serve(socket, shared.metrics.clone(), shared.shutdown.subscribe()));
    }
    tracing::info!("spool in {}, tracking log in {}", spool_dir.display(), log_path.display());

    wait_for_stop().await;
    let grace = shared.current().config().server.limits.shutdown_grace.0;
    tracing::info!("shutting down: no new connections or transactions; sessions have {grace:?} to finish");
    shared.shutdown.set(Phase::Draining);
    wait_sessions(&shared, grace).await;
    shared.shutdown.set(Phase::Closing);
    wait_sessions(&shared, Duration::from_secs(5)).await;
    watcher.abort();
    delivery.abort();
    tracing::info!("stopped");
    Ok(())
}

/// Relative paths in a config file are relative to its folder, as `recipients_file` is.
fn base_dir(source: &ConfigSource) -> PathBuf {
    match source {
        ConfigSource::File(p) => p.parent().map(Path::to_path_buf).unwrap_or_default(),
        ConfigSource::Text { base_dir, .. } => base_dir.clone(),
    }
}

async fn wait_for_stop() {
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::warn!("cannot listen for SIGTERM/SIGINT; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}

async fn wait_sessions(shared: &Shared, limit: Duration) {
    let until = Instant::now() + limit;
    while shared.metrics.connections_open.load(std::sync::atomic::Ordering::Relaxed) > 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
