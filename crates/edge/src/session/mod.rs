//! One SMTP session, split by stage as the protocol is: `ehlo` (EHLO, HELO, STARTTLS),
//! `mail`, `rcpt` and `data` (DATA and BDAT, through to the spool), around this core, which
//! reads commands, dispatches them, counts errors and writes replies.

pub mod command;
mod data;
mod ehlo;
mod mail;
mod rcpt;
mod replies;
mod spool;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use doorman_config::address::ReversePath;
use doorman_config::{Limits, ListenerTls};
use doorman_policy::{
    AcceptedRecipient, ClientCertificate, ConnectInfo, Detail, DnsblAnswer, Reply, Session as PolicySession,
};
use doorman_tracking::{Event, Record};
use tokio::task::JoinHandle;

use crate::connection::{Connection, ReadError, Timeouts};
use crate::reload::Generation;
use crate::shutdown::Shutdown;
use crate::state::Shared;
use command::Command;

pub struct Session {
    shared: Arc<Shared>,
    conn: Connection,
    /// Ties this session's tracking lines together.
    id: String,
    listener_tls: ListenerTls,
    /// The generation for commands outside a transaction; a transaction keeps its own.
    generation: Arc<Generation>,
    /// What the policy is told: client IP (after PROXY), TLS, HELO, DNSBL answers.
    info: PolicySession,
    /// What the policy was told at connect.
    connect: ConnectInfo,
    dnsbl_pending: Option<JoinHandle<Vec<DnsblAnswer>>>,
    esmtp: bool,
    errors: u32,
    tx: Option<Transaction>,
    shutdown: Shutdown,
    /// `session_timeout` after the connection came: no session outlives it.
    session_end: Instant,
}

/// From MAIL FROM to the end of DATA (or RSET).
struct Transaction {
    generation: Arc<Generation>,
    sender: ReversePath,
    eight_bit: bool,
    smtputf8: bool,
    accepted: Vec<AcceptedRecipient>,
    /// BDAT chunks received so far, when the message comes by BDAT.
    bdat: Option<data::BdatBody>,
}

impl Transaction {
    /// The sender as the spool and the tracking log write it: empty for the null sender.
    fn mail_from(&self) -> String {
        match &self.sender {
            ReversePath::Null => String::new(),
            ReversePath::Mailbox(m) => m.to_string(),
        }
    }
}

/// Whether the session goes on after a command.
#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Close,
}

impl Session {
    pub(crate) fn new(
        shared: Arc<Shared>,
        conn: Connection,
        id: String,
        listener_tls: ListenerTls,
        generation: Arc<Generation>,
        info: PolicySession,
        connect: ConnectInfo,
    ) -> Session {
        let dnsbl_pending = (!generation.zones.is_empty()).then(|| {
            let (dnsbl, zones, ip) = (generation.dnsbl.clone(), generation.zones.clone(), info.client_ip);
            tokio::spawn(async move { dnsbl.check(ip, &zones).await })
        });
        let shutdown = shared.shutdown.subscribe();
        let session_end = Instant::now() + generation.config().server.limits.session_timeout.0;
        Session {
            shared,
            conn,
            id,
            listener_tls,
            generation,
            info,
            connect,
            dnsbl_pending,
            esmtp: false,
            errors: 0,
            tx: None,
            shutdown,
            session_end,
        }
    }

    fn limits(&self) -> &Limits {
        &self.generation.config().server.limits
    }

    fn hostname(&self) -> String {
        self.generation.config().server.hostname.clone()
    }

    /// By when the next command line must be here (and the replies before it taken): the
    /// command timeout, shorter under stress, and never past the session's end.
    fn command_deadline(&mut self) -> Instant {
        let timeout = self.limits().command_timeout_at(self.shared.open_connections());
        self.conn.set_write_timeout(timeout);
        (Instant::now() + timeout).min(self.session_end)
    }

    /// Runs the session after the greeting was queued.
    pub async fn run(mut self) {
        let deadline = self.command_deadline();
        // Trusted proxies' headers were read before the greeting: one now comes from the
        // client itself, and the policy answers it. Bytes that came with a trusted proxy's
        // header are already here; a header split across reads is waited for.
        match self.first_bytes(deadline).await {
            Ok(()) if crate::proxy::looks_like_header(self.conn.unread()) => {
                let header = crate::proxy::parse(self.conn.unread()).into_header();
                let info = ConnectInfo { peer_ip: self.info.client_ip, proxy: Some(header), ..self.connect.clone() };
                let decision = self.generation.policy.connect(&info, Detail::Brief);
                // Accepted only when the client is itself a trusted proxy: the header is late,
                // and the bytes are refused as commands.
                if !decision.is_accepted() {
                    self.reply(&decision.reply);
                    let mut r = self.record(Event::Reject);
                    r.stage = Some(doorman_tracking::Stage::Connect);
                    r.reply = Some(decision.reply.to_string());
                    self.shared.tracking.log(r);
                    self.shared.metrics.connections_refused.inc();
                    self.conn.close().await;
                    return;
                }
            }
            Ok(()) => {}
            Err(e) => {
                self.end_on(e).await;
                return;
            }
        }
        // The first line has the deadline the wait for the first bytes had.
        let mut first = Some(deadline);
        loop {
            let deadline = first.take().unwrap_or_else(|| self.command_deadline());
            let line = match self.conn.read_line(deadline, &mut self.shutdown).await {
                Ok(line) => line,
                Err(e) => {
                    self.end_on(e).await;
                    return;
                }
            };
            let flow = match line {
                Ok(line) => self.dispatch(&line).await,
                Err(e) => {
                    self.reply(&replies::line_error(e));
                    Flow::Continue
                }
            };
            if flow == Flow::Close {
                break;
            }
            if self.errors >= self.limits().max_errors {
                self.reply(&replies::too_many_errors(&self.hostname()));
                break;
            }
        }
        self.conn.close().await;
    }

