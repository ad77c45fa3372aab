//! The queue manager: finds copies due for an attempt, delivers each in its own task (bounded
//! per next hop), records every recipient's outcome, and ends a copy once every recipient is
//! delivered or failed and the sender has its DSN.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use doorman_config::address::parse_mailbox;
use doorman_config::{Config, RelayTls, Routing, RoutingKind};
use doorman_policy::Policy;
use doorman_spool::{Disposition, Envelope, OpenCopy, Recipient, SCHEMA, Spool, new_queue_id};
use doorman_tracking::{Event, Record, TrackingLog, time};
use tokio::sync::{Notify, Semaphore};

use crate::dsn::{self, Failure, Report};
use crate::maildir;
use crate::smtp::{self, Attempt, RemoteReply, Target};
use crate::state::{self, DeliveryState, Status, unix};

/// The policy in force now (the edge's current config generation).
pub type PolicySource = Arc<dyn Fn() -> Arc<Policy> + Send + Sync>;

pub struct QueueManager {
    spool: Arc<Spool>,
    /// Relative Maildir paths are relative to this folder (the config file's).
    base_dir: PathBuf,
    policy: PolicySource,
    tracking: Arc<TrackingLog>,
    wake: Arc<Notify>,
    /// Copies being delivered now.
    in_flight: Mutex<HashSet<String>>,
    /// When each known copy is next due (unix seconds), so a scan need not read every state.
    due: Mutex<HashMap<String, u64>>,
    /// One semaphore per next hop (`host:port`).
    hops: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// DSNs sent in the current minute.
    dsn_window: Mutex<(Instant, u32)>,
    /// TLS client settings per route, built once: loading CA files and the system roots
    /// costs far more than a delivery.
    tls: Mutex<HashMap<TlsKey, (Arc<Policy>, TlsPair)>>,
}

