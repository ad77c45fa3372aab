//! `doorman serve`: run the SMTP edge.

use std::path::PathBuf;
use std::process::ExitCode;

use doorman_edge::ConfigSource;
use tracing::Level;

/// Run the inbound SMTP edge until SIGTERM. SIGHUP, or saving the config file, reloads it.
///
/// Without --config it runs the built-in example on 127.0.0.1:2525, spooling under ./var.
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
    let source = match args.config {
        Some(path) => ConfigSource::File(path),
        None => ConfigSource::Text {
            name: super::BUILT_IN_NAME.to_string(),
            text: super::BUILT_IN,
            base_dir: PathBuf::from("."),
        },
    };
    match doorman_server::run(source) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("doorman serve: {e}");
            ExitCode::from(1)
        }
    }
}
