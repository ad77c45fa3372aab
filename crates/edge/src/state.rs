//! What every session shares: the generation in force, the spool, the tracking log, the
//! metrics and the connection counts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

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
    /// Reload requests handled, for `serve.json`.
    pub(crate) reloads: AtomicU64,
}

#[derive(Default)]
struct Connections {
    total: u32,
    by_client: HashMap<IpAddr, u32>,
}

impl Shared {
    pub fn new(
        generation: Generation,
        source: ConfigSource,
        self_signed: SelfSigned,
        spool: Arc<Spool>,
        tracking: Arc<TrackingLog>,
        shutdown: ShutdownTrigger,
    ) -> Shared {
        let metrics = Arc::new(Metrics::default());
        metrics.config_generation.store(generation.number, Ordering::Relaxed);
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
            reloads: AtomicU64::new(0),
        }
    }

    /// The generation in force now.
    pub fn current(&self) -> Arc<Generation> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Puts `next` in force; `compiled_from` is the fingerprint of its files, when sure.
    pub fn install(&self, next: Generation, compiled_from: Option<u64>) {
        self.metrics.config_generation.store(next.number, Ordering::Relaxed);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        *self.compiled_from.lock().unwrap_or_else(|e| e.into_inner()) = compiled_from;
    }

    pub fn compiled_from(&self) -> Option<u64> {
        *self.compiled_from.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a connection from `client`; the guard uncounts it. Gives (total, from client),
    /// this one included.
    pub fn count_connection(self: &Arc<Self>, client: IpAddr) -> (ConnectionGuard, u32, u32) {
        let mut c = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        c.total += 1;
        let n = c.by_client.entry(client).or_default();
        *n += 1;
        let from_client = *n;
        let total = c.total;
        (ConnectionGuard { shared: self.clone(), client }, total, from_client)
    }
}

pub struct ConnectionGuard {
    shared: Arc<Shared>,
    client: IpAddr,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let mut c = self.shared.connections.lock().unwrap_or_else(|e| e.into_inner());
        c.total -= 1;
        if let Some(n) = c.by_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                c.by_client.remove(&self.client);
            }
        }
    }
}
