//! Subcommands, and what they share: finding the config.

pub mod audit;
pub mod check_config;
pub mod cluster;
pub mod completions;
pub mod config;
pub mod diff;
pub mod explain;
pub mod import;
pub mod probe;
pub mod quarantine;
pub mod queue;
pub mod reload;
pub mod serve;
pub mod trace;
pub mod trace_doors;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use doorman_config::{Diagnostics, Loaded, load_file, load_str};

/// The example the README's quick start runs, compiled in so it works from any directory.
pub const BUILT_IN_NAME: &str = "examples/contoso.toml (built in)";
pub const BUILT_IN: &str = include_str!("../../examples/contoso.toml");

/// Loads `path`, or the built-in example without one.
pub fn load(path: Option<&PathBuf>) -> Result<Loaded, Diagnostics> {
    match path {
        Some(p) => load_file(p),
        None => load_str(BUILT_IN_NAME, BUILT_IN, Path::new(".")),
    }
}

/// The config `doorman serve` runs: `path`, or the built-in example.
pub fn source(path: Option<PathBuf>) -> doorman_edge::ConfigSource {
    match path {
        Some(path) => doorman_edge::ConfigSource::File(path),
        None => doorman_edge::ConfigSource::Text {
            name: BUILT_IN_NAME.to_string(),
            text: BUILT_IN,
            base_dir: PathBuf::from("."),
        },
    }
}

/// `--config`, for the commands that work on the spool.
#[derive(clap::Args)]
pub struct SpoolArgs {
    /// The config file (for server.spool_dir); the built-in example when omitted.
    #[arg(long)]
    config: Option<PathBuf>,
}

/// A queue id and `--config`.
#[derive(clap::Args)]
pub struct IdArgs {
    /// The queue id, as in the 250 reply and the tracking log.
    pub id: String,
    #[command(flatten)]
    pub spool: SpoolArgs,
}

/// Runs `action` on the spool of `args`' config and prints what it gives. Exit status: 0 on
/// success, 1 when the action fails (unknown id, unreadable spool), 2 for a config error.
pub fn on_spool(
    command: &str,
    args: &SpoolArgs,
    action: impl FnOnce(&doorman_spool::Spool) -> std::io::Result<String>,
) -> ExitCode {
    run_on_spool(command, args, None, |spool| action(spool).map(|text| (Vec::new(), text)))
}

/// As [`on_spool`], for an action that changes the queue or the quarantine: each copy it
/// acted on gets its `event` line in the tracking log, with who ran it. The log is opened
/// first, so an action that could not be logged is not done.
pub fn on_spool_logged(
    command: &str,
    args: &SpoolArgs,
    event: doorman_tracking::Event,
    action: impl FnOnce(&doorman_spool::Spool) -> std::io::Result<(Vec<doorman_spool::Envelope>, String)>,
) -> ExitCode {
    run_on_spool(command, args, Some(event), action)
}

fn run_on_spool(
    command: &str,
    args: &SpoolArgs,
    event: Option<doorman_tracking::Event>,
    action: impl FnOnce(&doorman_spool::Spool) -> std::io::Result<(Vec<doorman_spool::Envelope>, String)>,
) -> ExitCode {
    let paths = match spool_paths(args.config.as_ref()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("doorman {command}: {e}");
            return ExitCode::from(2);
        }
    };
    let log = match event.map(|_| doorman_tracking::TrackingLog::open(&paths.tracking_log)).transpose() {
        Ok(log) => log,
        Err(e) => {
            eprintln!(
                "doorman {command}: server.tracking_log: {}: {e}; nothing was done",
                paths.tracking_log.display()
            );
            return ExitCode::from(1);
        }
    };
    match doorman_spool::Spool::attach(&paths.spool).and_then(|spool| action(&spool)) {
        Ok((copies, text)) => {
            if let (Some(log), Some(event)) = (log, event) {
                for r in doorman_queue::admin::records(event, &copies, doorman_queue::admin::current_uid()) {
                    log.log(r);
                }
            }
            emit(&text);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("doorman {command}: {}: {e}", paths.spool.display());
            ExitCode::from(1)
        }
    }
}

/// Where a config's spool and tracking log are.
pub struct SpoolPaths {
    pub spool: PathBuf,
    pub tracking_log: PathBuf,
}

/// The spool directory and tracking log of a config: relative to the config file's folder,
/// or to the working directory for the built-in example (as `doorman serve` resolves them).
pub fn spool_paths(config: Option<&PathBuf>) -> Result<SpoolPaths, String> {
    let loaded = load(config).map_err(|d| d.to_string())?;
    Ok(spool_paths_of(config, &loaded.config.server))
}

/// [`spool_paths`] of a config already loaded.
pub fn spool_paths_of(config: Option<&PathBuf>, server: &doorman_config::Server) -> SpoolPaths {
    let base = config.and_then(|p| p.parent().map(Path::to_path_buf)).unwrap_or_default();
    SpoolPaths { spool: base.join(&server.spool_dir), tracking_log: base.join(&server.tracking_log) }
}

/// Prints a config's errors or warnings to stderr, each line as `doorman CMD: file:line:…`,
/// as every other error a command prints.
pub fn print_diagnostics(command: &str, diagnostics: impl std::fmt::Display) {
    let text = diagnostics.to_string();
    let mut err = std::io::stderr().lock();
    for line in text.lines() {
        let _ = writeln!(err, "doorman {command}: {line}");
    }
}

/// Writes to stdout. A closed pipe (`doorman explain … | head`) is not an error worth a panic:
/// the reader has what it wanted.
pub fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}
