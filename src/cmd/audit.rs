//! `doorman audit`: every class of sender, every path to a mailbox, every side door and its fix.

use std::path::PathBuf;
use std::process::ExitCode;

use doorman_policy::Policy;

/// Find every side door: which senders reach each tenant's mailboxes without passing its MX.
///
/// Exit status: 0 when every tenant is locked and nothing needs attention, 1 when there are
/// findings, 2 for a usage or config error.
#[derive(clap::Args)]
pub struct Args {
    /// The config file; the built-in example (examples/contoso.toml) when omitted.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Print the JSON report (schema doorman.audit/1, docs/audit-json.md); the same as --format json.
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
    let loaded = match super::load(args.config.as_ref()) {
        Ok(l) => l,
        Err(diags) => {
            eprintln!("{diags}");
            return ExitCode::from(2);
        }
    };
    let audit = doorman_audit::audit(&Policy::new(loaded.config));
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
