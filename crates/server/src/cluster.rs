//! A node of a cluster: before the edge starts, the policy to start with (the snapshot on
//! disk, or the first revision the cluster gives); once it runs, every new revision through
//! the edge's reload path, the snapshot kept after each, the heartbeat, the trace stream and
//! the metrics.

use std::sync::Arc;

use doorman_cluster::metrics::NodeMetrics;
use doorman_cluster::store::Revision;
use doorman_cluster::{Connection, NodeState, nodes, store, trace};
use doorman_config::{Cluster, Loaded, PolicyDocument, Published};

use doorman_edge::metrics::Metrics;
use doorman_edge::{ConfigSource, PolicyUpdater};
use doorman_spool::{PolicySnapshot, ReloadResult, Spool};
use doorman_tracking::TrackingLog;
use prometheus_client::registry::Registry;
use tokio::sync::mpsc;

use crate::ServeError;

/// A node that has its first policy and is about to serve.
pub struct Node {
    pub loaded: Loaded,
    pub published: Published,
    conn: Connection,
    cluster: Cluster,
    state: Arc<NodeState>,
    feed: mpsc::Receiver<Revision>,
}

/// Connects (in the background) and finds the policy to start with: the snapshot, when it
/// still passes this node's checks; else the first revision the cluster gives that does. A
/// node with neither waits, without listening: it has nothing it could answer.
pub async fn join(
    source: &ConfigSource,
    cluster: Cluster,
    hostname: &str,
    spool: &Arc<Spool>,
) -> Result<Node, ServeError> {
    let state = Arc::new(NodeState::new(&cluster.node(hostname)));
    let conn = doorman_cluster::connect_node(&cluster, &state.node, state.clone()).await?;
    let mut feed = store::follow(conn.clone(), cluster.clone(), state.clone());
    let node = |loaded, published, feed| Node {
        loaded,
        published,
        conn,
        cluster: cluster.clone(),
        state: state.clone(),
        feed,
    };

    match spool.load_policy() {
        Ok(Some(snapshot)) => {
            match read(&Revision { number: snapshot.revision, value: snapshot.document.into(), reset: false }) {
                Ok(published) => match source.load_with(&published) {
                    Ok(loaded) => {
                        state.set_applied(published.revision, true);
                        tracing::info!(
                            target: "doorman::cluster",
                            "serving policy revision {} from the snapshot in the spool, until the cluster at {} says more",
                            published.revision,
                            cluster.url
                        );
                        return Ok(node(loaded, published, feed));
                    }
                    Err(diags) => tracing::error!(
                        target: "doorman::cluster",
                        "the snapshot of revision {} fails this node's checks; waiting for the cluster:\n{diags}",
                        published.revision
                    ),
                },
                Err(e) => {
                    tracing::error!(target: "doorman::cluster", "the policy snapshot: {e}; waiting for the cluster")
                }
            }
        }
        Ok(None) => {}
        Err(e) => tracing::error!(target: "doorman::cluster", "{e}; waiting for the cluster"),
    }
    tracing::info!(
        target: "doorman::cluster",
        "node {}: no policy yet; waiting for one from the cluster at {} (doorman config publish)",
        state.node,
        cluster.url
    );
    while let Some(revision) = feed.recv().await {
        if !state.news(revision.number) || state.refused_under(revision.number, 0) {
            continue;
        }
        let loaded = read(&revision).and_then(|p| source.load_with(&p).map(|l| (l, p)).map_err(|d| d.to_string()));
        match loaded {
            Ok((loaded, published)) => {
                keep(spool, &revision).await;
                state.set_applied(revision.number, false);
                tracing::info!(target: "doorman::cluster", "policy revision {} from the cluster", revision.number);
                return Ok(node(loaded, published, feed));
            }
            // Generation 0: the node serves none yet.
            Err(errors) => refuse(&state, revision.number, vec![errors], None, 0),
        }
    }
    Err(ServeError::Cluster(doorman_cluster::ClusterError::Connect {
        url: cluster.url.clone(),
        message: "the policy watch ended".into(),
    }))
}

