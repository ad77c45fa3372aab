//! What every session shares: the generation in force, the spool, the tracking log, the
//! metrics and the connection counts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};

use doorman_config::Published;
use doorman_spool::Spool;
use doorman_tracking::TrackingLog;
use tokio::sync::Notify;

use crate::metrics::Metrics;
use crate::reload::{ConfigSource, Generation};
use crate::shutdown::ShutdownTrigger;
use crate::tls::SelfSigned;

pub struct Shared {
    current: RwLock<Arc<Generation>>,
    pub source: ConfigSource,
    pub self_signed: SelfSigned,
    pub spool: Arc<Spool>,
    pub tracking: Arc<TrackingLog>,
    /// Notified after a copy is committed to the spool, so whoever delivers need not poll.
    pub committed: Arc<Notify>,
    pub metrics: Arc<Metrics>,
    pub shutdown: ShutdownTrigger,
    connections: Mutex<Connections>,
    /// The fingerprint of the files the generation in force was compiled from, when known.
    compiled_from: Mutex<Option<u64>>,
    /// The cluster's policy revision in force, when the node takes its policy from one.
    published: Mutex<Option<Published>>,
    /// Reload requests handled, for `serve.json`.
    pub(crate) reloads: AtomicU64,
    /// The latest answers to `doorman reload`, for `serve.json`.
    pub(crate) answers: Mutex<Vec<doorman_spool::Answer>>,
}

#[derive(Default)]
struct Connections {
    total: u32,
    by_client: HashMap<IpAddr, u32>,
    by_network: HashMap<ipnet::IpNet, u32>,
}

/// How many connections are open, this one included: in all, from its client, and from its
/// client's network.
pub struct Counts {
    pub total: u32,
    pub from_client: u32,
    pub from_network: u32,
}

fn uncount<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u32>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            map.remove(key);
        }
    }
}

impl Shared {
    pub fn new(
        generation: Generation,
        source: ConfigSource,
        self_signed: SelfSigned,
        spool: Arc<Spool>,
        tracking: Arc<TrackingLog>,
        shutdown: ShutdownTrigger,
        published: Option<Published>,
    ) -> Shared {
        let metrics = Arc::new(Metrics::default());
        metrics.set_generation(generation.number);
        Shared {
            current: RwLock::new(Arc::new(generation)),
            source,
            self_signed,
            spool,
            tracking,
            committed: Arc::new(Notify::new()),
            metrics,
            shutdown,
            connections: Mutex::new(Connections::default()),
            compiled_from: Mutex::new(None),
            published: Mutex::new(published),
            reloads: AtomicU64::new(0),
            answers: Mutex::new(Vec::new()),
        }
    }

    /// The generation in force now.
    pub fn current(&self) -> Arc<Generation> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Puts `next` in force; `compiled_from` is the fingerprint of its files, when sure;
    /// `published` is the cluster revision it was compiled with, when it is a new one.
    pub fn install(&self, next: Generation, compiled_from: Option<u64>, published: Option<Published>) {
        self.metrics.set_generation(next.number);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        *self.compiled_from.lock().unwrap_or_else(|e| e.into_inner()) = compiled_from;
        if published.is_some() {
            *self.published.lock().unwrap_or_else(|e| e.into_inner()) = published;
        }
    }

    /// The cluster revision in force, for a node of a cluster.
    pub fn published(&self) -> Option<Published> {
        self.published.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn compiled_from(&self) -> Option<u64> {
        *self.compiled_from.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a connection from `client` in `network`; the guard uncounts it.
    pub fn count_connection(self: &Arc<Self>, client: IpAddr, network: ipnet::IpNet) -> (ConnectionGuard, Counts) {
        let mut c = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        c.total += 1;
        let total = c.total;
        let from_client = *c.by_client.entry(client).and_modify(|n| *n += 1).or_insert(1);
        let from_network = *c.by_network.entry(network).and_modify(|n| *n += 1).or_insert(1);
        (ConnectionGuard { shared: self.clone(), client, network }, Counts { total, from_client, from_network })
    }

    /// Connections open now: what stress mode is judged by.
    pub fn open_connections(&self) -> u32 {
        self.connections.lock().unwrap_or_else(|e| e.into_inner()).total
    }
}

pub struct ConnectionGuard {
    shared: Arc<Shared>,
    client: IpAddr,
    network: ipnet::IpNet,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let mut c = self.shared.connections.lock().unwrap_or_else(|e| e.into_inner());
        c.total -= 1;
        uncount(&mut c.by_client, &self.client);
        uncount(&mut c.by_network, &self.network);
    }
}
