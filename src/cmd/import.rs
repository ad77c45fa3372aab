//! `doorman import exo`: an Exchange Online tenant as a doorman config.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Import another system's configuration as a doorman config.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Read an Exchange Online export (scripts/export-exo.ps1's folder, ScubaGear's
    /// ProviderSettingsExport.json, or Get-InboundConnector output) and print the tenant as
    /// doorman TOML, with a comment for everything missing, everything Exchange Online does
    /// differently and everything left out.
    ///
    /// Exit status: 0, 2 for an error, 3 when the export is incomplete (the TOML is printed,
    /// and holds only what the export holds).
    Exo(ExoArgs),
}

#[derive(clap::Args)]
pub struct ExoArgs {
    /// The export folder, ScubaGear's ProviderSettingsExport.json, or a
    /// `Get-InboundConnector | ConvertTo-Json` file.
    pub dir: PathBuf,
    /// The tenant's MX host(s); Exchange Online's own (*.mail.protection.outlook.com,
    /// *.mx.microsoft) become `self`. Looked up in DNS for the default accepted domain when
    /// omitted.
    #[arg(long)]
    pub mx: Vec<String>,
    /// The name server for that lookup (`ip:port`); the system's when omitted.
    #[arg(long)]
    pub dns_server: Option<std::net::SocketAddr>,
}

/// The export imported, checked by the same loader as any config.
pub fn load_exo(args: &ExoArgs) -> Result<(doorman_exo::Import, doorman_config::Loaded), String> {
    let export = doorman_exo::read(&args.dir).map_err(|e| e.to_string())?;
    let mx = if args.mx.is_empty() { lookup_mx(&export, args.dns_server)? } else { args.mx.clone() };
    let imported = doorman_exo::import(&export, &mx);
    let loaded =
        doorman_config::load_str(&format!("{} (imported)", args.dir.display()), &imported.toml, Path::new("."))
            .map_err(|d| format!("the imported config does not load, which is a doorman bug:\n{d}"))?;
    Ok((imported, loaded))
}

/// The MX of the export's default accepted domain (or its first), from DNS.
fn lookup_mx(export: &doorman_exo::Export, server: Option<std::net::SocketAddr>) -> Result<Vec<String>, String> {
    let Some(domain) = doorman_exo::default_domain(export) else {
        return Ok(Vec::new());
    };
    let dns = doorman_config::Dns { servers: server.into_iter().collect(), ..doorman_config::Dns::default() };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(doorman_dns::lookup_mx(&dns, &domain)).map_err(|e| format!("{e}; pass the MX with --mx"))
}

pub fn run(c: Command) -> ExitCode {
    let Command::Exo(args) = c;
    match load_exo(&args) {
        Ok((imported, _)) => {
            super::emit(&imported.toml);
            // The TOML is usable, but holds only what the export holds.
            if imported.missing.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(3) }
        }
        Err(e) => {
            eprintln!("doorman import exo: {e}");
            ExitCode::from(2)
        }
    }
}
