//! The audit for people: [`text`] for a terminal, [`dot`] and [`svg`] for the mail-flow
//! picture ([`picture`] decides what it shows), [`html`] for a report to keep and share.

pub mod dot;
pub mod html;
pub mod picture;
pub mod svg;
mod text;

pub use text::{TextOptions, text, text_with};

use crate::{Finding, FindingCode, Severity, TenantAudit};

/// A tenant's findings counted by severity: info, warning, critical. Incomplete input is
/// counted with the rest: it is a warning.
pub fn counts(t: &TenantAudit) -> [usize; 3] {
    let mut n = [0; 3];
    for f in &t.findings {
        n[f.severity as usize] += 1;
    }
    n
}

/// The finding a summary names for a tenant: one of the most severe, above info.
pub fn top_finding(t: &TenantAudit) -> Option<&Finding> {
    t.findings.iter().filter(|f| f.severity > Severity::Info).max_by_key(|f| f.severity)
}

/// Whether a report lists the finding among the tenant's findings: incomplete input is
/// listed with what is missing and how to complete it instead.
pub(crate) fn listed(f: &Finding, min: Severity) -> bool {
    f.code != FindingCode::InputIncomplete && f.severity >= min
}

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

/// At most `max` characters, an ellipsis marking the cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}
