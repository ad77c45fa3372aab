//! DATA and BDAT: receiving the message under strict framing (its bytes held in a bounded
//! [`Body`]), and running the transport rules per tenant copy; `spool.rs` then writes each
//! copy durably before the `250`.

use doorman_filter::Message;
use doorman_policy::{Detail, Disposition, FilterFacts, FilterPlan, MessageHeaders, Reply};
use doorman_spool::Spill;
use doorman_tracking::Event;

use super::{Flow, Session, replies};
use crate::body::Body;
use crate::framing::{ChunkChecker, DotReader, Flaw};
use crate::metrics::Outcome;

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
        // Before the command's own answer: refused or not, the bytes after it must not be
        // read as commands.
        if self.limits().forbid_unauth_pipelining && !self.conn.unread().is_empty() {
            // RFC 2920: DATA ends a pipelined group, and the message waits for the 354.
            // What came before it is a client that does not listen: a spam engine, or an
            // attempt to get bytes read in another state than they were sent for.
            tracing::info!(client = %self.client_ip(), "improper pipelining: {} bytes after DATA before 354", self.conn.unread().len());
            self.refuse_transaction(&replies::pipelining_before_354());
            return Flow::Close;
        }
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

    /// Authentication and the spam scan the copies need, on the whole message as received.
    async fn gather(
        &self,
        tx: &super::Transaction,
        plan: &FilterPlan,
        (head, spill): &(Vec<u8>, Option<Spill>),
    ) -> std::io::Result<FilterFacts> {
        if plan.subjects().is_empty() && !plan.needs_scan() {
            return Ok(FilterFacts::none());
        }
        let whole;
        let bytes: &[u8] = match spill {
            None => head,
            Some(spill) => {
                // A read of up to max_message_size from disk: off the async workers' hands.
                whole = [head.as_slice(), &tokio::task::block_in_place(|| spill.read_all())?].concat();
                &whole
            }
        };
        let message = Message { session: &self.info, queue_id: &self.id, bytes };
        Ok(tx.generation.filter.gather(plan, &message).await)
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
        let policy = &tx.generation.policy;
        let plan = policy.filter_plan(&self.info, &tx.sender, &tx.accepted, &headers);
        let facts = match self.gather(tx, &plan, &body).await {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(session = %self.id, "cannot read a spilled message back: {e}");
                self.refuse_transaction(&replies::cannot_queue());
                return Flow::Continue;
            }
        };
        let decision = policy.data(&self.info, &tx.sender, &tx.accepted, &headers, size, &facts, Detail::Brief);
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
                self.shared.metrics.message(&copy.tenant, Outcome::Reject);
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
                        Disposition::Delete => (Event::Drop, Outcome::Drop, None),
                        Disposition::Quarantine => (Event::Quarantine, Outcome::Quarantine, None),
                        Disposition::Reject { reply } => (Event::Reject, Outcome::Reject, Some(reply)),
                        Disposition::Deliver | Disposition::Junk | Disposition::Redirect { .. } => {
                            (Event::Receive, Outcome::Receive, None)
                        }
                    };
                    self.log_copy(&tx, copy, event, id.as_deref(), Some(rule_reply.unwrap_or(&reply)));
                    self.shared.metrics.message(&copy.tenant, outcome);
                }
                // The 250 is only queued: it leaves once its lines are in the file, so that
                // no acknowledged message goes missing from the log after a crash.
                self.shared.tracking.written().await;
            }
            Err(e) => {
                tracing::error!(session = %self.id, "cannot spool a message: {e}");
                self.tx = Some(tx);
                self.refuse_transaction(&replies::cannot_queue());
            }
        }
        Flow::Continue
    }
}
