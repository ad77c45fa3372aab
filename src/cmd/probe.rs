//! `doorman probe`: a domain seen from outside. DNS for the signs of a cloud tenant behind
//! the MX, then SMTP up to RCPT TO (never DATA) at each tenant host the MX does not name.

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use doorman_exo::powershell::{self, Command as PsCommand, CommandJson};
use doorman_probe::conversation::{SenderClass, Settings};
use doorman_probe::reply::Meaning;
use doorman_probe::run::{DomainReport, Options, Prober};
use doorman_probe::verdict::Verdict;
use serde::Serialize;

/// Probe domains for side doors, from outside, as a stranger would.
///
/// For each domain: its MX, and the DNS signs of a cloud tenant (Exchange Online, Google
/// Workspace). Then each tenant host the MX does not name gets one SMTP conversation: EHLO,
/// STARTTLS when offered, and MAIL and RCPT as an outside sender, as the domain itself
/// (direct send) and as <>, each followed by RSET. Never DATA.
///
/// Verdict per domain: SIDE DOOR OPEN, CLOSED, NO CLOUD TENANT or INCONCLUSIVE (a timeout, a
/// refused connection or a blocked probe is never "closed"). Exit status: 0 when every domain
/// is closed or has no cloud tenant, 1 when a side door is open, 2 when any is inconclusive
/// (and none open), 64 for a usage error, 65 when --file cannot be read.
#[derive(clap::Args)]
pub struct Args {
    /// The domains to probe.
    domains: Vec<String>,
    /// A file of domains, one per line (`#` starts a comment), for bulk runs.
    #[arg(long)]
    file: Option<PathBuf>,
    /// JSON (schema in docs/probe-json.md) instead of the report.
    #[arg(long)]
    json: bool,
    /// Name servers to ask, as IP:PORT; the system's when not given.
    #[arg(long = "dns-server")]
    dns_servers: Vec<SocketAddr>,
    /// The port to probe tenant hosts on.
    #[arg(long, default_value_t = 25)]
    smtp_port: u16,
    /// The recipient to ask for; postmaster@DOMAIN when not given.
    #[arg(long)]
    rcpt: Option<String>,
    /// The gateway's networks (repeat for each): a probe from inside them is warned about,
    /// and the printed fix restricts the tenant to them.
    #[arg(long)]
    gateway: Vec<ipnet::IpNet>,
    /// The address to probe from.
    #[arg(long)]
    source: Option<IpAddr>,
    /// The limit for each DNS question, connection, TLS handshake and reply.
    #[arg(long, default_value = "10s", value_parser = duration)]
    timeout: Duration,
    /// The least time between two conversations with the same address.
    #[arg(long, default_value = "2s", value_parser = duration)]
    delay: Duration,
    /// The name the probe gives in EHLO.
    #[arg(long, default_value = "probe.doorman.invalid")]
    helo: String,
    /// The outside sender's address. A host that refuses it at MAIL answers nothing about
    /// the door (inconclusive): give one at a domain of yours.
    #[arg(long, default_value = "doorman-probe@probe.invalid")]
    mail_from: String,
}

fn duration(s: &str) -> Result<Duration, String> {
    doorman_config::parse_duration(s).map_err(|e| e.to_string())
}

/// The usage-error status (sysexits' EX_USAGE).
pub const USAGE: u8 = 64;

