//! `doorman quarantine`: the per-tenant quarantine store, where a transport rule's
//! `quarantine` action puts a copy.

use std::process::ExitCode;

use doorman_queue::admin;
use doorman_tracking::Event;

use super::{IdArgs, SpoolArgs, on_spool, on_spool_logged};

/// Look at, release or delete quarantined messages.
#[derive(clap::Subcommand)]
pub enum Command {
    /// One line per quarantined copy.
    List {
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        spool: SpoolArgs,
    },
    /// A copy's envelope and whole message.
    Show(IdArgs),
    /// Deliver a copy as it is.
    Release(IdArgs),
    /// Delete a copy.
    Delete(IdArgs),
}

pub fn run(c: Command) -> ExitCode {
    match c {
        Command::List { tenant, spool } => {
            on_spool("quarantine", &spool, |s| s.quarantined(tenant.as_deref()).map(|q| render_list(&q)))
        }
        Command::Show(a) => on_spool("quarantine", &a.spool, |s| {
            s.find_quarantined(&a.id).map(|(_, f)| {
                format!(
                    "{}\n\n{}",
                    serde_json::to_string_pretty(&f.envelope).unwrap_or_default(),
                    String::from_utf8_lossy(&f.message).replace("\r\n", "\n")
                )
            })
        }),
        Command::Release(a) => on_spool_logged("quarantine", &a.spool, Event::AdminRelease, |s| {
            admin::release(s, &a.id).map(|e| (vec![e], format!("{} released for delivery\n", a.id)))
        }),
        Command::Delete(a) => on_spool_logged("quarantine", &a.spool, Event::AdminDelete, |s| {
            admin::delete(s, &a.id).map(|e| (vec![e], format!("{} deleted\n", a.id)))
        }),
    }
}

fn render_list(q: &[(String, doorman_spool::SpoolFile)]) -> String {
    let mut out =
        format!("{:<16}  {:<10}  {:<28}  {:>4}  {:<30}  RULES\n", "QUEUE-ID", "TENANT", "SENDER", "SCL", "RECIPIENTS");
    for (tenant, f) in q {
        let e = &f.envelope;
        let rcpts: Vec<&str> = e.recipients.iter().map(|r| r.address.as_str()).collect();
        out.push_str(&format!(
            "{:<16}  {:<10}  {:<28}  {:>4}  {:<30}  {}\n",
            e.queue_id,
            tenant,
            if e.mail_from.is_empty() { "<>" } else { &e.mail_from },
            e.scl.map_or("-".to_string(), |s| s.to_string()),
            rcpts.join(","),
            e.rules.join(", ")
        ));
    }
    out.push_str(&format!("{} quarantined\n", q.len()));
    out
}
