//! `doorman diff`: what a config change will do, before it is applied.

use std::path::PathBuf;
use std::process::ExitCode;

use doorman_policy::Policy;

/// Which classes of sender change outcome between two configs: delivery gained or lost, SCL
/// changed, connector changed.
///
/// Exit status: 0, or 1 with --fail-on-new-access when some class gains delivery; 2 for a
/// usage or config error.
#[derive(clap::Args)]
pub struct Args {
    old: PathBuf,
    new: PathBuf,
    /// Print the JSON form (schema doorman.diff/2).
    #[arg(long)]
    json: bool,
    /// Exit 1 when any class of sender can deliver that could not before.
    #[arg(long)]
    fail_on_new_access: bool,
}

pub fn run(args: Args) -> ExitCode {
    let load = |p: &PathBuf| match super::load(Some(p)) {
        Ok(l) => Ok(Policy::new(l.config)),
        Err(d) => {
            eprintln!("{d}");
            Err(ExitCode::from(2))
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
    if args.fail_on_new_access && diff.gains_access() { ExitCode::from(1) } else { ExitCode::SUCCESS }
}