pub fn run(args: Args) -> ExitCode {
    let mut domains = args.domains.clone();
    if let Some(file) = &args.file {
        match std::fs::read_to_string(file) {
            Ok(text) => domains.extend(
                text.lines()
                    .map(|l| l.split('#').next().unwrap_or("").trim())
                    .filter(|l| !l.is_empty())
                    .map(String::from),
            ),
            Err(e) => {
                eprintln!("doorman probe: {}: {e}", file.display());
                return ExitCode::from(65);
            }
        }
    }
    if domains.is_empty() {
        eprintln!("doorman probe: no domain given (name some, or give --file)");
        return ExitCode::from(USAGE);
    }
    let dns = doorman_config::Dns { servers: args.dns_servers.clone(), timeout: doorman_config::Seconds(args.timeout) };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("doorman probe: cannot start: {e}");
            return ExitCode::from(70);
        }
    };
    let resolver = match runtime.block_on(async { doorman_dns::resolver(&dns) }) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("doorman probe: {e}");
            return ExitCode::from(USAGE);
        }
    };
    let options = Options {
        smtp: Settings {
            helo: args.helo.clone(),
            mail_from: args.mail_from.clone(),
            port: args.smtp_port,
            source: args.source,
            timeout: args.timeout,
        },
        dns_timeout: args.timeout,
        delay: args.delay,
        rcpt: args.rcpt.clone(),
        gateways: args.gateway.clone(),
    };
    let progress = (domains.len() > 1 && std::io::stderr().is_terminal())
        .then(|| indicatif::ProgressBar::new(domains.len() as u64));
    let reports: Vec<DomainReport> = runtime.block_on(async {
        let mut prober = Prober::new(&resolver, options);
        let mut out = Vec::new();
        for d in &domains {
            if let Some(p) = &progress {
                p.set_message(d.clone());
            }
            out.push(prober.domain(d).await);
            if let Some(p) = &progress {
                p.inc(1);
            }
        }
        out
    });
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    let gateways: Vec<String> = args.gateway.iter().map(|g| g.to_string()).collect();
    let fixes: Vec<Vec<PsCommand>> = reports.iter().map(|r| fix(r, &gateways)).collect();
    if args.json {
        let domains: Vec<DomainJson> = reports
            .iter()
            .zip(&fixes)
            .map(|(report, fix)| DomainJson { report, fix: fix.iter().map(PsCommand::json).collect() })
            .collect();
        let worst = worst(&reports);
        let out = ProbeJson { schema: SCHEMA, verdict: worst, domains };
        super::emit(&(serde_json::to_string_pretty(&out).unwrap_or_default() + "\n"));
    } else {
        let text: String = reports.iter().zip(&fixes).map(|(r, f)| render(r, f)).collect();
        super::emit(&text);
    }
    ExitCode::from(worst(&reports).exit_code())
}

const SCHEMA: &str = "probe/1";

#[derive(Serialize)]
struct ProbeJson<'a> {
    schema: &'static str,
    /// The worst verdict of all domains: what the exit status says.
    verdict: Verdict,
    domains: Vec<DomainJson<'a>>,
}

#[derive(Serialize)]
struct DomainJson<'a> {
    #[serde(flatten)]
    report: &'a DomainReport,
    /// Exchange Online PowerShell that closes the side door (empty unless one is open).
    fix: Vec<CommandJson<'a>>,
}

fn worst(reports: &[DomainReport]) -> Verdict {
    reports.iter().map(|r| r.verdict).max_by_key(|v| v.severity()).unwrap_or(Verdict::NoCloudTenant)
}

/// The fix, when the open door is an Exchange Online tenant host.
fn fix(r: &DomainReport, gateways: &[String]) -> Vec<PsCommand> {
    let exchange = r.dns.tenant_hosts.iter().any(|t| t.provider == "Exchange Online" && !t.named_by_mx);
    if r.verdict != Verdict::SideDoorOpen || !exchange {
        return Vec::new();
    }
    let direct_send = r
        .hosts
        .iter()
        .flat_map(|h| &h.transactions)
        .any(|t| t.sender == SenderClass::OwnDomain && t.rcpts.iter().any(|x| x.reply.meaning == Meaning::Open));
    powershell::probe_fix(gateways, direct_send)
}

fn render(r: &DomainReport, fix: &[PsCommand]) -> String {
    let mut out = format!("{}: {}\n  {}\n", r.domain, r.verdict.label(), r.reason);
    for w in &r.warnings {
        out += &format!("  WARNING: {w}\n");
    }
    out += "  DNS:\n";
    for m in &r.dns.mx {
        let addrs: Vec<String> = m.addresses.iter().map(IpAddr::to_string).collect();
        let provider = m.provider.map(|p| format!(" ({p})")).unwrap_or_default();
        out += &format!("    MX {} {} [{}]{provider}\n", m.preference, m.host, addrs.join(", "));
    }
    for s in &r.dns.signals {
        out += &format!("    {} {:?}: {} -> {}\n", s.provider, s.kind, s.name, s.answer);
    }
    for f in &r.dns.failures {
        out += &format!("    failed: {f}\n");
    }
    for h in &r.hosts {
        let from = h.source.map(|s| format!(" from {s}")).unwrap_or_default();
        out += &format!("  SMTP {} [{}]:{}{from}\n", h.host, h.address, h.port);
        if let Some(tls) = &h.tls {
            out += &format!("    {}, certificate {}\n", tls.version, tls.certificate_names.join(", "));
        }
        for line in &h.transcript {
            out += &format!("    {line}\n");
        }
        if let Some(e) = &h.error {
            out += &format!("    stopped: {e}\n");
        }
    }
    if !fix.is_empty() {
        out += "  Fix (Exchange Online PowerShell):\n";
        let script =
            powershell::script_titled(&format!("Closes the side door `doorman probe` found for {}.", r.domain), fix);
        for line in script.lines() {
            out += &format!("    {line}\n");
        }
    }
    out.push('\n');
    out
}
