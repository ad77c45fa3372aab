//! The policy in the cluster: one key in a JetStream key-value bucket, whose value is the
//! whole [`PolicyDocument`]. Each put is a revision (the bucket's sequence number), so a node
//! applies all of a change or none of it, and can say which revision it applies.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv::{self, Operation, Store};
use async_nats::jetstream::stream;
use bytes::Bytes;
use doorman_config::{Cluster, PolicyDocument};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::{ClusterError, Connection, NodeState};

/// The key the policy document is stored under.
pub const POLICY_KEY: &str = "policy";

/// Revisions of the policy the bucket keeps, for `history` and for a node far behind.
const HISTORY: i64 = 64;

/// One revision as the bucket holds it: not yet read, so that a node can refuse one it
/// cannot read, with its number.
#[derive(Clone, Debug)]
pub struct Revision {
    pub number: u64,
    pub value: Bytes,
    /// The bucket's latest revision is older than the one in force: the bucket was made
    /// anew (its store wiped), and its numbers start again.
    pub reset: bool,
}

pub struct PolicyStore {
    conn: Connection,
    kv: Store,
}

/// Another publisher was quicker, or the store did not take it.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("revision {found} was published meanwhile (this change was checked against {expected}); run again")]
    Raced { expected: String, found: String },
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

impl PolicyStore {
    /// Opens the cluster's policy bucket, creating it the first time (with
    /// `cluster.replicas` copies).
    pub async fn open(conn: &Connection, cluster: &Cluster) -> Result<PolicyStore, ClusterError> {
        Self::open_with(conn, cluster, true).await
    }

    /// Opens the bucket only if it exists: for the commands that read.
    pub async fn existing(conn: &Connection, cluster: &Cluster) -> Result<PolicyStore, ClusterError> {
        Self::open_with(conn, cluster, false).await
    }

    async fn open_with(conn: &Connection, cluster: &Cluster, create: bool) -> Result<PolicyStore, ClusterError> {
        let bucket = Bucket {
            name: cluster.bucket.clone(),
            description: "doorman: the policy every edge node applies",
            history: HISTORY,
            max_age: Duration::ZERO,
            replicas: cluster.replicas,
        };
        let kv = open_bucket(conn, bucket, create).await?;
        Ok(PolicyStore { conn: conn.clone(), kv })
    }

    /// Revision `number` of the policy, while the bucket still keeps it.
    pub async fn revision(&self, number: u64) -> Result<Option<Revision>, ClusterError> {
        let entry = self.kv.entry_for_revision(POLICY_KEY, number).await.map_err(|e| self.conn.error(e))?;
        Ok(entry.filter(|e| e.operation == Operation::Put).map(|e| Revision {
            number: e.revision,
            value: e.value,
            reset: false,
        }))
    }

    /// The revision in force in the cluster, if any was published.
    pub async fn latest(&self) -> Result<Option<Revision>, ClusterError> {
        let entry = self.kv.entry(POLICY_KEY).await.map_err(|e| self.conn.error(e))?;
        Ok(entry.filter(|e| e.operation == Operation::Put).map(|e| Revision {
            number: e.revision,
            value: e.value,
            reset: false,
        }))
    }

    /// Publishes `document` as the next revision, provided the one in force is still
    /// `expected` (what the change was checked against): two administrators publishing at
    /// once cannot overwrite each other unseen.
    pub async fn publish(&self, document: &PolicyDocument, expected: Option<u64>) -> Result<u64, PublishError> {
        let value = Bytes::from(document.to_json());
        let written = match expected {
            Some(revision) => self.kv.update(POLICY_KEY, value, revision).await.map_err(|e| {
                if e.kind() == kv::UpdateErrorKind::WrongLastRevision { Err(()) } else { Ok(self.conn.error(e)) }
            }),
            None => self.kv.create(POLICY_KEY, value).await.map_err(|e| {
                if e.kind() == kv::CreateErrorKind::AlreadyExists { Err(()) } else { Ok(self.conn.error(e)) }
            }),
        };
        match written {
            Ok(revision) => Ok(revision),
            Err(Ok(e)) => Err(e.into()),
            Err(Err(())) => {
                let found = self.latest().await?.map_or("none".into(), |r| r.number.to_string());
                let expected = expected.map_or("none".into(), |r| r.to_string());
                Err(PublishError::Raced { expected, found })
            }
        }
    }
}

