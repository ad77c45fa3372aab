//! `doorman import exo`: an Exchange Online tenant as a doorman config.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Import another system's configuration as a doorman config.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Read an Exchange Online export (scripts/export-exo.ps1's folder) and print the tenant as
    /// doorman TOML, with a comment for everything Exchange Online does differently and
    /// everything left out.
    Exo(ExoArgs),
}

#[derive(clap::Args)]
pub struct ExoArgs {
    /// The export folder.
    pub dir: PathBuf,
    /// The tenant's MX host(s); Exchange Online's own (*.mail.protection.outlook.com,
    /// *.mx.microsoft) become `self`.
    #[arg(long)]
    pub mx: Vec<String>,
}

/// The export imported, checked by the same loader as any config.
pub fn load_exo(args: &ExoArgs) -> Result<(doorman_exo::Import, doorman_config::Loaded), String> {
    let export = doorman_exo::read_dir(&args.dir)?;
    let imported = doorman_exo::import(&export, &args.mx);
    let loaded =
        doorman_config::load_str(&format!("{} (imported)", args.dir.display()), &with_notes(&imported), Path::new("."))
            .map_err(|d| format!("the imported config does not load, which is a doorman bug:\n{d}"))?;
    Ok((imported, loaded))
}

/// The TOML with every note as a comment at the top.
pub fn with_notes(imported: &doorman_exo::Import) -> String {
    let mut out = String::new();
    for n in &imported.notes {
        let kind = match n.kind {
            doorman_exo::NoteKind::Unsupported => "not imported",
            doorman_exo::NoteKind::ExoLimit => "Exchange Online limit",
            doorman_exo::NoteKind::Semantics => "Exchange Online differs",
            doorman_exo::NoteKind::Assumption => "assumed",
        };
        out.push_str(&format!("# {kind}: {}\n", n.what));
    }
    out.push_str(&imported.toml);
    out
}

pub fn run(c: Command) -> ExitCode {
    let Command::Exo(args) = c;
    match load_exo(&args) {
        Ok((imported, _)) => {
            super::emit(&with_notes(&imported));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("doorman import exo: {e}");
            ExitCode::from(2)
        }
    }
}
