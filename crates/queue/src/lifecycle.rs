//! One copy's way through the queue: loaded, quarantined or attempted, its state persisted,
//! expired after `max_age`, its DSN sent, and finished.

use std::sync::Arc;
use std::time::SystemTime;

use doorman_config::Routing;
use doorman_policy::Policy;
use doorman_spool::{Disposition, OpenCopy};

use crate::manager::QueueManager;
use crate::metrics::{NextHop, Outcome};
use crate::state::{self, DeliveryState, Status, unix};

impl QueueManager {
    /// One attempt on one copy. Gives when it is next due, or `None` when it is finished.
    pub(crate) async fn deliver(self: &Arc<Self>, id: &str) -> Option<u64> {
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
            // A copy or state that cannot be read whole is never delivered half, nor retried
            // forever: it is set aside for an administrator.
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                let spool = self.spool.clone();
                let (copy, why) = (id.to_string(), e.to_string());
                let moved = tokio::task::spawn_blocking(move || spool.set_aside(&copy, &why)).await;
                return match moved {
                    Ok(Ok(())) => {
                        tracing::error!("queue {id}: set aside in corrupt/: {e}");
                        self.tracking.log(doorman_tracking::Record::set_aside(id, &e.to_string()));
                        None
                    }
                    Ok(Err(m)) => {
                        tracing::error!("queue {id}: {e}; cannot set it aside ({m}); retrying in a minute");
                        Some(unix(SystemTime::now()) + 60)
                    }
                    Err(_) => Some(unix(SystemTime::now()) + 60),
                };
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
                self.metrics.quarantined(&env.tenant);
                return None;
            }
            Disposition::Reject { reply } if !st.is_final() => {
                let addresses: Vec<String> = st.pending().map(|r| r.address.clone()).collect();
                for a in addresses {
                    st.set(&a, Status::Failed, reply.clone(), None);
                    self.outcome(Outcome::Failed, &NextHop::None, &file, id, &a, reply);
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
                self.outcome(Outcome::Failed, &NextHop::None, &file, id, &a, &reply);
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
        // Each outcome's line is in the file before the spool forgets the copy.
        self.tracking.written().await;
        let (spool, id2) = (self.spool.clone(), id.to_string());
        let removed = tokio::task::spawn_blocking(move || spool.finish(&id2)).await;
        if !matches!(removed, Ok(Ok(()))) {
            tracing::error!("queue {id}: delivered, but the spool file could not be removed");
        }
        None
    }

    pub(crate) async fn persist(&self, id: &str, st: DeliveryState) -> Option<u64> {
        // A recipient saved as delivered is never tried again: its line must be in the file
        // first, or a crash would leave a delivery the log never shows.
        self.tracking.written().await;
        let next = st.next_attempt;
        let (spool, id2) = (self.spool.clone(), id.to_string());
        match tokio::task::spawn_blocking(move || state::save(&spool, &id2, &st)).await {
            Ok(Ok(())) => {}
            _ => tracing::error!("queue {id}: cannot save the delivery state; the next attempt may repeat deliveries"),
        }
        Some(next)
    }

    /// Tries every pending recipient once, by the tenant's routing.
    pub(crate) async fn attempt(&self, policy: &Arc<Policy>, file: &OpenCopy, id: &str, st: &mut DeliveryState) {
        let env = &file.envelope;
        let routing = policy.tenant_by_name(&env.tenant).and_then(|t| t.config.routing.clone());
        let pending: Vec<String> = st.pending().map(|r| r.address.clone()).collect();
        let Some(routing) = routing else {
            let reply = format!("451 4.3.5 Tenant {} has no routing configured", env.tenant);
            self.defer_all(file, id, &pending, &reply, &NextHop::None, st);
            return;
        };
        match &routing {
            Routing::Maildir(route) => self.to_maildirs(policy, route, file, id, &pending, st).await,
            Routing::Relay(relay) => self.to_next_hops(policy, relay, file, id, &pending, st).await,
        }
    }
}
