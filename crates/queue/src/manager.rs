//! The queue manager's scheduler: finds copies due for an attempt and delivers each in its
//! own task. A copy's way ([`crate::lifecycle`]), its routes ([`crate::routes`]) and its DSN
//! ([`crate::bounce`]) are the manager's other parts; what they did is counted in
//! [`crate::metrics`].

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use doorman_policy::Policy;
use doorman_spool::{OpenCopy, Spool};
use doorman_tracking::{Record, TrackingLog};
use prometheus_client::registry::Registry;
use tokio::sync::{Notify, Semaphore};

use crate::census::QueueGauges;
use crate::metrics::{DeliveryMetrics, NextHop, Outcome};
use crate::state::{self, unix};

/// The policy in force now (the edge's current config generation).
pub type PolicySource = Arc<dyn Fn() -> Arc<Policy> + Send + Sync>;

pub struct QueueManager {
    pub(crate) spool: Arc<Spool>,
    /// Relative Maildir paths are relative to this folder (the config file's).
    pub(crate) base_dir: PathBuf,
    pub(crate) policy: PolicySource,
    pub(crate) tracking: Arc<TrackingLog>,
    pub(crate) wake: Arc<Notify>,
    /// Copies being delivered now.
    pub(crate) in_flight: Mutex<HashSet<String>>,
    /// When each known copy is next due (unix seconds), so a scan need not read every state.
    pub(crate) due: Mutex<HashMap<String, u64>>,
    /// One semaphore per next hop (`host:port`).
    pub(crate) hops: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// DSNs sent in the current minute.
    pub(crate) dsn_window: Mutex<(Instant, u32)>,
    /// TLS client settings per route, built once: loading CA files and the system roots
    /// costs far more than a delivery.
    pub(crate) tls: Mutex<HashMap<TlsKey, (Arc<Policy>, TlsPair)>>,
    pub(crate) metrics: DeliveryMetrics,
}

/// The config generation (kept alive by the entry, so its address is not reused) and the
/// files a route's TLS settings are made of.
pub(crate) type TlsKey = (usize, Option<PathBuf>, Option<PathBuf>, Option<PathBuf>);
pub(crate) type TlsPair = (Arc<rustls::ClientConfig>, Arc<rustls::ClientConfig>);

impl QueueManager {
    /// `wake` is notified by the receiving side when it has spooled something.
    pub fn new(
        spool: Arc<Spool>,
        base_dir: PathBuf,
        policy: PolicySource,
        tracking: Arc<TrackingLog>,
        wake: Arc<Notify>,
    ) -> Arc<QueueManager> {
        Arc::new(QueueManager {
            spool,
            base_dir,
            policy,
            tracking,
            wake,
            in_flight: Mutex::new(HashSet::new()),
            due: Mutex::new(HashMap::new()),
            hops: Mutex::new(HashMap::new()),
            dsn_window: Mutex::new((Instant::now(), 0)),
            tls: Mutex::new(HashMap::new()),
            metrics: DeliveryMetrics::default(),
        })
    }

    /// Adds the delivering side's metrics to `registry`: its counters, and the queue gauges
    /// counted from the spool at each scrape.
    pub fn register_metrics(&self, registry: &mut Registry) {
        self.metrics.register(registry);
        registry.register_collector(Box::new(QueueGauges(self.spool.clone())));
    }

    /// Tells the manager that new copies are in the spool.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs until the task is dropped. At start it finds everything already in the spool.
    pub async fn run(self: Arc<Self>) {
        loop {
            self.scan();
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    fn scan(self: &Arc<Self>) {
        if (self.policy)().config().server.queue.hold {
            return;
        }
        let ids = match self.spool.queued() {
            Ok(ids) => ids,
            Err(e) => {
                tracing::error!("cannot list the spool: {e}");
                return;
            }
        };
        let now = unix(SystemTime::now());
        let mut due = self.due.lock().unwrap_or_else(|e| e.into_inner());
        // `doorman queue flush|retry` and `quarantine release` ask for a look at everything.
        if self.spool.take_flush_request() {
            due.clear();
        }
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let present: HashSet<String> = ids.into_iter().collect();
        due.retain(|id, _| present.contains(id));
        for id in present {
            if in_flight.contains(&id) || due.get(&id).is_some_and(|&t| t > now) {
                continue;
            }
            if let Ok(Some(st)) = state::load(&self.spool, &id)
                && st.next_attempt > now
            {
                due.insert(id, st.next_attempt);
                continue;
            }
            in_flight.insert(id.clone());
            let this = self.clone();
            tokio::spawn(async move {
                let next = this.deliver(&id).await;
                let mut due = this.due.lock().unwrap_or_else(|e| e.into_inner());
                match next {
                    Some(t) => due.insert(id.clone(), t),
                    None => due.remove(&id),
                };
                drop(due);
                this.in_flight.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            });
        }
    }

    /// One recipient's result of an attempt, for the tracking log and the metrics. The caller
    /// has put it in the copy's delivery state.
    pub(crate) fn outcome(&self, result: Outcome, hop: &NextHop, file: &OpenCopy, id: &str, rcpt: &str, reply: &str) {
        let env = &file.envelope;
        self.metrics.recipient(&env.tenant, hop, result);
        if result == Outcome::Delivered {
            self.metrics.delivered_after(file.written.elapsed().unwrap_or_default());
        }
        let mut r = Record::now(result.event());
        r.session = Some(env.session.clone());
        r.queue_id = Some(id.to_string());
        r.client_ip = Some(env.client_ip.clone());
        r.mail_from = Some(env.mail_from.clone());
        r.rcpt = Some(rcpt.to_string());
        r.tenant = Some(env.tenant.clone());
        r.connector = env.connector.clone();
        r.reply = Some(reply.to_string());
        r.scl = env.scl;
        self.tracking.log(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scan can list a copy just before another delivery finishes it: the attempt on a
    /// copy that is gone ends quietly, and is not retried in a minute.
    #[tokio::test]
    async fn a_copy_finished_under_the_scan_is_done_not_an_error() {
        let dir = std::env::temp_dir().join(format!("doorman-queue-gone-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let spool = Arc::new(Spool::open(&dir.join("spool")).unwrap());
        let tracking = Arc::new(TrackingLog::open(&dir.join("tracking.jsonl")).unwrap());
        let loaded = doorman_config::load_str("t.toml", "", &dir).unwrap();
        let policy = Arc::new(Policy::new(loaded.config));
        let manager =
            QueueManager::new(spool, dir.clone(), Arc::new(move || policy.clone()), tracking, Arc::new(Notify::new()));
        assert_eq!(manager.deliver("0000000000000000").await, None);
    }
}
