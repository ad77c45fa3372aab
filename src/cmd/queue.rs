//! `doorman queue`: look at and act on the delivery queue, also while `doorman serve` runs,
//! with Postfix's verbs: `mailq`, `postcat -q`, `postsuper -d|-h|-H`, `postqueue -f`.

use std::process::ExitCode;
use std::time::SystemTime;

use doorman_queue::admin::{self, Queued, Which};
use doorman_queue::state::{QueueStatus, Status, unix};
use doorman_tracking::Event;
use serde::Serialize;

use super::{IdArgs, SpoolArgs, on_spool, on_spool_logged};

/// Look at and act on the delivery queue (the spool's copies not yet delivered, and those on
/// hold).
#[derive(clap::Subcommand)]
pub enum Command {
    /// One line per copy: id, arrival, size, tenant, sender, recipients, status (queued,
    /// deferred, held), attempts, next attempt, last reply.
    List(ListArgs),
    /// A copy's envelope, each recipient's state, and its header (with --full, the whole
    /// message, as postcat shows it).
    Show(ShowArgs),
    /// Make every queued copy due now.
    Flush(SpoolArgs),
    /// Make one copy due now.
    Retry(IdArgs),
    /// Delete a copy, or ALL, without delivering it (no DSN), held ones included.
    Remove(WhichArgs),
    /// Take a copy, or ALL, out of delivery until released (postsuper -h).
    Hold(WhichArgs),
    /// Put a held copy, or ALL, back in the queue (postsuper -H).
    Release(WhichArgs),
}

#[derive(clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    spool: SpoolArgs,
    /// One JSON object per copy, in an array.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    id: IdArgs,
    /// The whole message, body included.
    #[arg(long)]
    full: bool,
    /// The envelope and the delivery state as JSON.
    #[arg(long, conflicts_with = "full")]
    json: bool,
}

/// A queue id, or ALL.
#[derive(clap::Args)]
pub struct WhichArgs {
    /// The queue id, as in the 250 reply and the tracking log; ALL for every copy.
    id: String,
    #[command(flatten)]
    spool: SpoolArgs,
}

impl WhichArgs {
    fn which(&self) -> Which<'_> {
        if self.id == "ALL" { Which::All } else { Which::One(&self.id) }
    }
}

pub fn run(c: Command) -> ExitCode {
    match c {
        Command::List(a) => on_spool("queue list", &a.spool, |s| {
            let mut text = admin::list(s).map(|q| if a.json { list_json(&q) } else { render_list(&q) })?;
            if !a.json {
                // What delivery will never touch must not go unseen.
                for c in s.corrupt()? {
                    text.push_str(&format!("set aside in corrupt/, not delivered: {}: {}\n", c.queue_id, c.why));
                }
            }
            Ok(text)
        }),
        Command::Show(a) => on_spool("queue show", &a.id.spool, |s| {
            admin::show(s, &a.id.id).map(|q| if a.json { show_json(&q) } else { render_show(&q, a.full) })
        }),
        Command::Flush(a) => on_spool_logged("queue flush", &a, Event::AdminRetry, |s| {
            admin::retry(s, None).map(|due| {
                let text = format!("{} copies due now\n", due.len());
                (due, text)
            })
        }),
        Command::Retry(a) => on_spool_logged("queue retry", &a.spool, Event::AdminRetry, |s| {
            admin::retry(s, Some(&a.id)).map(|due| (due, format!("{} due now\n", a.id)))
        }),
        Command::Remove(a) => on_spool_logged("queue remove", &a.spool, Event::AdminRemove, |s| {
            admin::remove(s, a.which()).map(|done| said(done, "removed"))
        }),
        Command::Hold(a) => on_spool_logged("queue hold", &a.spool, Event::AdminHold, |s| {
            admin::hold(s, a.which()).map(|done| said(done, "put on hold"))
        }),
        Command::Release(a) => on_spool_logged("queue release", &a.spool, Event::AdminHoldRelease, |s| {
            admin::release_held(s, a.which()).map(|done| said(done, "released from hold"))
        }),
    }
}

/// What an action did: a line per copy, and how many.
fn said(done: Vec<doorman_spool::Envelope>, what: &str) -> (Vec<doorman_spool::Envelope>, String) {
    let mut text: String = done.iter().map(|e| format!("{} {what}\n", e.queue_id)).collect();
    text.push_str(&format!("{} copies {what}\n", done.len()));
    (done, text)
}

/// A copy as `queue list` shows it.
#[derive(Serialize)]
struct Entry<'a> {
    queue_id: &'a str,
    /// When it was received (UTC).
    arrival: &'a str,
    /// The message's size in bytes.
    size: usize,
    tenant: &'a str,
    /// Empty for the null sender.
    sender: &'a str,
    /// The recipients still to deliver.
    recipients: Vec<&'a str>,
    status: QueueStatus,
    attempts: u32,
    /// Seconds until the next attempt; 0 when due.
    next_attempt_in: u64,
    last_reply: Option<&'a str>,
}

