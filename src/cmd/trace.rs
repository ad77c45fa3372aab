//! `doorman trace`: search the message tracking log; with `--config`, read message traces
//! (Exchange Online's exports, or the tracking log) and label each message's door.

use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use doorman_tracking::{Filter, Record, render_table};

/// Print the tracking log lines that match every filter given, as a table or as JSON lines.
///
/// With --config, FILE may also be an Exchange Online message trace (Get-MessageTrace or
/// Get-MessageTraceV2 as CSV or JSON, or an extended/enhanced summary report CSV), told apart
/// by its columns, and every message is labelled front door, side door, internal or unknown
/// by the audit's classes, with a summary per tenant.
///
/// Exit status: 0 when lines matched, 1 when none did (with --config: 1 when side-door
/// arrivals were found, else 0), 2 for a usage error or an unreadable file.
#[derive(clap::Args)]
pub struct Args {
    /// The tracking log (server.tracking_log), e.g. var/log/tracking.jsonl; with --config,
    /// message traces too. `-` reads standard input.
    #[arg(required_unless_present = "cluster")]
    files: Vec<PathBuf>,
    /// Read the whole cluster's trace instead of files: a NATS URL, or a node's config file
    /// (its [cluster] section). Each line names the node that logged it.
    #[arg(long, value_name = "URL|NODE.toml", conflicts_with = "files")]
    cluster: Option<String>,
    /// With --cluster: only this node's events.
    #[arg(long, requires = "cluster")]
    node: Option<String>,
    /// With --cluster: the policy bucket, when not the default (doorman) or the node file's.
    #[arg(long, requires = "cluster")]
    bucket: Option<String>,
    /// Label every message's door against this config.
    #[arg(long, conflicts_with = "exo", group = "labels")]
    config: Option<PathBuf>,
    /// Label every message's door against an Exchange Online export instead (as `audit --exo`).
    #[arg(long, group = "labels")]
    exo: Option<PathBuf>,
    /// With --exo: the tenant's MX host(s); looked up in DNS when omitted.
    #[arg(long, requires = "exo")]
    mx: Vec<String>,
    /// With --config: only messages through this door (front, side, internal, unknown).
    #[arg(long, requires = "labels")]
    door: Option<String>,
    /// With --config: only this sender (or @domain).
    #[arg(long, requires = "labels")]
    sender: Option<String>,
    /// With --config: only this Message-ID.
    #[arg(long, requires = "labels")]
    message_id: Option<String>,
    /// With --config: only rows with this status (Delivered, FilteredAsSpam, …).
    #[arg(long, requires = "labels")]
    status: Option<String>,
    /// With --config: only messages before this UTC time (2026-11-28T03:00).
    #[arg(long, requires = "labels")]
    until: Option<String>,
    /// Only lines this recent (10m, 2h, 1d) or since this UTC time (2026-11-28T03:00).
    #[arg(long)]
    since: Option<String>,
    /// Only lines of this client (the address after PROXY), e.g. 203.0.113.9.
    #[arg(long)]
    client_ip: Option<IpAddr>,
    /// Only lines of this tenant (its name in the config).
    #[arg(long)]
    tenant: Option<String>,
    /// connect, reject, receive, deliver, defer, fail, drop, quarantine, dsn, or an
    /// administrator's admin_remove, admin_release, admin_delete, admin_retry, admin_hold or
    /// admin_hold_release.
    #[arg(long, conflicts_with = "labels")]
    event: Option<String>,
    /// A recipient address, or @domain for all of a domain's.
    #[arg(long)]
    rcpt: Option<String>,
    /// Print the matching lines as they are (JSON lines).
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> ExitCode {
    let policy = match (&args.config, &args.exo) {
        (Some(config), _) => match doorman_config::load_file(config) {
            Ok(l) => Some(doorman_policy::Policy::new(l.config)),
            Err(d) => {
                super::print_diagnostics("trace", &d);
                return ExitCode::from(2);
            }
        },
        (None, Some(dir)) => {
            let exo = super::import::ExoArgs { dir: dir.clone(), mx: args.mx.clone(), dns_server: None };
            match super::import::load_exo(&exo) {
                Ok((_, loaded)) => Some(doorman_policy::Policy::new(loaded.config)),
                Err(e) => {
                    eprintln!("doorman trace: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        (None, None) => None,
    };
    let cluster = match args.cluster.as_ref().map(|c| read_cluster(c, &args)).transpose() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("doorman trace: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(policy) = policy {
        let inputs = match &cluster {
            Some((name, records)) => {
                let lines: String =
                    records.iter().map(|r| serde_json::to_string(r).unwrap_or_default() + "\n").collect();
                vec![(name.clone(), Ok(lines))]
            }
            None => args.files.iter().map(|p| (p.display().to_string(), super::trace_doors::read_input(p))).collect(),
        };
        return super::trace_doors::run(&args_view(&args), inputs, &policy);
    }
    let filter = match build_filter(&args) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("doorman trace: {e}");
            return ExitCode::from(2);
        }
    };
    let mut matched: Vec<Record> = Vec::new();
    let mut raw = String::new();
    for r in cluster.into_iter().flat_map(|(_, records)| records) {
        if filter.matches(&r) {
            if args.json {
                raw.push_str(&serde_json::to_string(&r).unwrap_or_default());
                raw.push('\n');
            }
            matched.push(r);
        }
    }
    for path in &args.files {
        let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
            Box::new(BufReader::new(std::io::stdin()))
        } else {
            match std::fs::File::open(path) {
                Ok(f) => Box::new(BufReader::new(f)),
                Err(e) => {
                    eprintln!("doorman trace: {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
        };
        for (n, line) in reader.lines().enumerate() {
            let line = match line {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("doorman trace: {}:{}: {e}", path.display(), n + 1);
                    continue;
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Record>(&line) {
                Ok(r) if filter.matches(&r) => {
                    if args.json {
                        raw.push_str(&line);
                        raw.push('\n');
                    }
                    matched.push(r);
                }
                Ok(_) => {}
                Err(e) => eprintln!("doorman trace: {}:{}: skipped, not a tracking line: {e}", path.display(), n + 1),
            }
        }
    }
    if args.json {
        super::emit(&raw);
    } else {
        super::emit(&render_table(&matched));
    }
    if matched.is_empty() { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// The cluster's trace, named for messages.
fn read_cluster(at: &str, args: &Args) -> Result<(String, Vec<Record>), String> {
    let settings = super::cluster::ClusterArgs { cluster: at.to_string(), bucket: args.bucket.clone(), replicas: None }
        .settings()?;
    // A week of a busy cluster's trace takes a while to read; each message has its own limit.
    let records = super::cluster::block_on_within(std::time::Duration::from_secs(3600), async {
        let conn = doorman_cluster::connect(&settings, "doorman trace").await?;
        doorman_cluster::trace::read_all(&conn, &settings, args.node.as_deref()).await
    })?
    .map_err(|e| e.to_string())?;
    Ok((format!("cluster {}", settings.url), records))
}

/// What the labelled mode needs of the arguments.
pub struct DoorArgs<'a> {
    pub json: bool,
    pub door: Option<&'a str>,
    pub sender: Option<&'a str>,
    pub rcpt: Option<&'a str>,
    pub message_id: Option<&'a str>,
    pub status: Option<&'a str>,
    pub since: Option<&'a str>,
    pub until: Option<&'a str>,
    pub tenant: Option<&'a str>,
    pub client_ip: Option<IpAddr>,
}

fn args_view(a: &Args) -> DoorArgs<'_> {
    DoorArgs {
        json: a.json,
        door: a.door.as_deref(),
        sender: a.sender.as_deref(),
        rcpt: a.rcpt.as_deref(),
        message_id: a.message_id.as_deref(),
        status: a.status.as_deref(),
        since: a.since.as_deref(),
        until: a.until.as_deref(),
        tenant: a.tenant.as_deref(),
        client_ip: a.client_ip,
    }
}

fn build_filter(args: &Args) -> Result<Filter, doorman_tracking::FilterError> {
    let mut f = Filter::default();
    if let Some(s) = &args.since {
        // An age goes through the one duration parser; anything else must be a time.
        f = match doorman_config::parse_duration(s) {
            Ok(age) if s.trim().ends_with(|c: char| c.is_ascii_alphabetic()) => f.since_age(age),
            _ => f.since_time(s)?,
        };
    }
    if let Some(ip) = args.client_ip {
        f = f.client_ip(ip);
    }
    if let Some(t) = &args.tenant {
        f = f.tenant(t);
    }
    if let Some(e) = &args.event {
        f = f.event(e)?;
    }
    if let Some(r) = &args.rcpt {
        f = f.rcpt(r);
    }
    Ok(f)
}
