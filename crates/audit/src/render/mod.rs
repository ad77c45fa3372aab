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
/// So are the bidirectional controls, which would make a line read in another order than
/// it runs, and the noncharacters, which XML cannot carry.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi =
            matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
        let nonchar = matches!(c, '\u{FDD0}'..='\u{FDEF}') || (c as u32) & 0xFFFE == 0xFFFE;
        if c.is_control() || bidi || nonchar || matches!(c, '\u{2028}' | '\u{2029}') {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// `; From: header in x; with a recipient in y; depends on message content (rules "z")`.
pub(crate) fn extras(from: Option<&str>, with: Option<&str>, content: &[String]) -> String {
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

/// At most `max` characters, an ellipsis marking the cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn one_line_escapes_what_could_break_a_line_or_its_reading() {
        assert_eq!(one_line("a\nb\u{2028}c"), "a\\u{a}b\\u{2028}c");
        assert_eq!(one_line("x\u{202E}gpj.exe"), "x\\u{202e}gpj.exe");
        assert_eq!(one_line("\u{2066}y\u{2069}"), "\\u{2066}y\\u{2069}");
        assert_eq!(one_line("z\u{FFFE}\u{FFFF}\u{1FFFF}\u{FDD0}"), "z\\u{fffe}\\u{ffff}\\u{1ffff}\\u{fdd0}");
        assert_eq!(one_line("contoso é 中文 ✓"), "contoso é 中文 ✓");
    }
}
