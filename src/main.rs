//! `doorman`: one binary that wires the library crates to the command line. Each subcommand
//! lives in `cmd/` and only parses arguments, calls a library, prints and picks an exit code.

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "doorman", version, about = "Multi-tenant inbound SMTP edge and mail-flow policy analyzer", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Serve(cmd::serve::Args),
    Explain(cmd::explain::Args),
    Audit(cmd::audit::Args),
    Diff(cmd::diff::Args),
    CheckConfig(cmd::check_config::Args),
    Reload(cmd::reload::Args),
    Probe(cmd::probe::Args),
    Trace(cmd::trace::Args),
    #[command(subcommand)]
    Config(cmd::config::Command),
    #[command(subcommand)]
    Cluster(cmd::cluster::Command),
    #[command(subcommand)]
    Import(cmd::import::Command),
    #[command(subcommand)]
    Queue(cmd::queue::Command),
    #[command(subcommand)]
    Quarantine(cmd::quarantine::Command),
    Completions(cmd::completions::CompletionsArgs),
    Man(cmd::completions::ManArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `doorman probe` keeps 0, 1 and 2 for its verdicts: its usage errors are 64.
            let probe = std::env::args_os().nth(1).is_some_and(|a| a == "probe");
            let code = if probe && e.use_stderr() { cmd::probe::USAGE as i32 } else { e.exit_code() };
            let _ = e.print();
            return ExitCode::from(code as u8);
        }
    };
    match cli.command {
        Command::Serve(args) => cmd::serve::run(args),
        Command::Explain(args) => cmd::explain::run(args),
        Command::Audit(args) => cmd::audit::run(args),
        Command::Diff(args) => cmd::diff::run(args),
        Command::CheckConfig(args) => cmd::check_config::run(args),
        Command::Trace(args) => cmd::trace::run(args),
        Command::Config(c) => cmd::config::run(c),
        Command::Cluster(c) => cmd::cluster::run(c),
        Command::Import(c) => cmd::import::run(c),
        Command::Queue(c) => cmd::queue::run(c),
        Command::Reload(args) => cmd::reload::run(args),
        Command::Probe(args) => cmd::probe::run(args),
        Command::Quarantine(c) => cmd::quarantine::run(c),
        Command::Completions(args) => cmd::completions::completions(args),
        Command::Man(args) => cmd::completions::man(args),
    }
}
