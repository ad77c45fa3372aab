//! `doorman audit`: every class of sender, every path to a mailbox, every side door and its fix.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use doorman_audit::Outcome;
use doorman_policy::Policy;

/// Find every side door: which senders reach each tenant's mailboxes without passing its MX.
///
/// Exit status, with or without --json: 0 when every tenant is locked on complete input and
/// nothing needs attention; 1 for a certain finding (a side door, open relay, warning or
/// critical finding on a tenant judged on complete input); 2 for a usage or config error (or
/// when a tenant's audit fails); 3 when the input is incomplete (a tenant INCOMPLETE or NOT
/// AUDITED) and nothing is certain.
#[derive(clap::Args)]
pub struct Args {
    /// The config file; the built-in example (examples/contoso.toml) when omitted.
    #[arg(long, conflicts_with = "exo")]
    config: Option<PathBuf>,
    /// Audit an Exchange Online export instead: scripts/export-exo.ps1's folder, ScubaGear's
    /// ProviderSettingsExport.json, or Get-InboundConnector output; and print the PowerShell
    /// that closes what is found.
    #[arg(long)]
    exo: Option<PathBuf>,
    /// With --exo: the tenant's MX host(s); looked up in DNS when omitted.
    #[arg(long, requires = "exo")]
    mx: Vec<String>,
    /// With --exo: the name server for the MX lookup (`ip:port`).
    #[arg(long, requires = "exo")]
    dns_server: Option<std::net::SocketAddr>,
    /// Print the JSON report (schema doorman.audit/4, docs/audit-json.md); the same as --format json.
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// text; json; html (one self-contained page: summary, findings, fixes, pictures); svg
    /// (the mail-flow picture); dot (the same picture as Graphviz source).
    #[arg(long, default_value = "text")]
    format: Format,
    /// Only this tenant (repeatable); the exit status is then that of these tenants.
    #[arg(long = "tenant", value_name = "NAME")]
    tenants: Vec<String>,
    /// In the text report, only findings of this severity or above: info, warning, critical.
    #[arg(long, default_value = "info")]
    severity: SeverityArg,
    /// In the text report, also list what is hidden by default: refused (the refused classes).
    /// The JSON always has them.
    #[arg(long, value_name = "WHAT")]
    show: Vec<Shown>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SeverityArg {
    Info,
    Warning,
    Critical,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Shown {
    Refused,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
    Html,
    Svg,
    Dot,
}

pub fn run(args: Args) -> ExitCode {
    let (loaded, imported) = match &args.exo {
        Some(dir) => match super::import::load_exo(&super::import::ExoArgs {
            dir: dir.clone(),
            mx: args.mx.clone(),
            dns_server: args.dns_server,
        }) {
            Ok((imported, loaded)) => (loaded, Some(imported)),
            Err(e) => {
                eprintln!("doorman audit: {e}");
                return ExitCode::from(2);
            }
        },
        None => match super::load(args.config.as_ref()) {
            Ok(l) => (l, None),
            Err(diags) => {
                super::print_diagnostics("audit", &diags);
                return ExitCode::from(2);
            }
        },
    };
    let config = loaded.config;
    if let Some(missing) = args.tenants.iter().find(|n| !config.tenants.iter().any(|t| t.name.eq_ignore_ascii_case(n)))
    {
        let names: Vec<&str> = config.tenants.iter().map(|t| t.name.as_str()).collect();
        eprintln!("doorman audit: no tenant {missing:?}; the tenants are {}", names.join(", "));
        return ExitCode::from(2);
    }
    // A bar on a terminal only: a pipe or a file gets the report alone.
    let progress = (config.tenants.len() > 1 && std::io::stderr().is_terminal())
        .then(|| indicatif::ProgressBar::new(config.tenants.len() as u64).with_message("tenants audited"));
    let audited = doorman_audit::audit_with_progress(&Policy::new(config), &|| {
        if let Some(p) = &progress {
            p.inc(1);
        }
    });
    if let Some(p) = &progress {
        p.finish_and_clear();
    }
    let mut audit = match audited {
        Ok(a) => a,
        Err(e) => {
            eprintln!("doorman audit: {e}");
            return ExitCode::from(2);
        }
    };
    // The whole config is audited (a tenant's doors can depend on the others' domains); the
    // report keeps the tenants asked for.
    if !args.tenants.is_empty() {
        audit.tenants.retain(|t| args.tenants.iter().any(|n| t.tenant.eq_ignore_ascii_case(n)));
    }
    let format = if args.json { Format::Json } else { args.format };
    let (exo, plain) = match &imported {
        Some(i) => (Some(doorman_exo::report::judge(i, audit)), None),
        None => (None, Some(audit)),
    };
    let Some(audit) = exo.as_ref().map(|e| &e.audit).or(plain.as_ref()) else { return ExitCode::from(2) };
    match (format, &exo) {
        (Format::Text, Some(e)) => super::emit(&e.text()),
        (Format::Text, None) => {
            let min_severity = match args.severity {
                SeverityArg::Info => doorman_audit::Severity::Info,
                SeverityArg::Warning => doorman_audit::Severity::Warning,
                SeverityArg::Critical => doorman_audit::Severity::Critical,
            };
            let options =
                doorman_audit::render::TextOptions { show_refused: args.show.contains(&Shown::Refused), min_severity };
            super::emit(&doorman_audit::render::text_with(audit, options))
        }
        (Format::Json, Some(e)) => {
            super::emit(&format!("{}\n", serde_json::to_string_pretty(&e.json()).unwrap_or_default()))
        }
        (Format::Json, None) => super::emit(&format!("{}\n", serde_json::to_string_pretty(audit).unwrap_or_default())),
        (Format::Dot, _) => super::emit(&doorman_audit::render::dot::dot(audit)),
        (Format::Svg, _) => super::emit(&doorman_audit::render::svg::svg(audit)),
        (Format::Html, _) => {
            let config = args.config.as_ref().map(|p| p.display().to_string());
            let import: Option<Vec<String>> = args.exo.as_ref().map(|dir| {
                let mut words = vec![dir.display().to_string()];
                for host in &args.mx {
                    words.extend(["--mx".to_string(), host.clone()]);
                }
                if let Some(server) = args.dns_server {
                    words.extend(["--dns-server".to_string(), server.to_string()]);
                }
                words
            });
            let powershell = |t: &doorman_audit::TenantAudit| {
                doorman_exo::powershell::script(&t.tenant, &doorman_exo::powershell::fix(t))
            };
            let generator = concat!("doorman ", env!("CARGO_PKG_VERSION"));
            let options = doorman_audit::render::html::HtmlOptions {
                config: config.as_deref(),
                import: import.as_deref(),
                powershell: &powershell,
                generator,
            };
            super::emit(&doorman_audit::render::html::html(audit, &options))
        }
    }
    match audit.outcome() {
        Outcome::Clean => ExitCode::SUCCESS,
        Outcome::Findings => ExitCode::from(1),
        Outcome::Incomplete => ExitCode::from(3),
    }
}
