//! `doorman serve`: the receiving edge and the delivering queue in one process. They meet
//! only at the spool, as Postfix's smtpd and qmgr do: the edge commits copies and says so
//! ([`doorman_edge::Edge::committed`]); the queue reads them from the spool and delivers.
//! This crate opens what both share (the spool, the tracking log), starts them, serves their
//! metrics (one registry, `GET /metrics`), and stops them on SIGTERM or SIGINT. [`control`]
//! is the other side: `doorman reload` talking to a running server.

mod cluster;
pub mod control;
mod metrics;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use doorman_config::{Diagnostics, SpoolSync};
use doorman_edge::{BindError, ConfigSource, Edge};
use doorman_queue::QueueManager;
use doorman_spool::{Spool, SyncMode};
use doorman_tracking::TrackingLog;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

/// `doorman serve` could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] io::Error),
    #[error(transparent)]
    Config(#[from] Diagnostics),
    #[error("server.spool_dir: {0}")]
    Spool(#[source] io::Error),
    #[error("server.tracking_log: {path}: {source}")]
    TrackingLog { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Edge(#[from] BindError),
    #[error("server.metrics_listener: cannot listen on {address}: {source}")]
    Metrics { address: SocketAddr, source: io::Error },
    #[error(transparent)]
    Cluster(#[from] doorman_cluster::ClusterError),
}

/// Runs until SIGTERM or SIGINT. Errors are for the operator: they name the file, key or
/// address at fault.
pub fn run(source: ConfigSource) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("doorman")
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(serve(source))
}

async fn serve(source: ConfigSource) -> Result<(), ServeError> {
    let loaded = source.load()?;
    doorman_edge::reload::log_warnings(&source.name(), &loaded.warnings);
    raise_fd_limit(loaded.config.server.limits.max_connections);
    let base = source.base_dir();
    let server = loaded.config.server.clone();
    let spool_dir = base.join(&server.spool_dir);
    let sync = match server.spool_sync {
        SpoolSync::Filesystem => SyncMode::Filesystem,
        SpoolSync::PerCopy => SyncMode::PerCopy,
    };
    let spool = Arc::new(Spool::open_with(&spool_dir, sync).map_err(ServeError::Spool)?);
    if !spool.unnamed_files() {
        tracing::info!("{}: no O_TMPFILE on this filesystem; copies are written under tmp/", spool_dir.display());
    }
    for s in spool.set_aside_at_open() {
        tracing::warn!("{}: copy {} set aside in corrupt/: {}", spool_dir.display(), s.queue_id, s.why);
    }
    let log_path = base.join(&server.tracking_log);
    let tracking = Arc::new(
        TrackingLog::open(&log_path).map_err(|source| ServeError::TrackingLog { path: log_path.clone(), source })?,
    );
    for s in spool.set_aside_at_open() {
        tracking.log(doorman_tracking::Record::set_aside(&s.queue_id, &s.why));
    }

    let (loaded, node) = match loaded.config.cluster.clone() {
        Some(c) => {
            // A node may wait here for its first policy; SIGHUP's default would end it.
            // tokio keeps its handler for the life of the process once one is made.
            let _hangup = signal(SignalKind::hangup());
            let node = cluster::join(&source, c, &server.hostname, &spool).await?;
            (node.loaded.clone(), Some(node))
        }
        None => (loaded, None),
    };
    let published = node.as_ref().map(|n| n.published.clone());
    let edge = Edge::bind(source, loaded, published, spool.clone(), tracking.clone()).await?;
    let queue = QueueManager::new(spool.clone(), base, edge.policy_source(), tracking.clone(), edge.committed());
    let endpoint = match server.metrics_listener {
        Some(address) => {
            let listener =
                TcpListener::bind(address).await.map_err(|source| ServeError::Metrics { address, source })?;
            let mut registry = Registry::default();
            edge.metrics().register(&mut registry);
            queue.register_metrics(&mut registry);
            if let Some(node) = &node {
                node.register_metrics(&mut registry);
            }
            Some((listener, registry))
        }
        None => None,
    };
    let delivery = tokio::spawn(queue.run());
    let edge = edge.start();
    let endpoint = endpoint.map(|(listener, registry)| {
        let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        tracing::info!("metrics on http://{addr}/metrics");
        tokio::spawn(metrics::serve(listener, Arc::new(registry)))
    });
    if let Some(node) = node {
        node.run(edge.policy_updater(), spool, &tracking, edge.metrics());
    }
    tracing::info!("spool in {}, tracking log in {}", spool_dir.display(), log_path.display());

    wait_for_stop().await;
    // A stopping server has no numbers worth scraping: the endpoint closes with the listeners.
    if let Some(endpoint) = endpoint {
        endpoint.abort();
    }
    edge.drain().await;
    delivery.abort();
    tracing::info!("stopped");
    Ok(())
}

/// Each connection is a file descriptor, and the usual soft limit (1024) is far below
/// `max_connections`: take what the hard limit allows, and say when even that is short.
fn raise_fd_limit(max_connections: u32) {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit write and read only the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    // Connections, their delivery side and the spool's files: twice the connections is ample.
    let wanted = u64::from(max_connections) * 2 + 256;
    if lim.rlim_cur < wanted {
        tracing::warn!(
            "only {} file descriptors for server.limits.max_connections = {max_connections}; raise the limit (ulimit -n, or LimitNOFILE= in the systemd unit) to {wanted}",
            lim.rlim_cur
        );
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
