//! What a node knows of itself as a member of the cluster: the revision it applies, whether
//! it reaches NATS, what it refused, and what its trace publishing did. Its heartbeat and
//! its Prometheus endpoint both read it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

pub struct NodeState {
    pub node: String,
    pub started: Instant,
    pub started_at: String,
    /// The revision in force; 0 before any.
    applied: AtomicU64,
    /// Whether the revision in force came from the snapshot on disk, not from NATS, since
    /// the start.
    from_snapshot: AtomicBool,
    connected: AtomicBool,
    refused: Mutex<Option<Refusal>>,
    pub revisions_refused: AtomicU64,
    pub events_published: AtomicU64,
    /// Events that did not fit the buffer.
    pub events_dropped: AtomicU64,
    /// Events NATS did not acknowledge.
    pub events_failed: AtomicU64,
}

/// The last revision this node refused, why, and the node's config generation then: once
/// the node's own file changed, the same revision may pass.
#[derive(Clone, Debug)]
pub struct Refusal {
    pub revision: u64,
    pub errors: Vec<String>,
    pub generation: u64,
}

impl NodeState {
    pub fn new(node: &str) -> NodeState {
        NodeState {
            node: node.to_string(),
            started: Instant::now(),
            started_at: doorman_tracking::time::now_rfc3339(),
            applied: AtomicU64::new(0),
            from_snapshot: AtomicBool::new(false),
            connected: AtomicBool::new(false),
            refused: Mutex::new(None),
            revisions_refused: AtomicU64::new(0),
            events_published: AtomicU64::new(0),
            events_dropped: AtomicU64::new(0),
            events_failed: AtomicU64::new(0),
        }
    }

    pub fn applied(&self) -> Option<u64> {
        Some(self.applied.load(Relaxed)).filter(|&r| r > 0)
    }

    pub fn set_applied(&self, revision: u64, from_snapshot: bool) {
        self.applied.store(revision, Relaxed);
        self.from_snapshot.store(from_snapshot, Relaxed);
    }

    /// NATS holds `revision` as the latest: the one in force, if it came from the snapshot,
    /// is now confirmed.
    pub fn confirm(&self, revision: u64) {
        if self.applied.load(Relaxed) == revision {
            self.from_snapshot.store(false, Relaxed);
        }
    }

    pub fn from_snapshot(&self) -> bool {
        self.from_snapshot.load(Relaxed)
    }

    pub fn connected(&self) -> bool {
        self.connected.load(Relaxed)
    }

    pub fn refused(&self) -> Option<Refusal> {
        self.refused.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn refuse(&self, revision: u64, errors: Vec<String>, generation: u64) {
        self.revisions_refused.fetch_add(1, Relaxed);
        *self.refused.lock().unwrap_or_else(|e| e.into_inner()) = Some(Refusal { revision, errors, generation });
    }

    /// Whether `revision` is news: newer than the one in force, and not older than one
    /// refused (a newer revision has been seen; the older one is no longer the policy).
    pub fn news(&self, revision: u64) -> bool {
        revision > self.applied.load(Relaxed) && self.refused().is_none_or(|r| revision >= r.revision)
    }

    /// Whether `revision` was refused under config generation `generation`: trying it again
    /// would give the same answer.
    pub fn refused_under(&self, revision: u64, generation: u64) -> bool {
        self.refused().is_some_and(|r| r.revision == revision && r.generation == generation)
    }

    pub(crate) fn connection_event(&self, url: &str, event: &async_nats::Event) {
        match event {
            async_nats::Event::Connected => {
                self.connected.store(true, Relaxed);
                tracing::info!(target: "doorman::cluster", "connected to NATS at {url}");
            }
            async_nats::Event::Disconnected => {
                self.connected.store(false, Relaxed);
                match self.applied() {
                    Some(r) => tracing::warn!(
                        target: "doorman::cluster",
                        "lost NATS at {url}; serving policy revision {r} (kept on disk) until it is back"
                    ),
                    None => tracing::warn!(target: "doorman::cluster", "lost NATS at {url}"),
                }
            }
            other => tracing::warn!(target: "doorman::cluster", "NATS at {url}: {other}"),
        }
    }
}
