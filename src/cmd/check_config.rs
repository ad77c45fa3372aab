//! `doorman check-config`: validate a config and print every error and warning with its file,
//! line, column and key path.

use std::path::PathBuf;
use std::process::ExitCode;

/// Validate a config file: exit 0 when it loads, 1 when it has errors.
#[derive(clap::Args)]
pub struct Args {
    /// The config file; the built-in example when omitted.
    file: Option<PathBuf>,
    /// Treat warnings as errors.
    #[arg(long)]
    deny_warnings: bool,
}

pub fn run(args: Args) -> ExitCode {
    let name = args.file.as_ref().map_or(super::BUILT_IN_NAME.to_string(), |p| p.display().to_string());
    match super::load(args.file.as_ref()) {
        Err(diags) => {
            let errors = diags.errors().count();
            super::emit(&format!("{diags}\n{name}: {errors} error(s), {} warning(s)\n", diags.0.len() - errors));
            ExitCode::from(1)
        }
        Ok(loaded) => {
            let mut out: String = loaded.warnings.iter().map(|w| format!("{w}\n")).collect();
            let c = &loaded.config;
            let connectors: usize = c.tenants.iter().map(|t| t.inbound_connectors.len()).sum();
            let rules: usize = c.tenants.iter().map(|t| t.transport_rules.len()).sum();
            let verdict = if loaded.warnings.is_empty() { "OK" } else { "OK with warnings" };
            out += &format!(
                "{name}: {verdict}: {} tenant(s), {connectors} inbound connector(s), {rules} transport rule(s), {} warning(s)\n",
                c.tenants.len(),
                loaded.warnings.len()
            );
            super::emit(&out);
            if args.deny_warnings && !loaded.warnings.is_empty() { ExitCode::from(1) } else { ExitCode::SUCCESS }
        }
    }
}
