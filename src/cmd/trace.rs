//! `doorman trace`: search the message tracking log.

use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use doorman_tracking::{Filter, Record, render_table};

/// Print the tracking log lines that match every filter given, as a table or as JSON lines.
///
/// Exit status: 0 when lines matched, 1 when none did, 2 for a usage error or an unreadable log.
#[derive(clap::Args)]
pub struct Args {
    /// The tracking log (server.tracking_log), e.g. var/log/tracking.jsonl.
    log: PathBuf,
    /// Only lines this recent (10m, 2h, 1d) or since this UTC time (2026-11-28T03:00).
    #[arg(long)]
    since: Option<String>,
    #[arg(long)]
    client_ip: Option<IpAddr>,
    #[arg(long)]
    tenant: Option<String>,
    /// connect, reject, receive, deliver, defer, fail, drop, quarantine, dsn, or an
    /// administrator's admin_remove, admin_release, admin_delete or admin_retry.
    #[arg(long)]
    event: Option<String>,
    /// A recipient address, or @domain for all of a domain's.
    #[arg(long)]
    rcpt: Option<String>,
    /// Print the matching lines as they are (JSON lines).
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> ExitCode {
    let filter = match build_filter(&args) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("doorman trace: {e}");
            return ExitCode::from(2);
        }
    };
    let file = match std::fs::File::open(&args.log) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("doorman trace: {}: {e}", args.log.display());
            return ExitCode::from(2);
        }
    };
    let mut matched: Vec<Record> = Vec::new();
    let mut raw = String::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("doorman trace: {}:{}: {e}", args.log.display(), n + 1);
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
            Err(e) => eprintln!("doorman trace: {}:{}: skipped, not a tracking line: {e}", args.log.display(), n + 1),
        }
    }
    if args.json {
        super::emit(&raw);
    } else {
        super::emit(&render_table(&matched));
    }
    if matched.is_empty() { ExitCode::from(1) } else { ExitCode::SUCCESS }
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
