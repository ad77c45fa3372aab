//! DATA and BDAT: receiving the message under strict framing, running the transport rules per
//! tenant copy, and writing each copy durably to the spool before the `250`.

use std::time::SystemTime;

use doorman_policy::{Detail, Disposition, MessageHeaders, Reply, TenantCopy};
use doorman_spool::{BodyType, Envelope, Recipient, SCHEMA, Spill, new_queue_id};
use doorman_tracking::{Event, Record, time};

use super::{Flow, Session, Transaction, replies};
use crate::body::Body;
use crate::framing::{ChunkChecker, DotReader, Flaw};
use crate::message::{ReceivedFields, new_head, received};

/// The message so far, when it comes in BDAT chunks.
pub(super) struct BdatBody {
    data: Body,
    size: u64,
    checker: ChunkChecker,
}

impl Session {
    /// Checks that a message may follow: MAIL given, and the policy agrees (a recipient was
    /// accepted).
    fn ready_for_message(&self) -> Result<(), Reply> {
        match &self.tx {
            None => Err(replies::need_mail()),
            Some(tx) => tx.generation.policy.data_start(tx.accepted.len()),
        }
    }

    pub(super) async fn data(&mut self) -> Flow {
        if let Err(reply) = self.ready_for_message() {
            self.reply(&reply);
            return Flow::Continue;
        }
        if self.tx.as_ref().is_some_and(|t| t.bdat.is_some()) {
            self.reply(&replies::bad_sequence("DATA not allowed after BDAT"));
            return Flow::Continue;
        }
        self.reply(&replies::start_input());
        // Bytes past the limit are counted, not stored: the policy will refuse the message.
        let max = self.tx.as_ref().map_or(0, |t| t.generation.config().server.limits.max_message_size);
        let mut reader = DotReader::new(max);
        let mut body = Body::new(self.shared.spool.clone());
        let t = self.transfer_timeouts();
        if let Err(e) = self.conn.read_dot_body(&mut reader, &mut body, t, &mut self.shutdown).await {
            self.end_on(e).await;
            return Flow::Close;
        }
        self.finish_message(body, reader.flaw, reader.size).await
    }

    pub(super) async fn bdat(&mut self, size: u64, last: bool) -> Flow {
        let t = self.transfer_timeouts();
        let ready = self.ready_for_message();
        let Some(tx) = self.tx.as_mut().filter(|_| ready.is_ok()) else {
            // The chunk is read and thrown away, so its bytes are not taken for commands.
            if let Err(e) = self.conn.read_chunk(size, |_| {}, t, &mut self.shutdown).await {
                self.end_on(e).await;
                return Flow::Close;
            }
            self.reply(&ready.err().unwrap_or_else(replies::need_mail));
            return Flow::Continue;
        };
        let max = tx.generation.config().server.limits.max_message_size;
        let spool = self.shared.spool.clone();
        let body = tx.bdat.get_or_insert_with(|| BdatBody {
            data: Body::new(spool),
            size: 0,
            checker: ChunkChecker::default(),
        });
        let read = self
            .conn
            .read_chunk(
                size,
                |bytes| {
                    body.checker.feed(bytes);
                    body.size += bytes.len() as u64;
                    if body.size <= max {
                        body.data.push(bytes);
                    }
                },
                t,
                &mut self.shutdown,
            )
            .await;
        if let Err(e) = read {
            self.end_on(e).await;
            return Flow::Close;
        }
        if !last {
            // Refused as soon as it is too big; later chunks find no transaction and are read
            // and dropped.
            match tx.generation.policy.message_size_refusal(body.size) {
                Some(reply) => self.refuse_transaction(&reply),
                None => self.reply(&replies::chunk_received(size)),
            }
            return Flow::Continue;
        }
        let mut body = tx.bdat.take().expect("inserted above");
        let flaw = body.checker.finish();
        if !body.data.is_empty() && !body.data.ends_with_crlf() {
            body.data.push(b"\r\n");
        }
        self.finish_message(body.data, flaw, body.size).await
    }