impl Node {
    /// Adds the node's cluster metrics to `registry`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        NodeMetrics::register(self.state.clone(), registry);
    }

    /// Follows the cluster for as long as the process runs.
    pub fn run(self, updater: PolicyUpdater, spool: Arc<Spool>, tracking: &TrackingLog, metrics: Arc<Metrics>) {
        let Node { conn, cluster, state, mut feed, .. } = self;
        if cluster.trace {
            tracking.forward_to(Box::new(trace::publisher(conn.clone(), cluster.clone(), state.clone())));
        }
        let queued = spool.clone();
        nodes::beat(conn, cluster, state.clone(), Arc::new(move || queued.queued().map_or(0, |q| q.len() as u64)));
        tokio::spawn(async move {
            while let Some(revision) = feed.recv().await {
                // A refused revision is tried again once the node's own file has changed (a
                // new generation): it may pass now.
                let generation = metrics.generation();
                if state.refused_under(revision.number, generation) || !(revision.reset || state.news(revision.number))
                {
                    continue;
                }
                if revision.reset {
                    tracing::warn!(
                        target: "doorman::cluster",
                        "the cluster's latest policy revision {} is older than revision {} in force: its bucket was made anew; taking it",
                        revision.number,
                        state.applied().unwrap_or_default()
                    );
                }
                apply(&revision, &updater, &spool, &state, generation).await;
            }
        });
    }
}

async fn apply(revision: &Revision, updater: &PolicyUpdater, spool: &Arc<Spool>, state: &NodeState, generation: u64) {
    let published = match read(revision) {
        Ok(p) => p,
        Err(e) => return refuse(state, revision.number, vec![e], state.applied(), generation),
    };
    match updater.apply(published).await {
        Some(ReloadResult::Installed { generation } | ReloadResult::Unchanged { generation }) => {
            keep(spool, revision).await;
            state.set_applied(revision.number, false);
            tracing::info!(
                target: "doorman::cluster",
                "policy revision {} in force (config generation {generation})",
                revision.number
            );
        }
        Some(ReloadResult::Refused { errors, .. }) => {
            refuse(state, revision.number, errors, state.applied(), generation)
        }
        None => {}
    }
}

/// A revision as a node reads it: a document this build knows.
fn read(revision: &Revision) -> Result<Published, String> {
    PolicyDocument::from_json(&revision.value)
        .map(|document| Published { revision: revision.number, document })
        .map_err(|e| format!("cluster policy revision {}: {e}", revision.number))
}

/// Logs why, and remembers the refusal with the node's config generation.
fn refuse(state: &NodeState, revision: u64, errors: Vec<String>, in_force: Option<u64>, generation: u64) {
    for e in &errors {
        tracing::error!(target: "doorman::cluster", "{e}");
    }
    match in_force {
        Some(r) => tracing::error!(
            target: "doorman::cluster",
            "policy revision {revision} refused by this node; still serving revision {r}"
        ),
        None => tracing::error!(target: "doorman::cluster", "policy revision {revision} refused by this node"),
    }
    state.refuse(revision, errors, generation);
}

/// Keeps the revision in force on disk, for a start while NATS is down, off the runtime's
/// workers (it fsyncs). A snapshot that cannot be written is reported; the node serves on.
async fn keep(spool: &Arc<Spool>, revision: &Revision) {
    let snapshot = PolicySnapshot { revision: revision.number, document: revision.value.to_vec() };
    let spool = spool.clone();
    let saved = tokio::task::spawn_blocking(move || spool.save_policy(&snapshot)).await;
    if let Ok(Err(e)) = saved {
        tracing::error!(target: "doorman::cluster", "cannot keep policy revision {} on disk: {e}", revision.number);
    }
}