/// Opens a bucket, creating it when it does not exist; two nodes creating it at once get
/// the same bucket. The bucket's stream is created here, as the key-value convention lays it
/// out, and not by the client's `create_key_value`: that one first reads the account's
/// limits in a form NATS 2.9 (Debian's) does not send.
pub(crate) async fn open_bucket(conn: &Connection, config: Bucket, create: bool) -> Result<Store, ClusterError> {
    match conn.jetstream.get_key_value(config.name.clone()).await {
        Ok(kv) => return Ok(kv),
        Err(e) if !create => {
            return Err(match e.kind() {
                async_nats::jetstream::context::KeyValueErrorKind::GetBucket => {
                    ClusterError::Missing { url: conn.url.clone(), bucket: config.name }
                }
                _ => conn.error(e),
            });
        }
        Err(_) => {}
    }
    conn.jetstream
        .get_or_create_stream(stream::Config {
            name: format!("KV_{}", config.name),
            description: Some(config.description.to_string()),
            subjects: vec![format!("$KV.{}.>", config.name)],
            max_messages_per_subject: config.history,
            max_age: config.max_age,
            max_message_size: -1,
            max_bytes: -1,
            max_messages: -1,
            storage: stream::StorageType::File,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            num_replicas: config.replicas.max(1),
            discard: stream::DiscardPolicy::New,
            ..Default::default()
        })
        .await
        .map_err(|e| conn.error(e))?;
    conn.jetstream.get_key_value(config.name).await.map_err(|e| conn.error(e))
}

/// A key-value bucket as doorman lays it out.
pub(crate) struct Bucket {
    pub name: String,
    pub description: &'static str,
    /// Values kept per key.
    pub history: i64,
    /// How long a value is kept; zero for ever.
    pub max_age: Duration,
    pub replicas: usize,
}

/// How long a node waits before it tries the store again after an error.
const RETRY: Duration = Duration::from_millis(500);

/// Follows the policy on a node: every revision newer than the one in force goes to the
/// channel, from a watch, and from a poll every heartbeat behind it (a watch can miss what
/// was published while NATS restarted). After a reconnect the watch starts again from the
/// revision the node has.
pub fn follow(conn: Connection, cluster: Cluster, state: Arc<NodeState>) -> mpsc::Receiver<Revision> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let mut failures = 0u32;
        let store = loop {
            match PolicyStore::open(&conn, &cluster).await {
                Ok(s) => break Arc::new(s),
                Err(e) => {
                    // Said at once and then every minute: a node whose NATS has no JetStream,
                    // or that may not use the bucket, must say why it waits.
                    if state.connected() && failures.is_multiple_of(120) {
                        tracing::warn!(target: "doorman::cluster", "cannot open the policy bucket {:?}: {e}", cluster.bucket);
                    }
                    failures = failures.wrapping_add(1);
                    tokio::time::sleep(RETRY).await;
                }
            }
        };
        tokio::spawn(poll(store.clone(), cluster.heartbeat.0, state.clone(), tx.clone()));
        watch(store, state, tx).await;
    });
    rx
}

async fn watch(store: Arc<PolicyStore>, state: Arc<NodeState>, tx: mpsc::Sender<Revision>) {
    loop {
        let from = state.applied().unwrap_or(0) + 1;
        match store.kv.watch_from_revision(POLICY_KEY, from).await {
            Ok(mut entries) => {
                while let Some(entry) = entries.next().await {
                    let Ok(entry) = entry else { break };
                    if entry.operation == Operation::Put
                        && state.news(entry.revision)
                        && tx.send(Revision { number: entry.revision, value: entry.value, reset: false }).await.is_err()
                    {
                        return;
                    }
                }
            }
            Err(e) => tracing::debug!(target: "doorman::cluster", "policy watch: {e}"),
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(RETRY).await;
    }
}

async fn poll(store: Arc<PolicyStore>, every: Duration, state: Arc<NodeState>, tx: mpsc::Sender<Revision>) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Ok(Some(mut latest)) = store.latest().await else { continue };
        state.confirm(latest.number);
        latest.reset = state.applied().is_some_and(|a| latest.number < a);
        if (latest.reset || state.news(latest.number)) && tx.send(latest).await.is_err() {
            return;
        }
    }
}
