//! `doorman diff`: what a config change will do, before it is applied.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use doorman_policy::Policy;

/// Which classes of sender change outcome between two configs: delivery gained or lost, SCL
/// changed, connector changed. Either side may be an Exchange Online export (a folder, or a
/// `.json` file: ScubaGear's ProviderSettingsExport.json or Get-InboundConnector output),
/// read through the same import as `audit --exo`.
///
/// Exit status: 0, or 1 with --fail-on-new-access when some class gains delivery; 2 for a
/// usage or config error; 3 when an export is incomplete (the differences hold only for what
/// it holds, so a gate must not pass on them).
#[derive(clap::Args)]
pub struct Args {
    /// The config (TOML) or export before the change: the file in force now.
    old: PathBuf,
    /// The config (TOML) or export after it.
    new: PathBuf,
    /// For an export: the tenant's MX host(s); looked up in DNS when omitted.
    #[arg(long)]
    mx: Vec<String>,
    /// For an export: the name server for the MX lookup (`ip:port`).
    #[arg(long)]
    dns_server: Option<std::net::SocketAddr>,
    /// Print the JSON form (schema doorman.diff/3).
    #[arg(long)]
    json: bool,
    /// Exit 1 when any class of sender can deliver that could not before.
    #[arg(long)]
    fail_on_new_access: bool,
}

pub fn run(args: Args) -> ExitCode {
    let incomplete = std::cell::Cell::new(false);
    let load = |p: &PathBuf| {
        if !is_export(p) {
            return match super::load(Some(p)) {
                Ok(l) => Ok(Policy::new(l.config)),
                Err(d) => {
                    super::print_diagnostics("diff", &d);
                    Err(ExitCode::from(2))
                }
            };
        }
        let exo = super::import::ExoArgs { dir: p.clone(), mx: args.mx.clone(), dns_server: args.dns_server };
        match super::import::load_exo(&exo) {
            Ok((imported, loaded)) => {
                incomplete.set(incomplete.get() || !imported.missing.is_empty());
                for m in &imported.missing {
                    eprintln!(
                        "doorman diff: {}: incomplete: missing {} (to complete it: {}); the differences hold for what the export holds",
                        p.display(),
                        m.what,
                        m.remedy
                    );
                }
                Ok(Policy::new(loaded.config))
            }
            Err(e) => {
                eprintln!("doorman diff: {e}");
                Err(ExitCode::from(2))
            }
        }
    };
    let (old, new) = match (load(&args.old), load(&args.new)) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let diff = doorman_audit::diff::diff(&old, &new);
    if args.json {
        super::emit(&format!("{}\n", serde_json::to_string_pretty(&diff).unwrap_or_default()));
    } else {
        super::emit(&doorman_audit::diff::render(&diff));
    }
    if incomplete.get() {
        ExitCode::from(3)
    } else if args.fail_on_new_access && diff.gains_access() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// An Exchange Online export is a folder or a JSON file; a config is TOML.
fn is_export(path: &Path) -> bool {
    path.is_dir() || path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"))
}