fn entry(q: &Queued, now: u64) -> Entry<'_> {
    let e = &q.file.envelope;
    let (recipients, attempts, next, last_reply) = match &q.state {
        Some(st) => (
            st.pending().map(|r| r.address.as_str()).collect(),
            st.attempts,
            st.next_attempt.saturating_sub(now),
            st.pending().find_map(|r| r.reply.as_deref()),
        ),
        None => (e.recipients.iter().map(|r| r.address.as_str()).collect(), 0, 0, None),
    };
    let status = QueueStatus::of(q.state.as_ref(), q.held, now);
    Entry {
        queue_id: &e.queue_id,
        arrival: &e.received_at,
        size: q.file.message.len(),
        tenant: &e.tenant,
        sender: &e.mail_from,
        recipients,
        status,
        attempts,
        next_attempt_in: next,
        last_reply,
    }
}

fn list_json(queue: &[Queued]) -> String {
    let now = unix(SystemTime::now());
    let entries: Vec<Entry> = queue.iter().map(|q| entry(q, now)).collect();
    format!("{}\n", serde_json::to_string_pretty(&entries).unwrap_or_default())
}

fn render_list(queue: &[Queued]) -> String {
    let now = unix(SystemTime::now());
    let mut out = format!(
        "{:<16}  {:<24}  {:>8}  {:<10}  {:<28}  {:<8}  {:>8}  {:>8}  RECIPIENTS; LAST REPLY\n",
        "QUEUE-ID", "ARRIVAL", "SIZE", "TENANT", "SENDER", "STATUS", "ATTEMPTS", "NEXT"
    );
    for q in queue {
        let e = entry(q, now);
        let sender = if e.sender.is_empty() { "<>" } else { e.sender };
        let next = if e.next_attempt_in == 0 { "now".to_string() } else { format!("in {}s", e.next_attempt_in) };
        let last = e.last_reply.map(|r| format!("; {r}")).unwrap_or_default();
        out.push_str(&format!(
            "{:<16}  {:<24}  {:>8}  {:<10}  {:<28}  {:<8}  {:>8}  {:>8}  {}{last}\n",
            e.queue_id,
            e.arrival,
            e.size,
            e.tenant,
            sender,
            e.status.name(),
            e.attempts,
            next,
            e.recipients.join(", ")
        ));
    }
    out.push_str(&format!("{} copies\n", queue.len()));
    out
}

fn show_json(q: &Queued) -> String {
    #[derive(Serialize)]
    struct Shown<'a> {
        envelope: &'a doorman_spool::Envelope,
        state: &'a Option<doorman_queue::state::DeliveryState>,
        held: bool,
        size: usize,
    }
    let shown = Shown { envelope: &q.file.envelope, state: &q.state, held: q.held, size: q.file.message.len() };
    format!("{}\n", serde_json::to_string_pretty(&shown).unwrap_or_default())
}

fn render_show(q: &Queued, full: bool) -> String {
    let e = &q.file.envelope;
    let now = unix(SystemTime::now());
    let shown = entry(q, now);
    let mut out = String::new();
    let mut field = |name: &str, value: &str| out.push_str(&format!("{name:<11} {value}\n"));
    field("queue id:", &e.queue_id);
    field("arrival:", &e.received_at);
    field("size:", &format!("{} bytes", q.file.message.len()));
    field("status:", shown.status.name());
    field("tenant:", &e.tenant);
    field("connector:", e.connector.as_deref().unwrap_or("none"));
    let helo = e.helo.as_deref().map(|h| format!(" (HELO {h})")).unwrap_or_default();
    field("client:", &format!("{}{helo}, {}", e.client_ip, e.tls.as_deref().unwrap_or("no TLS")));
    field("sender:", if e.mail_from.is_empty() { "<>" } else { &e.mail_from });
    field("attempts:", &shown.attempts.to_string());
    out.push_str("recipients:\n");
    match &q.state {
        Some(st) => {
            for r in &st.recipients {
                let status = match r.status {
                    Status::Pending => "pending",
                    Status::Delivered => "delivered",
                    Status::Failed => "failed",
                };
                out.push_str(&format!("  {}  {status}  {}\n", r.address, r.reply.as_deref().unwrap_or("")));
            }
        }
        None => {
            for r in &e.recipients {
                out.push_str(&format!("  {}  pending  not tried yet\n", r.address));
            }
        }
    }
    let message = &q.file.message;
    let end = if full {
        message.len()
    } else {
        message.windows(4).position(|w| w == b"\r\n\r\n").map_or(message.len(), |p| p + 2)
    };
    out.push('\n');
    out.push_str(&String::from_utf8_lossy(&message[..end]).replace("\r\n", "\n"));
    out
}
