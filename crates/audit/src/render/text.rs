//! The audit as a readable report.

use crate::{Audit, DispositionKind, Door, Severity};

/// Text from a config or an export on one line of a report or a comment: every control
/// character (line breaks among them) and Unicode line separator escaped as `\u{…}`, so a
/// name cannot start a line of its own (and pass for a command, a TOML key, or a verdict).
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

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
        let shown =
            |f: &&crate::Finding| f.code != crate::FindingCode::InputIncomplete && f.severity >= options.min_severity;
        for f in t.findings.iter().filter(shown) {
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
            let count = |s: Severity| t.findings.iter().filter(|f| f.severity == s).count().to_string();
            let top = t
                .findings
                .iter()
                .filter(|f| f.severity > Severity::Info)
                .max_by_key(|f| f.severity)
                .map_or("-".to_string(), |f| format!("{}: {}", f.code, shorten(&one_line(&f.message), 70)));
            [
                one_line(&t.tenant),
                t.verdict.label().to_string(),
                count(Severity::Critical),
                count(Severity::Warning),
                count(Severity::Info),
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

/// At most `max` characters, an ellipsis marking the cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max - 1).collect();
    format!("{cut}…")
}

/// `; From: header in x; with a recipient in y; depends on message content (rules "z")`.
fn extras(from: Option<&str>, with: Option<&str>, content: &[String]) -> String {
    let mut out = String::new();
    for part in [from, with].into_iter().flatten() {
        out.push_str("; ");
        out.push_str(part);
    }
    if !content.is_empty() {
        let rules: Vec<String> = content.iter().map(|r| format!("{r:?}")).collect();
        out.push_str(&format!("; depends on message content (rules {})", rules.join(", ")));
    }
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

/// The mail flow as Graphviz: internet → gateway → doorman → mailboxes, front doors in black,
/// side doors in red, as the field report draws them.
pub fn dot(audit: &Audit) -> String {
    let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"));
    let mut out = String::from(
        "digraph mailflow {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n  internet [label=\"Internet\", shape=ellipse];\n  doorman [label=\"doorman edge\"];\n",
    );
    for (i, t) in audit.tenants.iter().enumerate() {
        let mailbox = format!("mailboxes_{i}");
        let color = if t.verdict == crate::Verdict::Locked { "black" } else { "red" };
        out.push_str(&format!(
            "  {mailbox} [label={}, shape=cylinder, color={color}];\n",
            q(&format!("{}\n{}", t.tenant, t.verdict.label()))
        ));
        out.push_str(&format!("  doorman -> {mailbox};\n"));
        if t.gateway.is_empty() && t.mx.iter().any(|m| m.eq_ignore_ascii_case("self")) {
            out.push_str(&format!("  internet -> doorman [label={}];\n", q(&format!("MX of {}", t.tenant))));
        } else {
            let gw = format!("gateway_{i}");
            out.push_str(&format!(
                "  {gw} [label={}];\n  internet -> {gw} [label=\"MX\"];\n",
                q(&format!("gateway {}\n{}", t.mx.join(", "), t.gateway.join(", ")))
            ));
            let via: Vec<String> = t
                .front_doors
                .iter()
                .filter_map(|d| d.connector.clone())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let label =
                if via.is_empty() { "front door".to_string() } else { format!("front door: {}", via.join(", ")) };
            out.push_str(&format!("  {gw} -> doorman [label={}];\n", q(&label)));
        }
        for d in &t.side_doors {
            let crit = if d.critical { "\nSCL -1: spam filtering skipped" } else { "" };
            out.push_str(&format!(
                "  internet -> {mailbox} [color=red, fontcolor=red, style=bold, label={}];\n",
                q(&format!("SIDE DOOR: {}\n{}; {}{crit}", d.summary, d.sender, d.tls))
            ));
        }
    }
    out.push_str("}\n");
    out
}
