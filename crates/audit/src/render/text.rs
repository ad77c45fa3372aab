//! The audit as text, for a terminal: a summary line per tenant, then each tenant's doors,
//! findings and fixes.

use super::{extras, one_line, shorten};
use crate::{Audit, DispositionKind, Door, Severity};

/// What the text report leaves out. The JSON always holds everything.
#[derive(Clone, Copy, Debug)]
pub struct TextOptions {
    /// List the refused classes; without, each tenant says how many it leaves out.
    pub show_refused: bool,
    /// Findings below this severity are left out.
    pub min_severity: Severity,
}

impl Default for TextOptions {
    fn default() -> TextOptions {
        TextOptions { show_refused: false, min_severity: Severity::Info }
    }
}

pub fn text(audit: &Audit) -> String {
    text_with(audit, TextOptions::default())
}

/// The report: a summary line per tenant, then each tenant's doors, findings and fixes.
pub fn text_with(audit: &Audit, options: TextOptions) -> String {
    let mut out = summary(audit);
    for t in &audit.tenants {
        let on_the_data =
            t.verdict_on_the_data.map_or(String::new(), |v| format!(" (on the data given: {})", v.label()));
        out.push_str(&format!(
            "tenant {}  (MX {})  {}{on_the_data}  — {} sessions evaluated\n",
            one_line(&t.tenant),
            if t.mx.is_empty() { "unset".to_string() } else { t.mx.join(", ") },
            t.verdict.label(),
            t.evaluations
        ));
        for m in &t.missing_input {
            out.push_str(&format!(
                "  missing from the input: {}: {}\n    to complete it: {}\n",
                m.what, m.consequence, m.remedy
            ));
        }
        if let Some(why) = &t.not_audited {
            out.push_str(&format!("  not audited: {why}\n\n"));
            continue;
        }
        if !t.gateway.is_empty() {
            let how = if t.gateway_source == crate::GatewaySource::Inferred {
                " (inferred from connectors and SCL -1 rules; give mx addresses to be sure)"
            } else {
                ""
            };
            out.push_str(&format!("  gateway: {}{how}\n", t.gateway.join(", ")));
        }
        let side_door = if t.verdict_on_the_data.is_some() { "SIDE DOOR (on the data given)" } else { "SIDE DOOR" };
        for d in &t.side_doors {
            door(&mut out, side_door, d, true);
        }
        for d in &t.front_doors {
            door(&mut out, "front door", d, false);
        }
        if !options.show_refused && !t.refused.is_empty() {
            out.push_str(&format!("  {} refused class(es) not shown (--show refused lists them)\n", t.refused.len()));
        }
        for r in t.refused.iter().filter(|_| options.show_refused) {
            let when = r.dnsbl.as_ref().map_or(String::new(), |l| format!("; when {l}"));
            let stage = if r.stage == crate::report::RefusedAt::Data { " after DATA" } else { "" };
            out.push_str(&format!(
                "  refused{stage}: {} from {}; {}; {}{}{when} → {}\n",
                r.domain,
                r.summary,
                r.tls,
                r.sender,
                extras(r.from.as_deref(), r.with.as_deref(), &r.content),
                r.reply
            ));
        }
        for d in &t.deleted {
            out.push_str(&format!(
                "  deleted: {} from {}; {}; {}{} (rules {})\n",
                d.domain,
                d.summary,
                d.tls,
                d.sender,
                extras(d.from.as_deref(), d.with.as_deref(), &d.content),
                d.rules.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>().join(", ")
            ));
        }
        // Incomplete input is listed above, with how to complete it.
        for f in t.findings.iter().filter(|f| super::listed(f, options.min_severity)) {
            let sev = match f.severity {
                Severity::Info => "info",
                Severity::Warning => "WARNING",
                Severity::Critical => "CRITICAL",
            };
            out.push_str(&format!("  {sev}: {} [{}]\n", f.message, f.code));
        }
        for fix in &t.fixes {
            out.push_str(&format!("  FIX: {}\n", fix.title));
            for line in fix.toml.lines() {
                out.push_str(&format!("      {line}\n"));
            }
        }
        out.push('\n');
    }
    out
}

/// One line per tenant: its verdict, its findings counted by severity, and the most severe.
fn summary(audit: &Audit) -> String {
    let headers = ["TENANT", "VERDICT", "CRITICAL", "WARNING", "INFO", "TOP FINDING"];
    let rows: Vec<[String; 6]> = audit
        .tenants
        .iter()
        .map(|t| {
            let counts = super::counts(t);
            let top = super::top_finding(t)
                .map_or("-".to_string(), |f| format!("{}: {}", f.code, shorten(&one_line(&f.message), 70)));
            [
                one_line(&t.tenant),
                t.verdict.label().to_string(),
                counts[2].to_string(),
                counts[1].to_string(),
                counts[0].to_string(),
                top,
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    };
    line(headers.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
    out.push('\n');
    out
}

fn door(out: &mut String, kind: &str, d: &Door, with_example: bool) {
    let via = d.connector.as_deref().map_or("no connector".to_string(), |c| format!("connector {c:?}"));
    let scl = d.scl.map_or(String::new(), |s| format!(", SCL {s}"));
    let disposition = match d.disposition {
        DispositionKind::Deliver => String::new(),
        DispositionKind::Quarantine => ", held in quarantine (an administrator can release it)".to_string(),
        other => format!(", {}", other.name()),
    };
    let crit = if d.critical { "  ← spam filtering skipped too" } else { "" };
    out.push_str(&format!("  {kind}: {} from {}\n", d.domain, d.summary));
    out.push_str(&format!(
        "      {}; {}{}; {via}{scl}{disposition}{crit}\n",
        d.tls,
        d.sender,
        extras(d.from.as_deref(), d.with.as_deref(), &d.content)
    ));
    if let (true, Some(e)) = (with_example, &d.example) {
        let rcpts: Vec<String> = e.recipients.iter().map(|r| format!("RCPT TO:<{}>", r.decision.recipient)).collect();
        out.push_str(&format!(
            "      example: {} MAIL FROM:{} {}\n",
            doorman_policy::render::describe_session(&e.session),
            e.mail
                .as_ref()
                .and_then(|m| m.sender.as_ref())
                .map_or("<>".to_string(), |s| format!("<{s}>").replace("<<>>", "<>")),
            rcpts.join(" ")
        ));
        if let Some(r) = e.recipients.first() {
            out.push_str(&doorman_policy::render::trace_table(&r.decision.trace, None, "      "));
        }
    }
}
