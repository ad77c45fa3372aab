//! Plain-text rendering of decisions for people: one table per trace, steps numbered, checks
//! that a refusal cut short listed as not reached.

use std::fmt::Write;

use crate::session::{ClientCertificate, Session};
use crate::stage::data::{Disposition, TenantCopy};
use crate::trace::{Check, Outcome, Trace};
use crate::transaction::Evaluation;

/// A trace as a table. With `order`, checks of that list missing from the trace (because an
/// earlier one refused) are shown as not reached.
pub fn trace_table(trace: &Trace, order: Option<&[Check]>, indent: &str) -> String {
    let mut rows: Vec<(String, &str, String)> =
        trace.steps.iter().map(|s| (s.check.name().to_string(), s.outcome.name(), s.detail.clone())).collect();
    if let Some(order) = order
        && matches!(trace.last().map(|s| s.outcome), Some(Outcome::Reject | Outcome::Defer))
    {
        let seen: Vec<Check> = trace.steps.iter().map(|s| s.check).collect();
        for c in order.iter().filter(|c| !seen.contains(c)) {
            rows.push((c.name().to_string(), "-", "not reached".to_string()));
        }
    }
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max("check".len());
    let mut out = String::new();
    let _ = writeln!(out, "{indent} #  {:<w$}  {:<8}  detail", "check", "result");
    for (i, (check, outcome, detail)) in rows.iter().enumerate() {
        let _ = writeln!(out, "{indent}{:>2}  {check:<w$}  {outcome:<8}  {detail}", i + 1);
    }
    out
}

pub fn describe_session(s: &Session) -> String {
    let tls = match &s.tls {
        None => "no TLS".to_string(),
        Some(t) => {
            let cert = match &t.client_certificate {
                ClientCertificate::None => "no client certificate".to_string(),
                ClientCertificate::Unverified => "an unverified client certificate".to_string(),
                ClientCertificate::Verified { names } => {
                    format!("verified client certificate {}", names.join(", "))
                }
            };
            format!("{} {}, {cert}", t.version, t.cipher)
        }
    };
    let helo = s.helo.as_deref().unwrap_or("(none)");
    format!("client {}, {tls}, HELO {helo}", s.client_ip)
}

/// The whole of `doorman explain`'s text output.
pub fn evaluation(e: &Evaluation) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "session  {}", describe_session(&e.session));
    let _ = writeln!(out, "connect  {}", e.connect.reply);
    if !e.connect.is_accepted() {
        out.push_str(&trace_table(&e.connect.trace, None, "  "));
    }
    if let Some(h) = &e.helo {
        let _ = writeln!(out, "EHLO     {}", h.reply);
        if !h.is_accepted() {
            out.push_str(&trace_table(&h.trace, None, "  "));
        }
    }
    if let Some(m) = &e.mail {
        let _ = writeln!(out, "MAIL     {}", m.reply);
        if !m.reply.is_positive() {
            out.push_str(&trace_table(&m.trace, None, "  "));
        }
    }
    for report in &e.recipients {
        let tenant = report.tenant.as_deref().unwrap_or("none");
        let r = &report.decision;
        let _ = writeln!(out, "\nRCPT TO:<{}>  →  {}", r.recipient.trim_matches(['<', '>']), r.reply);
        let connector = r.connector.as_ref().map_or("none".to_string(), |c| format!("{:?}", c.name));
        let _ = writeln!(out, "  tenant {tenant}, connector {connector}");
        out.push_str(&trace_table(&r.trace, Some(&Check::RCPT_ORDER), "  "));
    }
    if let Some(d) = &e.data {
        match &d.reply {
            Some(reply) if d.is_message_refused() => {
                let _ = writeln!(out, "\nDATA     {reply}");
            }
            _ => out.push_str("\nDATA     message checks\n"),
        }
        out.push_str(&trace_table(&d.trace, Some(&Check::MESSAGE_ORDER), "  "));
        for c in &d.copies {
            out.push('\n');
            out.push_str(&copy(c));
        }
        if let Some(reply) = d.reply.as_ref().filter(|_| !d.is_message_refused()) {
            let _ = writeln!(out, "\nDATA     {reply}");
        }
    }
    let v = &e.verdict;
    let total = v.accepted.len() + v.rejected.len();
    let _ = writeln!(
        out,
        "\nverdict  {}",
        if v.all_accepted {
            format!("all {total} recipient(s) accepted")
        } else {
            format!("{} of {total} recipient(s) refused: {}", v.rejected.len(), v.rejected.join(", "))
        }
    );
    out
}

fn copy(c: &TenantCopy) -> String {
    let mut out = String::new();
    let rcpts: Vec<String> = c.recipients.iter().map(|m| m.to_string()).collect();
    let scl = c.scl.map_or("none".to_string(), |s| s.to_string());
    let disposition = match &c.disposition {
        Disposition::Reject { reply } => format!("reject ({reply})"),
        d => d.name().to_string(),
    };
    let _ = writeln!(out, "DATA for tenant {} ({}): {disposition}, SCL {scl}", c.tenant, rcpts.join(", "));
    for h in &c.set_headers {
        let _ = writeln!(out, "  {}: {}", h.name, h.value);
    }
    if let Some(p) = &c.subject_prefix {
        let _ = writeln!(out, "  Subject prefix: {p:?}");
    }
    out.push_str(&trace_table(&c.trace, None, "  "));
    out
}
