//! doorman's cluster: several edge nodes, one policy and one message trace, through NATS
//! JetStream rather than a cluster of our own.
//!
//! - [`store`]: the policy as one versioned document in a key-value bucket; publishing it,
//!   and following it on a node (watch, with a poll behind it for what a watch can miss).
//! - [`nodes`]: each node's heartbeat (revision, uptime, queue) and `doorman cluster status`.
//! - [`trace`]: tracking events to a stream without holding up a session, and reading the
//!   whole cluster's trace back.
//! - [`state`]: what a node knows of itself, for its heartbeat and its metrics ([`metrics`]).
//!
//! The spool stays local to each node: a node's queue must survive the network.

pub mod metrics;
pub mod nodes;
pub mod state;
pub mod store;
pub mod trace;

use std::time::Duration;

use doorman_config::Cluster;

pub use state::NodeState;

/// The cluster could not be reached or did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster.credentials: {path}: {source}")]
    Credentials { path: String, source: std::io::Error },
    #[error("cannot reach NATS at {url}: {message}")]
    Connect { url: String, message: String },
    #[error("NATS at {url}: {message}")]
    JetStream { url: String, message: String },
    #[error("NATS at {url} has no bucket {bucket:?}: nothing was published to this cluster yet (or another --bucket)")]
    Missing { url: String, bucket: String },
}

/// A connection to the cluster's NATS servers.
#[derive(Clone)]
pub struct Connection {
    pub url: String,
    pub client: async_nats::Client,
    pub jetstream: async_nats::jetstream::Context,
}

/// How long a request to JetStream may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// Connects once, failing when NATS does not answer: for the commands an administrator runs.
pub async fn connect(cluster: &Cluster, name: &str) -> Result<Connection, ClusterError> {
    let options = options(cluster, name).await?;
    let client = async_nats::connect_with_options(cluster.url.as_str(), options)
        .await
        .map_err(|e| ClusterError::Connect { url: cluster.url.clone(), message: e.to_string() })?;
    Ok(Connection::new(&cluster.url, client))
}

/// Connects in the background and keeps reconnecting for as long as the process runs: for
/// a node, which must start and serve while NATS is down. `state` follows the connection.
pub async fn connect_node(
    cluster: &Cluster,
    name: &str,
    state: std::sync::Arc<NodeState>,
) -> Result<Connection, ClusterError> {
    let url = cluster.url.clone();
    let options =
        options(cluster, name).await?.retry_on_initial_connect().max_reconnects(None).event_callback(move |event| {
            let state = state.clone();
            let url = url.clone();
            async move { state.connection_event(&url, &event) }
        });
    let client = async_nats::connect_with_options(cluster.url.as_str(), options)
        .await
        .map_err(|e| ClusterError::Connect { url: cluster.url.clone(), message: e.to_string() })?;
    Ok(Connection::new(&cluster.url, client))
}

async fn options(cluster: &Cluster, name: &str) -> Result<async_nats::ConnectOptions, ClusterError> {
    let mut options = async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(REQUEST_TIMEOUT)
        .request_timeout(Some(REQUEST_TIMEOUT));
    if let Some(path) = &cluster.credentials {
        options = options
            .credentials_file(path)
            .await
            .map_err(|source| ClusterError::Credentials { path: path.display().to_string(), source })?;
    }
    let tls = &cluster.tls;
    if tls.required {
        options = options.require_tls(true);
    }
    if let Some(ca) = &tls.ca {
        options = options.add_root_certificates(ca.clone());
    }
    if let (Some(cert), Some(key)) = (&tls.certificate, &tls.key) {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    Ok(options)
}

impl Connection {
    fn new(url: &str, client: async_nats::Client) -> Connection {
        let jetstream = async_nats::jetstream::new(client.clone());
        Connection { url: url.to_string(), client, jetstream }
    }

    pub(crate) fn error(&self, message: impl std::fmt::Display) -> ClusterError {
        ClusterError::JetStream { url: self.url.clone(), message: message.to_string() }
    }
}
