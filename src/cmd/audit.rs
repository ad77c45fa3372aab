//! `doorman audit`: every class of sender, every path to a mailbox, every side door and its fix.

use std::path::PathBuf;
use std::process::ExitCode;

use doorman_policy::Policy;

/// Find every side door: which senders reach each tenant's mailboxes without passing its MX.
///
/// Exit status: 0 when every tenant is locked and nothing needs attention, 1 when there are
/// findings (a tenant not audited among them), 2 for a usage or config error, or when a
/// tenant's audit fails.
#[derive(clap::Args)]
pub struct Args {
    /// The config file; the built-in example (examples/contoso.toml) when omitted.
    #[arg(long, conflicts_with = "exo")]
    config: Option<PathBuf>,
    /// Audit an Exchange Online export folder instead (scripts/export-exo.ps1), and print the
    /// PowerShell that closes what is found.
    #[arg(long)]
    exo: Option<PathBuf>,
    /// With --exo: the tenant's MX host(s); looked up in DNS when omitted.
    #[arg(long, requires = "exo")]
    mx: Vec<String>,
    /// With --exo: the name server for the MX lookup (`ip:port`).
    #[arg(long, requires = "exo")]
    dns_server: Option<std::net::SocketAddr>,
    /// Print the JSON report (schema doorman.audit/2, docs/audit-json.md); the same as --format json.
    #[arg(long)]
    json: bool,
    /// text, json, dot (Graphviz source) or svg (drawn by Graphviz's `dot`, when installed).
    #[arg(long, default_value = "text")]
    format: Format,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
    Dot,
    Svg,
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
                eprintln!("{diags}");
                return ExitCode::from(2);
            }
        },
    };
    let audit = match doorman_audit::audit(&Policy::new(loaded.config)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("doorman audit: {e}");
            return ExitCode::from(2);
        }
    };
    // With an import, the notes come first: what Exchange Online does differently.
    if let (Some(imported), Format::Text, false) = (&imported, args.format, args.json) {
        let notes: String = super::import::with_notes(imported)
            .lines()
            .take_while(|l| l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        super::emit(&notes);
    }
    let format = if args.json { Format::Json } else { args.format };
    match format {
        Format::Text => super::emit(&doorman_audit::render::text(&audit)),
        Format::Json => super::emit(&format!("{}\n", serde_json::to_string_pretty(&audit).unwrap_or_default())),
        Format::Dot => super::emit(&doorman_audit::render::dot(&audit)),
        Format::Svg => match svg(&doorman_audit::render::dot(&audit)) {
            Ok(svg) => super::emit(&svg),
            Err(e) => {
                eprintln!("doorman audit: {e}");
                return ExitCode::from(2);
            }
        },
    }
    if let (Some(_), Format::Text, false) = (&imported, args.format, args.json) {
        for t in &audit.tenants {
            let scl_rules: Vec<String> = t
                .findings
                .iter()
                .filter(|f| f.code == "scl_bypass_by_sender_domain")
                .filter_map(|f| f.subject.clone())
                .collect();
            super::emit(&format!(
                "PowerShell:\n{}",
                doorman_exo::powershell::fix(&doorman_exo::powershell::Findings {
                    tenant: &t.tenant,
                    side_door: !t.side_doors.is_empty(),
                    gateway: &t.gateway,
                    gateway_certificate: t.gateway_certificate.as_deref(),
                    direct_send_open: t.findings.iter().any(|f| f.code == "direct_send_open"),
                    scl_rules_on_sender_domain: &scl_rules,
                })
            ));
        }
    }
    if audit.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// Draws the graph with Graphviz's `dot`.
fn svg(source: &str) -> Result<String, String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child =
        Command::new("dot").arg("-Tsvg").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().map_err(|e| {
            format!(
                "--format svg needs Graphviz's `dot` ({e}); install it (apt-get install graphviz), or use --format dot"
            )
        })?;
    child.stdin.take().ok_or("dot has no stdin")?.write_all(source.as_bytes()).map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("dot failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    String::from_utf8(out.stdout).map_err(|e| e.to_string())
}
