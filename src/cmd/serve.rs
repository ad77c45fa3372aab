//! `doorman serve`: run the SMTP edge.

use std::path::PathBuf;
use std::process::ExitCode;

use tracing::Level;

/// Run the inbound SMTP edge until SIGTERM. SIGHUP (`doorman reload`), or a config file
/// renamed into place, reloads it.
///
/// Without --config it runs the built-in example on 127.0.0.1:2525, spooling under ./var.
///
/// Exit status: 0 after a clean stop, 1 when it cannot start (a socket, the spool, the
/// cluster), 2 for a usage or config error.
#[derive(clap::Args)]
pub struct Args {
    /// The config file; the built-in example (examples/contoso.toml) when omitted.
    #[arg(long)]
    config: Option<PathBuf>,
    /// error, warn, info, debug or trace.
    #[arg(long, default_value = "info")]
    log_level: Level,
}

pub fn run(args: Args) -> ExitCode {
    tracing_subscriber::fmt().with_max_level(args.log_level).with_writer(std::io::stderr).with_ansi(false).init();
    match doorman_server::run(super::source(args.config)) {
        Ok(()) => ExitCode::SUCCESS,
        // A config error is 2, as for every other command; a start that fails is 1.
        Err(doorman_server::ServeError::Config(diags)) => {
            super::print_diagnostics("serve", &diags);
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("doorman serve: {e}");
            ExitCode::from(1)
        }
    }
}
