//! `doorman audit`: every class of sender, every path to a mailbox, every side door and its fix.

use std::path::PathBuf;
use std::process::ExitCode;

use doorman_policy::Policy;

/// Find every side door: which senders reach each tenant's mailboxes without passing its MX.
///
/// Exit status: 0 when every tenant is locked and nothing needs attention, 1 when there are
/// findings, 2 for a usage or config error.
#[derive(clap::Args)]
pub struct Args {
    /// The config file; the built-in example (examples/contoso.toml) when omitted.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Print the JSON report (schema doorman.audit/1, docs/audit-json.md).
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> ExitCode {
    let loaded = match super::load(args.config.as_ref()) {
        Ok(l) => l,
        Err(diags) => {
            eprintln!("{diags}");
            return ExitCode::from(2);
        }
    };
    let audit = doorman_audit::audit(&Policy::new(loaded.config));
    if args.json {
        super::emit(&format!("{}\n", serde_json::to_string_pretty(&audit).unwrap_or_default()));
    } else {
        super::emit(&doorman_audit::render::text(&audit));
    }
    if audit.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}