    /// The message of `size` bytes is complete (`body` holds at most the limit): decide,
    /// spool, reply. The transaction ends either way.
    async fn finish_message(&mut self, body: Body, flaw: Option<Flaw>, size: u64) -> Flow {
        // Framing is the edge's to refuse, before the policy sees a message it could misread.
        if let Some(f) = flaw {
            self.refuse_transaction(&replies::flawed_message(f));
            return Flow::Continue;
        }
        let body = match body.finish() {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(session = %self.id, "cannot hold a message: {e}");
                self.refuse_transaction(&replies::cannot_queue());
                return Flow::Continue;
            }
        };
        let headers = MessageHeaders::parse(&body.0);
        let Some(tx) = &self.tx else { return Flow::Continue };
        let decision = tx.generation.policy.data(&self.info, &tx.sender, &tx.accepted, &headers, size, Detail::Brief);
        if decision.is_message_refused()
            && let Some(reply) = &decision.reply
        {
            self.refuse_transaction(reply);
            return Flow::Continue;
        }
        let Some(tx) = self.tx.take() else { return Flow::Continue };
        if let Some(reply) = &decision.reply {
            self.reply(reply);
            for copy in &decision.copies {
                self.log_copy(&tx, copy, Event::Reject, None, Some(reply));
                self.shared.metrics.message(&copy.tenant, "reject");
            }
            return Flow::Continue;
        }
        match self.spool_copies(&tx, &decision.copies, body).await {
            Ok(ids) => {
                let queued: Vec<&str> = ids.iter().filter_map(|id| id.as_deref()).collect();
                let reply = replies::queued(&queued);
                self.reply(&reply);
                for (copy, id) in decision.copies.iter().zip(&ids) {
                    let (event, outcome, rule_reply) = match &copy.disposition {
                        Disposition::Delete => (Event::Drop, "drop", None),
                        Disposition::Quarantine => (Event::Quarantine, "quarantine", None),
                        Disposition::Reject { reply } => (Event::Reject, "reject", Some(reply)),
                        Disposition::Deliver | Disposition::Redirect { .. } => (Event::Receive, "receive", None),
                    };
                    self.log_copy(&tx, copy, event, id.as_deref(), Some(rule_reply.unwrap_or(&reply)));
                    self.shared.metrics.message(&copy.tenant, outcome);
                }
            }
            Err(e) => {
                tracing::error!(session = %self.id, "cannot spool a message: {e}");
                self.tx = Some(tx);
                self.refuse_transaction(&replies::cannot_queue());
            }
        }
        Flow::Continue
    }

    /// Writes every copy that is kept (all but deleted ones) and waits until all are durable.
    /// Gives each copy's queue id. On error none stays in the spool.
    async fn spool_copies(
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
        let shared = self.shared.clone();
        let written = tokio::task::spawn_blocking(move || {
            let mut done = Vec::new();
            for (envelope, head, rest) in &files {
                // The new head, the message's own bytes after it, then whatever was spilled.
                let staged = shared.spool.begin(envelope).and_then(|mut t| {
                    t.write(head)?;
                    t.write(&body[*rest..])?;
                    if let Some(spill) = &spill {
                        t.append(spill)?;
                    }
                    t.stage()
                });
                match staged {
                    Ok(w) => done.push(w),
                    Err(e) => {
                        shared.spool.abort(&done);
                        return Err(e);
                    }
                }
            }
            Ok(done)
        })
        .await
        .map_err(std::io::Error::other)??;
        // Durable, then visible to delivery; a failed commit takes every copy back.
        let dir_fsync = self.shared.spool.commit(&written).await?;
        for w in &written {
            self.shared.metrics.spool_fsync.observe(w.fsync + dir_fsync);
        }
        self.shared.committed.notify_one();
        Ok(ids)
    }

    fn log_copy(
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
            self.shared.tracking.log(r);
        }
    }
}
