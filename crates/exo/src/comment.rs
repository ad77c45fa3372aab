//! Text from the tenant inside a comment of a file doorman writes (a TOML `#` or PowerShell
//! `#` line): a line break would end the comment and turn the rest into config or code.

/// `text` with every control character (line breaks among them) and Unicode line separator
/// escaped as `\u{…}`, so it stays on one line.
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
