//! Writing a message's tenant copies to the spool: each copy's envelope and head, the message
//! after it, and whatever was spilled; all staged, then committed (one sync for the group)
//! before the `250`.

use std::time::SystemTime;

use doorman_policy::{Disposition, Reply, TenantCopy};
use doorman_spool::{BodyType, Envelope, Recipient, SCHEMA, Spill, Spool, Staged, new_queue_id};
use doorman_tracking::{Event, Record, SclSource, time};

use super::{Session, Transaction};
use crate::message::{ReceivedFields, new_head, received};

/// The most a message's copies may add up to for them to be written on the session's thread.
const INLINE_BYTES: usize = 64 * 1024;

impl Session {
    /// Writes every copy that is kept (all but deleted ones) and waits until all are durable.
    /// Gives each copy's queue id. On error none stays in the spool.
    pub(super) async fn spool_copies(
        &self,
        tx: &Transaction,
        copies: &[TenantCopy],
        (body, spill): (Vec<u8>, Option<Spill>),
    ) -> std::io::Result<Vec<Option<String>>> {
        let spilled = spill.as_ref().map_or(0, |s| s.len());
        let now = SystemTime::now();
        let date = time::rfc5322(now);
        let received_at = time::rfc3339(now);
        let hostname = self.hostname();
        let mut files: Vec<(Envelope, Vec<u8>, usize)> = Vec::new();
        let mut ids = Vec::with_capacity(copies.len());
        for copy in copies {
            if copy.disposition == Disposition::Delete {
                ids.push(None);
                continue;
            }
            let queue_id = new_queue_id();
            let single = (copy.recipients.len() == 1).then(|| copy.recipients[0].to_string());
            let received = received(&ReceivedFields {
                helo: self.info.helo.as_deref(),
                client_ip: self.client_ip(),
                hostname: &hostname,
                esmtp: self.esmtp,
                smtputf8: tx.smtputf8,
                tls: self.info.tls.as_ref(),
                queue_id: &queue_id,
                recipient: single.as_deref(),
                date: &date,
            });
            let (head, rest) = new_head(&body, &received, &copy.set_headers, copy.subject_prefix.as_deref());
            let size = (head.len() + body.len() - rest) as u64 + spilled;
            let in_directory = |m: &doorman_config::address::Mailbox| {
                tx.accepted.iter().find(|a| &a.mailbox == m).is_none_or(|a| a.in_directory)
            };
            let envelope = Envelope {
                schema: SCHEMA.into(),
                queue_id: queue_id.clone(),
                received_at: received_at.clone(),
                session: self.id.clone(),
                client_ip: self.client_ip().to_string(),
                helo: self.info.helo.clone(),
                tls: self.info.tls.as_ref().map(|t| t.to_string()),
                certificate_names: self.info.verified_names().to_vec(),
                mail_from: tx.mail_from(),
                body: if tx.eight_bit { BodyType::EightBitMime } else { BodyType::SevenBit },
                smtputf8: tx.smtputf8,
                recipients: copy
                    .recipients
                    .iter()
                    .map(|m| Recipient { address: m.to_string(), in_directory: in_directory(m) })
                    .collect(),
                tenant: copy.tenant.to_string(),
                connector: copy.connector.as_ref().map(|c| c.name.to_string()),
                scl: copy.scl.map(|s| s.0),
                disposition: match &copy.disposition {
                    Disposition::Deliver | Disposition::Delete => doorman_spool::Disposition::Deliver,
                    Disposition::Quarantine => doorman_spool::Disposition::Quarantine,
                    Disposition::Junk => doorman_spool::Disposition::Junk,
                    Disposition::Redirect { to } => {
                        doorman_spool::Disposition::Redirect { to: to.iter().map(|m| m.to_string()).collect() }
                    }
                    Disposition::Reject { reply } => doorman_spool::Disposition::Reject { reply: reply.to_string() },
                },
                rules: copy
                    .rules_hit
                    .iter()
                    .filter(|h| h.mode == doorman_config::RuleMode::Enforce)
                    .map(|h| h.name.clone())
                    .collect(),
                size,
            };
            ids.push(Some(queue_id));
            files.push((envelope, head, rest));
        }
        if files.is_empty() {
            return Ok(ids);
        }
        // Small copies that staging does not fsync are written on the session's thread:
        // creating and writing a few KiB takes microseconds, less than handing them to another
        // thread. Anything bigger, spilled or fsynced goes to a blocking thread.
        let bytes = files.iter().map(|(_, head, rest)| head.len() + body.len() - rest).sum::<usize>();
        let spool = self.shared.spool.clone();
        let written = if spill.is_none() && !spool.stage_syncs() && bytes <= INLINE_BYTES {
            stage_all(&spool, &files, &body, None)?
        } else {
            tokio::task::spawn_blocking(move || stage_all(&spool, &files, &body, spill.as_ref()))
                .await
                .map_err(std::io::Error::other)??
        };
        // Durable, then visible to delivery; a failed commit takes every copy back.
        let sync = self.shared.spool.commit(&written).await?;
        for w in &written {
            self.shared.metrics.spool_fsync(w.fsync + sync);
        }
        self.shared.committed.notify_one();
        Ok(ids)
    }

    pub(super) fn log_copy(
        &self,
        tx: &Transaction,
        copy: &TenantCopy,
        event: Event,
        queue_id: Option<&str>,
        reply: Option<&Reply>,
    ) {
        let rules: Vec<String> = copy.rules_hit.iter().map(|h| h.name.clone()).collect();
        for m in &copy.recipients {
            let mut r: Record = self.record(event);
            r.mail_from = Some(tx.mail_from());
            r.stage = Some(doorman_tracking::Stage::Data);
            r.queue_id = queue_id.map(str::to_string);
            r.rcpt = Some(m.to_string());
            r.tenant = Some(copy.tenant.to_string());
            r.connector = copy.connector.as_ref().map(|c| c.name.to_string());
            r.reply = reply.map(|r| r.to_string());
            r.rules = rules.clone();
            r.scl = copy.scl.map(|s| s.0);
            r.scl_source = copy.scl_source.map(|s| match s {
                doorman_policy::SclSource::Rule => SclSource::Rule,
                doorman_policy::SclSource::SpamFilter => SclSource::SpamFilter,
                doorman_policy::SclSource::Authentication => SclSource::Authentication,
            });
            r.spam_score = copy.spam.as_ref().map(|v| v.score);
            if let Some(a) = &copy.authentication {
                r.compauth = Some(a.compauth.to_string());
                r.dmarc = Some(format!("{} p={}", a.dmarc, a.dmarc_policy.name()));
                r.original_client_ip = (a.judged_ip != self.client_ip()).then(|| a.judged_ip.to_string());
            }
            self.shared.tracking.log(r);
        }
    }
}

/// Writes and stages every copy: the new head, the message's own bytes after it, then
/// whatever was spilled. On error none stays.
fn stage_all(
    spool: &Spool,
    files: &[(Envelope, Vec<u8>, usize)],
    body: &[u8],
    spill: Option<&Spill>,
) -> std::io::Result<Vec<Staged>> {
    let mut done = Vec::new();
    for (envelope, head, rest) in files {
        let staged = spool.begin(envelope).and_then(|mut t| {
            t.write(head)?;
            t.write(&body[*rest..])?;
            if let Some(spill) = spill {
                t.append(spill)?;
            }
            t.stage()
        });
        match staged {
            Ok(w) => done.push(w),
            Err(e) => {
                spool.abort(&done);
                return Err(e);
            }
        }
    }
    Ok(done)
}
