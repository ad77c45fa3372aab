//! `doorman quarantine`: the per-tenant quarantine store, where a transport rule's
//! `quarantine` action puts a copy.

use std::path::PathBuf;
use std::process::ExitCode;

use doorman_queue::admin;
use doorman_spool::Spool;

/// Look at, release or delete quarantined messages.
#[derive(clap::Subcommand)]
pub enum Command {
    /// One line per quarantined copy.
    List {
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// A copy's envelope and whole message.
    Show(WithId),
    /// Deliver a copy as it is.
    Release(WithId),
    /// Delete a copy.
    Delete(WithId),
}

#[derive(clap::Args)]
pub struct Common {
    /// The config file (for server.spool_dir); the built-in example when omitted.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct WithId {
    id: String,
    #[command(flatten)]
    common: Common,
}

pub fn run(c: Command) -> ExitCode {
    let common = match &c {
        Command::List { common, .. } => common,
        Command::Show(a) | Command::Release(a) | Command::Delete(a) => &a.common,
    };
    let root = match super::spool_root(common.config.as_ref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("doorman quarantine: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match &c {
        Command::List { tenant, .. } => admin::quarantined(&root, tenant.as_deref()).map(|q| {
            let mut out = format!(
                "{:<16}  {:<10}  {:<28}  {:>4}  {:<30}  RULES\n",
                "QUEUE-ID", "TENANT", "SENDER", "SCL", "RECIPIENTS"
            );
            for (tenant, f) in &q {
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
        }),
        Command::Show(a) => admin::find_quarantined(&root, &a.id).map(|(_, f)| {
            format!(
                "{}\n\n{}",
                serde_json::to_string_pretty(&f.envelope).unwrap_or_default(),
                String::from_utf8_lossy(&f.message).replace("\r\n", "\n")
            )
        }),
        Command::Release(a) => Spool::attach(&root)
            .and_then(|s| admin::release(&s, &a.id))
            .map(|()| format!("{} released for delivery\n", a.id)),
        Command::Delete(a) => admin::delete_quarantined(&root, &a.id).map(|()| format!("{} deleted\n", a.id)),
    };
    match result {
        Ok(text) => {
            super::emit(&text);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("doorman quarantine: {}: {e}", root.display());
            ExitCode::from(1)
        }
    }
}
