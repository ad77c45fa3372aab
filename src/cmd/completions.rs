//! `doorman completions SHELL` and `doorman man`: generated from the same argument
//! definitions the binary parses, so they cannot drift from it.

use std::process::ExitCode;

use clap::CommandFactory;

/// Print a shell completion script, e.g. `doorman completions bash > /etc/bash_completion.d/doorman`.
#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    shell: clap_complete::Shell,
}

pub fn completions(args: CompletionsArgs) -> ExitCode {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut crate::Cli::command(), "doorman", &mut out);
    super::emit(&String::from_utf8_lossy(&out));
    ExitCode::SUCCESS
}

/// Print the manual page (roff), e.g. `doorman man > /usr/local/share/man/man1/doorman.1`.
/// With a subcommand's name, its own page (`doorman man audit` is doorman-audit(1)).
#[derive(clap::Args)]
pub struct ManArgs {
    /// A subcommand, e.g. audit or serve; doorman(1) itself when omitted.
    command: Option<String>,
}

pub fn man(args: ManArgs) -> ExitCode {
    let root = crate::Cli::command();
    let page = match &args.command {
        None => root,
        Some(name) => match root.find_subcommand(name) {
            Some(sub) => sub.clone().name(format!("doorman-{name}")).version(env!("CARGO_PKG_VERSION")),
            None => {
                eprintln!("doorman man: no command {name:?}; doorman --help lists them");
                return ExitCode::from(2);
            }
        },
    };
    let mut out = Vec::new();
    if let Err(e) = clap_mangen::Man::new(page).render(&mut out) {
        eprintln!("doorman man: {e}");
        return ExitCode::from(1);
    }
    super::emit(&String::from_utf8_lossy(&out));
    ExitCode::SUCCESS
}