/// The config generation (kept alive by the entry, so its address is not reused) and the
/// files a route's TLS settings are made of.
type TlsKey = (usize, Option<PathBuf>, Option<PathBuf>, Option<PathBuf>);
type TlsPair = (Arc<rustls::ClientConfig>, Arc<rustls::ClientConfig>);

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
        })
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

    /// One attempt on one copy. Gives when it is next due, or `None` when it is finished.
    async fn deliver(self: &Arc<Self>, id: &str) -> Option<u64> {
        let loaded = {
            let (spool, id) = (self.spool.clone(), id.to_string());
            tokio::task::spawn_blocking(move || {
                let file = spool.open_copy(&id)?;
                let age = file.written.elapsed().unwrap_or_default();
                let st = state::load(&spool, &id)?;
                Ok::<_, std::io::Error>((file, age, st))
            })
            .await
        };
        let (file, age, st) = match loaded {
            Ok(Ok(x)) => x,
            // A scan listed it just before another delivery finished it (or an admin removed
            // it): nothing is left to do, and nothing went wrong.
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::debug!("queue {id}: already finished");
                return None;
            }
            Ok(Err(e)) => {
                tracing::error!("queue {id}: {e}; retrying in a minute");
                return Some(unix(SystemTime::now()) + 60);
            }
            Err(_) => return Some(unix(SystemTime::now()) + 60),
        };
        let policy = (self.policy)();
        let config = policy.config();
        let env = &file.envelope;
        let mut st = st.unwrap_or_else(|| {
            DeliveryState::new(match &env.disposition {
                Disposition::Redirect { to } => to.clone(),
                _ => env.recipients.iter().map(|r| r.address.clone()).collect(),
            })
        });

        match &env.disposition {
            Disposition::Quarantine => {
                if let Err(e) = self.spool.quarantine(id, &env.tenant) {
                    tracing::error!("queue {id}: cannot move to quarantine: {e}");
                    return Some(unix(SystemTime::now()) + 60);
                }
                return None;
            }
            Disposition::Reject { reply } if !st.is_final() => {
                let addresses: Vec<String> = st.pending().map(|r| r.address.clone()).collect();
                for a in addresses {
                    st.set(&a, Status::Failed, reply.clone(), None);
                    self.log(Event::Fail, env, id, &a, reply);
                }
            }
            _ => {}
        }

        if !st.is_final() {
            st.attempts += 1;
            self.attempt(&policy, &file, id, &mut st).await;
        }
        let now = SystemTime::now();
        if !st.is_final() && age > config.server.queue.max_age.0 {
            let days = config.server.queue.max_age.0.as_secs_f64() / 86_400.0;
            let pending: Vec<(String, Option<String>)> =
                st.pending().map(|r| (r.address.clone(), r.reply.clone())).collect();
            for (a, last) in pending {
                let reply = format!(
                    "550 5.4.7 Delivery time expired: queued for {days:.1} days; last: {}",
                    last.unwrap_or_else(|| "no attempt".into())
                );
                st.set(&a, Status::Failed, reply.clone(), None);
                self.log(Event::Fail, env, id, &a, &reply);
            }
        }
        if !st.is_final() {
            st.schedule_next(&config.server.queue.retry_schedule.iter().map(|s| s.0).collect::<Vec<_>>(), now);
            return self.persist(id, st).await;
        }
        if !st.dsn_done {
            match self.send_dsn(config, &file, id, &st).await {
                Ok(()) => st.dsn_done = true,
                Err(wait) => {
                    st.next_attempt = unix(now) + wait;
                    return self.persist(id, st).await;
                }
            }
        }
        let (spool, id2) = (self.spool.clone(), id.to_string());
        let removed = tokio::task::spawn_blocking(move || spool.finish(&id2)).await;
        if !matches!(removed, Ok(Ok(()))) {
            tracing::error!("queue {id}: delivered, but the spool file could not be removed");
        }
        None
    }

    async fn persist(&self, id: &str, st: DeliveryState) -> Option<u64> {
        let next = st.next_attempt;
        let (spool, id2) = (self.spool.clone(), id.to_string());
        match tokio::task::spawn_blocking(move || state::save(&spool, &id2, &st)).await {
            Ok(Ok(())) => {}
            _ => tracing::error!("queue {id}: cannot save the delivery state; the next attempt may repeat deliveries"),
        }
        Some(next)
    }

    /// Tries every pending recipient once, by the tenant's routing.
    async fn attempt(&self, policy: &Arc<Policy>, file: &OpenCopy, id: &str, st: &mut DeliveryState) {
        let env = &file.envelope;
        let routing = policy.tenant_by_name(&env.tenant).and_then(|t| t.config.routing.clone());
        let pending: Vec<String> = st.pending().map(|r| r.address.clone()).collect();
        let Some(routing) = routing else {
            let reply = format!("451 4.3.5 Tenant {} has no routing configured", env.tenant);
            self.defer_all(env, id, &pending, &reply, st);
            return;
        };
        match routing.kind {
            RoutingKind::Maildir => self.to_maildirs(policy, &routing, file, id, &pending, st).await,
            RoutingKind::Relay => self.to_next_hops(policy, &routing, file, id, &pending, st).await,
        }
    }

    async fn to_maildirs(
        &self,
        policy: &Policy,
        routing: &Routing,
        file: &OpenCopy,
        id: &str,
        pending: &[String],
        st: &mut DeliveryState,
    ) {
        let env = &file.envelope;
        let root = self.base_dir.join(routing.path.clone().unwrap_or_default());
        let tenant = policy.tenant_by_name(&env.tenant).map(|t| t.id);
        for a in pending {
            let local = parse_mailbox(a)
                .ok()
                .and_then(|m| policy.attribute_recipient(&m))
                .and_then(|(owner, known)| (Some(owner.tenant) == tenant && known).then_some(()));
            if local.is_none() {
                let reply = format!(
                    "550 5.1.1 <{a}>: not a recipient in tenant {}'s directory, and maildir routing has no next hop",
                    env.tenant
                );
                st.set(a, Status::Failed, reply.clone(), None);
                self.log(Event::Fail, env, id, a, &reply);
                continue;
            }
            let (root, a2, from) = (root.clone(), a.clone(), env.mail_from.clone());
            let reader = file.reader();
            let done = tokio::task::spawn_blocking(move || maildir::deliver(&root, &a2, &from, &mut reader?)).await;
            match done {
                Ok(Ok(p)) => {
                    let reply = format!("250 2.0.0 delivered to {}", p.display());
                    st.set(a, Status::Delivered, reply.clone(), None);
                    self.log(Event::Deliver, env, id, a, &reply);
                }
                Ok(Err(e)) => {
                    let reply = format!("451 4.3.0 Maildir delivery failed: {e}");
                    st.set(a, Status::Pending, reply.clone(), None);
                    self.log(Event::Defer, env, id, a, &reply);
                }
                Err(e) => tracing::error!("queue {id}: maildir task failed: {e}"),
            }
        }
    }

    async fn to_next_hops(
        &self,
        policy: &Arc<Policy>,
        routing: &Routing,
        file: &OpenCopy,
        id: &str,
        pending: &[String],
        st: &mut DeliveryState,
    ) {
        let env = &file.envelope;
        let config = policy.config();
        let (verified, unverified) = match self.tls_for(policy, routing) {
            Ok(c) => c,
            Err(e) => {
                let reply = format!("451 4.3.5 TLS settings of tenant {}: {e}", env.tenant);
                self.defer_all(env, id, pending, &reply, st);
                return;
            }
        };
        let mut hops = routing.next_hops.clone();
        hops.sort_by_key(|h| h.priority);
        let mut last_problem = "no next hop configured".to_string();
        for hop in &hops {
            let key = format!("{}:{}", hop.host, hop.port);
            let semaphore = {
                let mut m = self.hops.lock().unwrap_or_else(|e| e.into_inner());
                m.entry(key.clone())
                    .or_insert_with(|| {
                        Arc::new(Semaphore::new(config.server.queue.max_connections_per_hop.max(1) as usize))
                    })
                    .clone()
            };
            let Ok(_permit) = semaphore.acquire().await else { continue };
            let target = Target {
                host: &hop.host,
                port: hop.port,
                require_tls: routing.tls == RelayTls::Required,
                verified: verified.clone(),
                unverified: unverified.clone(),
            };
            let envelope = smtp::Envelope {
                helo: &config.server.hostname,
                mail_from: &env.mail_from,
                eight_bit: env.body == doorman_spool::BodyType::EightBitMime,
                smtputf8: env.smtputf8,
                recipients: pending,
            };
            let (head, mut body) = match (file.head(), file.reader()) {
                (Ok(h), Ok(b)) => (h, b),
                (Err(e), _) | (_, Err(e)) => {
                    last_problem = format!("reading the spooled copy: {e}");
                    break;
                }
            };
            match smtp::send(&target, &envelope, smtp::Message { head: &head, body: &mut body }).await {
                Attempt::Done(replies) => {
                    for (a, r) in pending.iter().zip(replies) {
                        self.record_remote(env, id, a, &r, &key, st);
                    }
                    return;
                }
                Attempt::Refused(r) if r.code >= 500 => {
                    for a in pending {
                        self.record_remote(env, id, a, &r, &key, st);
                    }
                    return;
                }
                Attempt::Refused(r) => last_problem = format!("{key} said {}", r.line()),
                Attempt::Unreachable(why) => last_problem = why,
            }
        }
        let reply = format!("451 4.4.1 No next hop took the message: {last_problem}");
        self.defer_all(env, id, pending, &reply, st);
    }

    /// This attempt reached none of `pending`: they wait for the next, with `reply` as why.
    fn defer_all(&self, env: &Envelope, id: &str, pending: &[String], reply: &str, st: &mut DeliveryState) {
        for a in pending {
            st.set(a, Status::Pending, reply.to_string(), None);
            self.log(Event::Defer, env, id, a, reply);
        }
    }

    fn tls_for(&self, policy: &Arc<Policy>, routing: &Routing) -> Result<TlsPair, String> {
        let key = (
            Arc::as_ptr(policy) as usize,
            routing.tls_ca.clone(),
            routing.tls_client_certificate.clone(),
            routing.tls_client_key.clone(),
        );
        let mut cache = self.tls.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, pair)) = cache.get(&key) {
            return Ok(pair.clone());
        }
        // Entries of older generations go: their files may have changed since.
        cache.retain(|k, _| k.0 == key.0);
        let pair = smtp::client_configs(
            routing.tls_ca.as_deref(),
            routing.tls_client_certificate.as_deref().zip(routing.tls_client_key.as_deref()),
        )?;
        cache.insert(key, (policy.clone(), pair.clone()));
        Ok(pair)
    }

    fn record_remote(&self, env: &Envelope, id: &str, a: &str, r: &RemoteReply, hop: &str, st: &mut DeliveryState) {
        let reply = format!("{} (from {hop})", r.line().replace('\n', " "));
        let (status, event) = match r.code {
            200..=299 => (Status::Delivered, Event::Deliver),
            500.. => (Status::Failed, Event::Fail),
            _ => (Status::Pending, Event::Defer),
        };
        st.set(a, status, r.line().replace('\n', " "), Some(hop.to_string()));
        self.log(event, env, id, a, &reply);
    }

    /// Spools a DSN for the failed recipients, unless none is owed. `Err` gives how long to
    /// wait when the DSN rate limit is reached.
    async fn send_dsn(&self, config: &Config, file: &OpenCopy, id: &str, st: &DeliveryState) -> Result<(), u64> {
        let env = &file.envelope;
        let failed: Vec<_> = st.recipients.iter().filter(|r| r.status == Status::Failed).collect();
        if failed.is_empty() || env.mail_from.is_empty() {
            return Ok(());
        }
        {
            let mut w = self.dsn_window.lock().unwrap_or_else(|e| e.into_inner());
            if w.0.elapsed() >= Duration::from_secs(60) {
                *w = (Instant::now(), 0);
            }
            if w.1 >= config.server.queue.max_dsns_per_minute {
                return Err(60 - w.0.elapsed().as_secs().min(59));
            }
            w.1 += 1;
        }
        let failures: Vec<Failure> = failed
            .iter()
            .map(|r| Failure {
                recipient: &r.address,
                reply: r.reply.as_deref().unwrap_or("550 5.0.0 failed"),
                remote: r.remote.as_deref(),
            })
            .collect();
        let now = SystemTime::now();
        // The DSN returns the original's headers only.
        let Ok(original) = file.head() else { return Err(60) };
        let message = dsn::build(&Report {
            reporting_mta: &config.server.hostname,
            queue_id: id,
            sender: &env.mail_from,
            date: &time::rfc5322(now),
            failures: &failures,
            original: &original,
        });
        let dsn_id = new_queue_id();
        let envelope = Envelope {
            schema: SCHEMA.into(),
            queue_id: dsn_id.clone(),
            received_at: time::rfc3339(now),
            session: format!("dsn-{id}"),
            client_ip: "127.0.0.1".into(),
            helo: None,
            tls: None,
            certificate_names: Vec::new(),
            mail_from: String::new(),
            body: doorman_spool::BodyType::EightBitMime,
            smtputf8: false,
            recipients: vec![Recipient { address: env.mail_from.clone(), in_directory: true }],
            tenant: env.tenant.clone(),
            connector: None,
            scl: None,
            disposition: Disposition::Deliver,
            rules: Vec::new(),
            size: message.len() as u64,
        };
        let spool = self.spool.clone();
        let written = tokio::task::spawn_blocking(move || spool.write(&envelope, &[&message])).await;
        let committed = match written {
            Ok(Ok(staged)) => self.spool.commit(&[staged]).await.is_ok(),
            _ => false,
        };
        match committed {
            true => {}
            false => {
                tracing::error!("queue {id}: cannot spool its DSN; retrying in a minute");
                return Err(60);
            }
        }
        let mut r = Record::now(Event::Dsn);
        r.queue_id = Some(id.to_string());
        r.mail_from = Some(String::new());
        r.rcpt = Some(env.mail_from.clone());
        r.tenant = Some(env.tenant.clone());
        r.reply = Some(format!("DSN {dsn_id} for {} failed recipient(s)", failures.len()));
        self.tracking.log(r);
        self.wake();
        Ok(())
    }

    fn log(&self, event: Event, env: &Envelope, id: &str, rcpt: &str, reply: &str) {
        let mut r = Record::now(event);
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
