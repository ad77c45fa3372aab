//! `doorman queue`: look at and act on the delivery queue, also while `doorman serve` runs.

use std::process::ExitCode;
use std::time::SystemTime;

use doorman_queue::admin;
use doorman_queue::state::{Status, unix};

use doorman_tracking::Event;

use super::{IdArgs, SpoolArgs, on_spool, on_spool_logged};

/// Look at and act on the delivery queue (the spool's copies not yet delivered).
#[derive(clap::Subcommand)]
pub enum Command {
    /// One line per queued copy: id, tenant, sender, recipients, attempts, next attempt, last reply.
    List(SpoolArgs),
    /// A copy's envelope, each recipient's state, and its header.
    Show(IdArgs),
    /// Make every copy due now.
    Flush(SpoolArgs),
    /// Make one copy due now.
    Retry(IdArgs),
    /// Delete a copy without delivering it (no DSN).
    Remove(IdArgs),
}

pub fn run(c: Command) -> ExitCode {
    match c {
        Command::List(a) => on_spool("queue", &a, |s| admin::list(s).map(|q| render_list(&q))),
        Command::Show(a) => on_spool("queue", &a.spool, |s| admin::show(s, &a.id).map(|q| render_show(&q))),
        Command::Flush(a) => on_spool_logged("queue", &a, Event::AdminRetry, |s| {
            admin::retry(s, None).map(|due| {
                let text = format!("{} copies due now\n", due.len());
                (due, text)
            })
        }),
        Command::Retry(a) => on_spool_logged("queue", &a.spool, Event::AdminRetry, |s| {
            admin::retry(s, Some(&a.id)).map(|due| (due, format!("{} due now\n", a.id)))
        }),
        Command::Remove(a) => on_spool_logged("queue", &a.spool, Event::AdminRemove, |s| {
            admin::remove(s, &a.id).map(|e| (vec![e], format!("{} removed\n", a.id)))
        }),
    }
}
fn render_list(queue: &[admin::Queued]) -> String {
    let now = unix(SystemTime::now());
    let mut out = format!(
        "{:<16}  {:<10}  {:<28}  {:>5}  {:>8}  {:>10}  LAST REPLY\n",
        "QUEUE-ID", "TENANT", "SENDER", "RCPTS", "ATTEMPTS", "NEXT"
    );
    for q in queue {
        let e = &q.file.envelope;
        let (pending, attempts, next, last) = match &q.state {
            Some(st) => (
                st.pending().count(),
                st.attempts,
                if st.next_attempt <= now { "now".to_string() } else { format!("in {}s", st.next_attempt - now) },
                st.pending().filter_map(|r| r.reply.clone()).next().unwrap_or_default(),
            ),
            None => (e.recipients.len(), 0, "now".to_string(), String::new()),
        };
        let sender = if e.mail_from.is_empty() { "<>" } else { &e.mail_from };
        out.push_str(&format!(
            "{:<16}  {:<10}  {:<28}  {:>5}  {:>8}  {:>10}  {last}\n",
            e.queue_id, e.tenant, sender, pending, attempts, next
        ));
    }
    out.push_str(&format!("{} copies\n", queue.len()));
    out
}

fn render_show(q: &admin::Queued) -> String {
    let mut out = serde_json::to_string_pretty(&q.file.envelope).unwrap_or_default();
    out.push('\n');
    if let Some(st) = &q.state {
        out.push_str(&format!("attempts: {}\n", st.attempts));
        for r in &st.recipients {
            let status = match r.status {
                Status::Pending => "pending",
                Status::Delivered => "delivered",
                Status::Failed => "failed",
            };
            out.push_str(&format!("  {}  {status}  {}\n", r.address, r.reply.as_deref().unwrap_or("")));
        }
    } else {
        out.push_str("not tried yet\n");
    }
    let header_end = q.file.message.windows(4).position(|w| w == b"\r\n\r\n").map_or(q.file.message.len(), |p| p + 2);
    out.push('\n');
    out.push_str(&String::from_utf8_lossy(&q.file.message[..header_end]).replace("\r\n", "\n"));
    out
}
