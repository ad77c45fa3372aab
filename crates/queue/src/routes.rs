//! Where a copy goes, by its tenant's routing: Maildirs, or next hops in priority order, each
//! recipient's outcome recorded.

use std::sync::Arc;

use doorman_config::address::parse_mailbox;
use doorman_config::{MaildirRoute, Relay, RelayTls};
use doorman_policy::Policy;
use doorman_spool::{Disposition, OpenCopy};
use tokio::sync::Semaphore;

use crate::maildir;
use crate::manager::{QueueManager, TlsPair};
use crate::metrics::{NextHop, Outcome};
use crate::smtp::{self, Attempt, ClientTlsError, RemoteReply, Target};
use crate::state::{DeliveryState, Status};

impl QueueManager {
    pub(crate) async fn to_maildirs(
        &self,
        policy: &Policy,
        routing: &MaildirRoute,
        file: &OpenCopy,
        id: &str,
        pending: &[String],
        st: &mut DeliveryState,
    ) {
        let env = &file.envelope;
        let root = self.base_dir.join(&routing.path);
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
                self.outcome(Outcome::Failed, &NextHop::Maildir, file, id, a, &reply);
                continue;
            }
            let (root, a2, from) = (root.clone(), a.clone(), env.mail_from.clone());
            let into = match env.disposition {
                Disposition::Junk => maildir::Folder::Junk,
                Disposition::Deliver
                | Disposition::Redirect { .. }
                | Disposition::Quarantine
                | Disposition::Reject { .. } => maildir::Folder::Inbox,
            };
            let reader = file.reader();
            let done =
                tokio::task::spawn_blocking(move || maildir::deliver(&root, &a2, into, &from, &mut reader?)).await;
            match done {
                Ok(Ok(p)) => {
                    let reply = format!("250 2.0.0 delivered to {}", p.display());
                    st.set(a, Status::Delivered, reply.clone(), None);
                    self.outcome(Outcome::Delivered, &NextHop::Maildir, file, id, a, &reply);
                }
                Ok(Err(e)) => {
                    let reply = format!("451 4.3.0 Maildir delivery failed: {e}");
                    st.set(a, Status::Pending, reply.clone(), None);
                    self.outcome(Outcome::Deferred, &NextHop::Maildir, file, id, a, &reply);
                }
                Err(e) => tracing::error!("queue {id}: maildir task failed: {e}"),
            }
        }
    }

    pub(crate) async fn to_next_hops(
        &self,
        policy: &Arc<Policy>,
        routing: &Relay,
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
                self.defer_all(file, id, pending, &reply, &NextHop::None, st);
                return;
            }
        };
        let mut hops = routing.next_hops.clone();
        hops.sort_by_key(|h| h.priority);
        let mut last_problem = "no next hop configured".to_string();
        // The last next hop that gave an SMTP reply (a 4xx for the whole message).
        let mut answered = NextHop::None;
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
                        self.record_remote(file, id, a, &r, &key, st);
                    }
                    return;
                }
                Attempt::Refused(r) if r.code >= 500 => {
                    for a in pending {
                        self.record_remote(file, id, a, &r, &key, st);
                    }
                    return;
                }
                Attempt::Refused(r) => {
                    last_problem = format!("{key} said {}", r.line());
                    answered = NextHop::Relay(key);
                }
                Attempt::Unreachable(why) => last_problem = why.to_string(),
            }
        }
        let reply = format!("451 4.4.1 No next hop took the message: {last_problem}");
        self.defer_all(file, id, pending, &reply, &answered, st);
    }

    /// This attempt reached none of `pending`: they wait for the next, with `reply` as why.
    /// `hop` is the next hop whose reply made it so, if one did.
    pub(crate) fn defer_all(
        &self,
        file: &OpenCopy,
        id: &str,
        pending: &[String],
        reply: &str,
        hop: &NextHop,
        st: &mut DeliveryState,
    ) {
        for a in pending {
            st.set(a, Status::Pending, reply.to_string(), None);
            self.outcome(Outcome::Deferred, hop, file, id, a, reply);
        }
    }

    pub(crate) fn tls_for(&self, policy: &Arc<Policy>, routing: &Relay) -> Result<TlsPair, ClientTlsError> {
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

    pub(crate) fn record_remote(
        &self,
        file: &OpenCopy,
        id: &str,
        a: &str,
        r: &RemoteReply,
        hop: &str,
        st: &mut DeliveryState,
    ) {
        let reply = format!("{} (from {hop})", r.line().replace('\n', " "));
        let (status, result) = match r.code {
            200..=299 => (Status::Delivered, Outcome::Delivered),
            500.. => (Status::Failed, Outcome::Failed),
            _ => (Status::Pending, Outcome::Deferred),
        };
        st.set(a, status, r.line().replace('\n', " "), Some(hop.to_string()));
        self.outcome(result, &NextHop::Relay(hop.to_string()), file, id, a, &reply);
    }
}
