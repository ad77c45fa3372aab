//! `doorman reload`: check the config, then have the running server load it, and say which
//! generation is in force (as `nginx -t && nginx -s reload` does, in one step).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use doorman_server::control;
use doorman_spool::{ReloadResult, Spool};

/// Check the config, then tell the running `doorman serve` to load it. Exit 0 when the
/// server serves it, 1 when the config or the server refused it, 2 when no server answered.
#[derive(clap::Args)]
pub struct Args {
    /// The config file the server reads; the built-in example when omitted.
    #[arg(long)]
    config: Option<PathBuf>,
    /// How long to wait for the server's answer.
    #[arg(long, default_value = "60s", value_parser = parse_wait)]
    wait: Duration,
}

fn parse_wait(s: &str) -> Result<Duration, String> {
    doorman_config::parse_duration(s).map_err(|e| e.to_string())
}

pub fn run(args: Args) -> ExitCode {
    let source = super::source(args.config.clone());
    let name = source.name();
    let loaded = match source.load() {
        Ok(l) => l,
        Err(diags) => {
            super::emit(&format!("{diags}\n{name}: not reloaded: {} error(s)\n", diags.errors().count()));
            return ExitCode::from(1);
        }
    };
    let warnings: String = loaded.warnings.iter().map(|w| format!("{w}\n")).collect();
    super::emit(&warnings);
    let root = super::spool_paths_of(args.config.as_ref(), &loaded.config.server).spool;
    let answer = Spool::attach(&root)
        .map_err(control::ControlError::from)
        .and_then(|spool| control::reload(&spool, &source.shown_path(), args.wait));
    match answer {
        Ok(ReloadResult::Installed { generation }) => {
            super::emit(&format!("{name}: reloaded: generation {generation} in force\n"));
            ExitCode::SUCCESS
        }
        Ok(ReloadResult::Unchanged { generation }) => {
            super::emit(&format!("{name}: unchanged since the last reload: generation {generation} in force\n"));
            ExitCode::SUCCESS
        }
        Ok(ReloadResult::Refused { generation, errors }) => {
            let errors: String = errors.iter().map(|e| format!("{e}\n")).collect();
            super::emit(&format!("{errors}{name}: the server refused it: generation {generation} still in force\n"));
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("doorman reload: {}: {e}", root.display());
            ExitCode::from(2)
        }
    }
}