    /// Waits until the client has sent something that is not the start of a PROXY header.
    async fn first_bytes(&mut self, deadline: Instant) -> Result<(), ReadError> {
        while self.conn.unread().is_empty() || crate::proxy::undecided(self.conn.unread()) {
            self.conn.fill(deadline, &mut self.shutdown).await?;
        }
        Ok(())
    }

    /// Ends the session after a failed read, telling the client why when it is still there.
    async fn end_on(&mut self, e: ReadError) {
        let host = self.hostname();
        let reply = match e {
            ReadError::Timeout if Instant::now() >= self.session_end => Some(replies::session_too_long(&host)),
            ReadError::Timeout => Some(replies::timeout(&host)),
            ReadError::TooSlow => Some(replies::too_slow(&host)),
            ReadError::Closing => Some(replies::shutting_down(&host)),
            ReadError::Closed | ReadError::Io(_) => None,
        };
        if let Some(reply) = reply {
            self.refuse_transaction(&reply);
        }
        self.conn.close().await;
    }

    async fn dispatch(&mut self, line: &[u8]) -> Flow {
        let command = match command::parse(line) {
            Ok(c) => c,
            Err(reply) => {
                self.reply(&reply);
                return Flow::Continue;
            }
        };
        match command {
            Command::Ehlo(name) => self.ehlo(&name, true),
            Command::Helo(name) => self.ehlo(&name, false),
            Command::StartTls => return self.starttls().await,
            Command::Mail { path, params } => return self.mail(&path, params),
            Command::Rcpt { path } => self.rcpt(&path).await,
            Command::Data => return self.data().await,
            Command::Bdat { size, last } => return self.bdat(size, last).await,
            Command::Rset => {
                self.tx = None;
                self.reply(&replies::reset());
            }
            Command::Noop => self.reply(&replies::ok()),
            Command::Quit => {
                self.reply(&replies::closing(&self.hostname()));
                return Flow::Close;
            }
            Command::Vrfy => self.reply(&replies::cannot_vrfy()),
            Command::Expn => self.reply(&replies::not_offered("EXPN not available")),
            Command::Auth => self
                .reply(&replies::not_offered("AUTH not available: this is an inbound edge, not a submission service")),
            Command::Help => self.reply(&replies::help()),
            Command::Unknown(_) => self.reply(&replies::unrecognized()),
        }
        Flow::Continue
    }

    /// Queues a reply; every 4xx and 5xx but the recipient limit's counts towards `max_errors`.
    fn reply(&mut self, reply: &Reply) {
        self.conn.queue(&reply.to_string());
        self.shared.metrics.reply(reply.code);
        if reply.counts_as_error() {
            self.errors += 1;
        }
    }

    /// A tracking record with what the session knows.
    fn record(&self, event: Event) -> Record {
        let mut r = Record::now(event);
        r.session = Some(self.id.clone());
        r.client_ip = Some(self.info.client_ip.to_string());
        r.helo = self.info.helo.clone();
        if let Some(tls) = &self.info.tls {
            r.tls = Some(tls.to_string());
            if let ClientCertificate::Verified { names } = &tls.client_certificate {
                r.cert_name = names.first().cloned();
            }
        }
        if let Some(tx) = &self.tx {
            r.mail_from = Some(tx.mail_from());
        }
        r
    }

    /// Sends `reply` and ends the transaction, if any, logging a reject for each recipient
    /// it had accepted: the message they were promised never came.
    fn refuse_transaction(&mut self, reply: &Reply) {
        self.reply(reply);
        let Some(tx) = self.tx.take() else { return };
        for a in &tx.accepted {
            let mut r = self.record(Event::Reject);
            r.mail_from = Some(tx.mail_from());
            r.stage = Some(doorman_tracking::Stage::Data);
            r.rcpt = Some(a.mailbox.to_string());
            r.tenant = Some(tx.generation.policy.tenant(a.tenant).name().to_string());
            r.connector = a.connector.as_ref().map(|c| c.name.to_string());
            r.reply = Some(reply.to_string());
            self.shared.tracking.log(r);
        }
    }

    fn transfer_timeouts(&self) -> Timeouts {
        let l = self.limits();
        Timeouts {
            idle: l.command_timeout_at(self.shared.open_connections()),
            total: l.data_timeout.0,
            min_rate: l.min_data_rate,
            session_end: self.session_end,
        }
    }

    fn client_ip(&self) -> IpAddr {
        self.info.client_ip
    }
}
