//! doorman's inbound SMTP edge (`doorman serve`).
//!
//! - [`server`] accepts connections: PROXY header, limits, greeting.
//! - [`session`] speaks SMTP, one file per stage, and asks the policy engine at each.
//! - [`framing`] and [`connection`] read lines and message bodies strictly (no smuggling).
//! - [`tls`] and [`proxy`] do what needs crypto or the network for the policy; DNSBL answers and
//!   authentication come from `doorman-dns` and `doorman-filter`.
//! - The spool (`doorman-spool`) is the output: nothing is answered `250` before it is durable.
//!   Delivery is another program's job (`doorman-queue`); `doorman-server` starts both.
//! - [`reload`] swaps config generations live; [`metrics`] counts what the edge did, for the
//!   server's `/metrics`.

pub mod body;
pub mod connection;
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

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use doorman_config::{ListenerTls, Loaded, Published};
use doorman_policy::Policy;
use doorman_spool::Spool;
use doorman_tracking::TrackingLog;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

pub use reload::{ConfigSource, PolicyUpdater};
/// The command line parser, for the fuzz targets.
pub use session::command;

use crate::reload::{Generation, GenerationError};
use crate::shutdown::Phase;
use crate::state::Shared;
use crate::tls::{SelfSigned, TlsError};

/// The edge could not start: its first generation, or a socket it listens on.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Generation(#[from] GenerationError),
    #[error("server.listeners[{index}]: cannot listen on {address}: {source}")]
    Listener { index: usize, address: SocketAddr, source: io::Error },
}

/// The receiving side, bound and not yet accepting: its listeners and the config in force.
/// It knows nothing of delivery; what it commits to the spool is all it hands on
/// ([`Edge::committed`]).
pub struct Edge {
    shared: Arc<Shared>,
    listeners: Vec<(TcpListener, ListenerTls)>,
}

/// The policy in force now; it changes with each reload.
pub type PolicySource = Arc<dyn Fn() -> Arc<Policy> + Send + Sync>;

impl Edge {
    /// Compiles the first generation of `loaded` and binds every listener. A port 0 listener
    /// gets a free port, which the log line `listening on …` names.
    pub async fn bind(
        source: ConfigSource,
        loaded: Loaded,
        published: Option<Published>,
        spool: Arc<Spool>,
        tracking: Arc<TrackingLog>,
    ) -> Result<Edge, BindError> {
        let server = loaded.config.server.clone();
        let self_signed = SelfSigned::generate(&server.hostname)?;
        if server.tls.certificate.is_none() {
            tracing::info!("no server.tls.certificate: using a self-signed certificate for {}", server.hostname);
        }
        let generation = Generation::compile(loaded, 1, &self_signed, None)?;
        let mut listeners = Vec::new();
        for (i, l) in server.listeners.iter().enumerate() {
            let socket = TcpListener::bind(l.address).await.map_err(|source| BindError::Listener {
                index: i,
                address: l.address,
                source,
            })?;
            listeners.push((socket, l.tls));
        }
        let (trigger, _) = shutdown::channel();
        let shared = Arc::new(Shared::new(generation, source, self_signed, spool, tracking, trigger, published));
        Ok(Edge { shared, listeners })
    }

    /// Notified after each copy is committed to the spool: whoever delivers may listen, so
    /// that it need not poll.
    pub fn committed(&self) -> Arc<Notify> {
        self.shared.committed.clone()
    }

    /// The edge's counters, for the metrics endpoint to register.
    pub fn metrics(&self) -> Arc<metrics::Metrics> {
        self.shared.metrics.clone()
    }

    /// The policy in force, for the delivering side (routes, quarantine, hold).
    pub fn policy_source(&self) -> PolicySource {
        let shared = self.shared.clone();
        Arc::new(move || shared.current().policy.clone())
    }

    /// Starts accepting and watching the config for changes.
    pub fn start(self) -> Running {
        let Edge { shared, listeners } = self;
        let (watcher, updater) = reload::watch(shared.clone());
        shared.reported(None, Vec::new());
        for (socket, tls) in listeners {
            let addr = socket.local_addr().map(|a| a.to_string()).unwrap_or_default();
            tracing::info!("listening on {addr} ({tls:?})");
            tokio::spawn(server::accept_loop(shared.clone(), socket, tls));
        }
        Running { shared, watcher, updater }
    }
}

/// An edge that accepts connections.
pub struct Running {
    shared: Arc<Shared>,
    watcher: JoinHandle<()>,
    updater: PolicyUpdater,
}

impl Running {
    /// The edge's counters (the config generation in force among them).
    pub fn metrics(&self) -> Arc<metrics::Metrics> {
        self.shared.metrics.clone()
    }

    /// Where a cluster node's policy revisions go to be put in force.
    pub fn policy_updater(&self) -> PolicyUpdater {
        self.updater.clone()
    }

    /// Stops taking connections and transactions, gives the sessions under way the
    /// configured grace to finish, then closes the rest.
    pub async fn drain(self) {
        let shared = &self.shared;
        let grace = shared.current().config().server.limits.shutdown_grace.0;
        tracing::info!("shutting down: no new connections or transactions; sessions have {grace:?} to finish");
        shared.shutdown.set(Phase::Draining);
        wait_sessions(shared, grace).await;
        shared.shutdown.set(Phase::Closing);
        wait_sessions(shared, Duration::from_secs(5)).await;
        self.watcher.abort();
        shared.spool.remove_status();
    }
}

async fn wait_sessions(shared: &Shared, limit: Duration) {
    let until = Instant::now() + limit;
    while shared.metrics.connections_open.get() > 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
