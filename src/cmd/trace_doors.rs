//! `doorman trace --config F FILE...` (or `--exo EXPORT`): message traces read, each message labelled with its
//! door, filtered, and shown as a table and a summary per tenant, or as JSON lines.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use doorman_msgtrace::label::{Door, Labelled, label};
use doorman_msgtrace::read::{Message, decode, read, utc};
use doorman_msgtrace::summary::summarize;
use doorman_policy::Policy;
use serde::Serialize;

use super::trace::DoorArgs;

#[derive(Serialize)]
struct Line<'a> {
    file: String,
    #[serde(flatten)]
    message: &'a Message,
    #[serde(flatten)]
    label: &'a Labelled,
}

/// `inputs`: each message trace's name and text (or why it could not be read).
pub fn run(args: &DoorArgs<'_>, inputs: Vec<(String, Result<String, String>)>, policy: &Policy) -> ExitCode {
    let door = match args.door.map(parse_door).transpose() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("doorman trace: {e}");
            return ExitCode::from(2);
        }
    };
    let since = match args.since.map(since_time).transpose() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("doorman trace: {e}");
            return ExitCode::from(2);
        }
    };
    let until = match args
        .until
        .map(|s| utc(s).ok_or(format!("--until {s:?} is not a UTC time such as 2026-11-28T03:00")))
        .transpose()
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("doorman trace: {e}");
            return ExitCode::from(2);
        }
    };
    let mut rows: Vec<(String, Message, Labelled)> = Vec::new();
    let mut malformed = 0;
    for (name, text) in inputs {
        let trace = match text.and_then(|t| read(&t).map_err(|e| e.to_string())) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("doorman trace: {name}: {e}");
                return ExitCode::from(2);
            }
        };
        for m in &trace.malformed {
            eprintln!("doorman trace: {name}:{}: skipped: {}", m.line, m.why);
        }
        malformed += trace.malformed.len();
        for m in trace.messages {
            let l = label(policy, &m);
            rows.push((format!("{name}:{}", m.line), m, l));
        }
    }
    let matches = |m: &Message, l: &Labelled| {
        door.is_none_or(|d| l.door == d)
            && args.sender.is_none_or(|s| address_matches(&m.sender, s))
            && args.rcpt.is_none_or(|r| m.recipients.iter().any(|x| address_matches(x, r)))
            && args.message_id.is_none_or(|id| {
                m.message_id.as_deref().is_some_and(|x| x.trim_matches(['<', '>']) == id.trim_matches(['<', '>']))
            })
            && args.status.is_none_or(|st| {
                m.status.as_deref().is_some_and(|x| x.to_ascii_lowercase().contains(&st.to_ascii_lowercase()))
            })
            && since.as_deref().is_none_or(|s| m.received.as_deref().is_some_and(|r| r >= s))
            && until.as_deref().is_none_or(|u| m.received.as_deref().is_some_and(|r| r < u))
            && args.tenant.is_none_or(|t| l.tenant.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(t)))
            && args.client_ip.is_none_or(|ip| m.client_ip == Some(ip))
    };
    if rows.is_empty() && malformed > 0 {
        eprintln!("doorman trace: no row could be read ({malformed} malformed)");
        return ExitCode::from(2);
    }
    rows.retain(|(_, m, l)| matches(m, l));
    let side = rows.iter().filter(|(_, _, l)| l.door == Door::Side).count();
    if args.json {
        let mut out = String::new();
        for (at, m, l) in &rows {
            out += &serde_json::to_string(&Line { file: at.clone(), message: m, label: l }).unwrap_or_default();
            out.push('\n');
        }
        super::emit(&out);
    } else {
        super::emit(&render(&rows, malformed));
    }
    if side > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// `--since`: an age (`10m`, `2h`, `1d`), as for the tracking log, or a UTC time.
fn since_time(s: &str) -> Result<String, String> {
    if s.trim().ends_with(|c: char| c.is_ascii_alphabetic())
        && let Ok(age) = doorman_config::parse_duration(s)
    {
        let then = std::time::SystemTime::now().checked_sub(age).unwrap_or(std::time::UNIX_EPOCH);
        return utc(&doorman_tracking::time::rfc3339(then)).ok_or_else(|| format!("--since {s:?}: out of range"));
    }
    utc(s).ok_or(format!("--since {s:?} is not an age (10m, 2h, 1d) or a UTC time such as 2026-11-28T03:00"))
}

pub fn read_input(path: &PathBuf) -> Result<String, String> {
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    } else {
        bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    }
    decode(&bytes)
}

fn parse_door(s: &str) -> Result<Door, String> {
    match s.to_ascii_lowercase().as_str() {
        "front" => Ok(Door::Front),
        "side" => Ok(Door::Side),
        "internal" => Ok(Door::Internal),
        "unknown" => Ok(Door::Unknown),
        _ => Err(format!("--door {s:?}: give front, side, internal or unknown")),
    }
}

/// An address, or `@domain` for any of a domain's.
fn address_matches(address: &str, want: &str) -> bool {
    match want.strip_prefix('@') {
        Some(domain) => address.rsplit_once('@').is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain)),
        None => address.eq_ignore_ascii_case(want),
    }
}

/// A table that fits 120 columns, then the summary per tenant.
fn render(rows: &[(String, Message, Labelled)], malformed: usize) -> String {
    let cut = |s: &str, n: usize| {
        if s.chars().count() > n { format!("{}…", s.chars().take(n - 1).collect::<String>()) } else { s.to_string() }
    };
    let mut out = format!(
        "{:<20}  {:<10}  {:<10}  {:<15}  {:<26}  {:<26}\n",
        "RECEIVED (UTC)", "DOOR", "TENANT", "CLIENT", "SENDER", "RECIPIENT"
    );
    for (_, m, l) in rows {
        out += &format!(
            "{:<20}  {:<10}  {:<10}  {:<15}  {:<26}  {:<26}\n",
            m.received.as_deref().unwrap_or("-"),
            l.door.label(),
            cut(l.tenant.as_deref().unwrap_or("-"), 10),
            cut(&m.client_ip.map(|i| i.to_string()).unwrap_or_else(|| "-".into()), 15),
            cut(&m.sender, 26),
            cut(&m.recipients.join(", "), 26)
        );
    }
    out += &format!("\n{} message(s)", rows.len());
    if malformed > 0 {
        out += &format!(", {malformed} row(s) skipped as malformed (listed on stderr)");
    }
    out += "\n";
    for s in summarize(rows.iter().map(|(at, m, l)| (at.as_str(), m, l))) {
        let doors: Vec<String> = s.doors.iter().map(|(d, n)| format!("{n} {}", d.label())).collect();
        out += &format!("\n{}: {}\n", s.tenant, doors.join(", "));
        if !s.side_networks.is_empty() {
            let nets: Vec<String> = s.side_networks.iter().map(|(n, c)| format!("{n} ({c})")).collect();
            out += &format!("{}\n", cut(&format!("  side door from: {}", nets.join(", ")), 120));
            let senders: Vec<String> = s.side_senders.iter().map(|(n, c)| format!("{n} ({c})")).collect();
            out += &format!("{}\n", cut(&format!("  side door senders: {}", senders.join(", ")), 120));
        }
        for (d, example) in &s.examples {
            // The whole reason is in --json; here it is cut to the width.
            out += &format!("{}\n", cut(&format!("  e.g. {}: {example}", d.label()), 120));
        }
    }
    out.lines().map(|l| format!("{}\n", l.trim_end())).collect()
}
