//! Diagnostics that name the file, line, column and key path, and the locator that finds a
//! key path's position in the TOML source.
//!
//! Checks speak in key paths (`tenants[0].inbound_connectors[1].name`) because that is what
//! they know; the locator turns a path into a position once, at the end, from one parse of
//! the source with spans.

use std::fmt;
use std::ops::Range;

use serde::Serialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    /// 1-based; absent when the problem is the file as a whole (it cannot be read).
    pub line: Option<usize>,
    /// 1-based, in characters.
    pub column: Option<usize>,
    /// The key path, e.g. `tenants[0].inbound_connectors[1].sender_ip_addresses[2]`.
    pub key: Option<String>,
    pub message: String,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// `file:line:col: key: message`, and `file:line:col: warning: key: message`.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let (Some(line), Some(col)) = (self.line, self.column) {
            write!(f, ":{line}:{col}")?;
        }
        f.write_str(": ")?;
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// A config that did not load: every error, and the warnings found with them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// A problem found by a check, before it is located in the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub key: String,
    pub message: String,
}

impl Finding {
    pub fn error(key: impl Into<String>, message: impl Into<String>) -> Finding {
        Finding { severity: Severity::Error, key: key.into(), message: message.into() }
    }
    pub fn warning(key: impl Into<String>, message: impl Into<String>) -> Finding {
        Finding { severity: Severity::Warning, key: key.into(), message: message.into() }
    }
}

/// Maps byte offsets and key paths of one TOML source to lines and columns.
pub struct Locator<'a> {
    file: &'a str,
    text: &'a str,
    root: Option<Spanned<DeTable<'a>>>,
    /// Where each line starts: a config with 10,000 tenants can have 10,000 findings, and
    /// counting lines from the top for each would take seconds.
    line_starts: Vec<usize>,
}

impl<'a> Locator<'a> {
    pub fn new(file: &'a str, text: &'a str, root: Option<Spanned<DeTable<'a>>>) -> Self {
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        Locator { file, text, root, line_starts }
    }

    /// 1-based line and character column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let start = self.line_starts[line - 1];
        (line, self.text[start..offset].chars().count() + 1)
    }

    pub fn diagnostic(
        &self,
        severity: Severity,
        span: Option<Range<usize>>,
        key: Option<String>,
        message: String,
    ) -> Diagnostic {
        let (line, column) = match span {
            Some(s) => {
                let (l, c) = self.line_col(s.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        Diagnostic { severity, file: self.file.to_string(), line, column, key, message }
    }

    pub fn locate_finding(&self, f: Finding) -> Diagnostic {
        let span = self.span_of(&f.key);
        self.diagnostic(f.severity, span, Some(f.key), f.message)
    }

    /// The span of the deepest node on `path` that exists in the source (a default value has
    /// no node, so its nearest written ancestor is shown).
    pub fn span_of(&self, path: &str) -> Option<Range<usize>> {
        let root = self.root.as_ref()?;
        let mut best = None;
        let mut table: Option<&DeTable> = Some(root.get_ref());
        let mut array: Option<&[Spanned<DeValue>]> = None;
        for seg in parse_path(path) {
            let node = match (seg, table, array) {
                (Segment::Key(k), Some(t), _) => t.iter().find(|(key, _)| key.get_ref().as_ref() == k).map(|(_, v)| v),
                (Segment::Index(i), _, Some(a)) => a.get(i),
                _ => None,
            };
            let Some(node) = node else { break };
            best = Some(node.span());
            (table, array) = match node.get_ref() {
                DeValue::Table(t) => (Some(t), None),
                DeValue::Array(a) => (None, Some(a.as_ref())),
                _ => (None, None),
            };
        }
        best
    }
}

/// What names the top of a file in a diagnostic, where no table or key has begun.
pub const TOP_LEVEL: &str = "(top level)";

impl Locator<'_> {
    /// The key path a syntax error at `offset` is in, read from the text: TOML that does not
    /// parse has no tree to ask. The table of the last header before it (arrays of tables
    /// counted, so `tenants[1].inbound_connectors[0]`), then the last key begun in that table
    /// up to the error's line: the key whose value runs onto it, or is on it.
    pub fn key_at(&self, offset: usize) -> String {
        let (line, _) = self.line_col(offset);
        let mut table = String::new();
        let mut key: Option<String> = None;
        let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        // Brackets a value left open: the lines up to its close are the value's, not headers.
        let mut open = 0usize;
        for text in self.text.split('\n').take(line) {
            let t = text.trim();
            if open > 0 {
                open = nesting(open, t);
            } else if let Some(header) = t.strip_prefix("[[").and_then(|h| h.split("]]").next()) {
                let (parent, last) = split_last(&dotted(header));
                let at = resolve(&parent, &counts);
                let array = join(&at, &last);
                let n = counts.entry(array.clone()).or_insert(0);
                table = format!("{array}[{n}]");
                *n += 1;
                counts.retain(|k, _| !k.starts_with(&format!("{table}.")));
                key = None;
            } else if let Some(header) = t.strip_prefix('[').and_then(|h| h.split(']').next()) {
                table = resolve(&dotted(header), &counts);
                key = None;
            } else if let Some((k, _)) = t.split_once('=')
                && !k.trim().is_empty()
                && (k.trim().starts_with(['"', '\'']) || !k.contains(['"', '\'', '[', '{', ',']))
            {
                key = Some(dotted(k).join("."));
                open = nesting(0, &t[k.len() + 1..]);
            }
        }
        match (table.is_empty(), key) {
            (true, None) => TOP_LEVEL.to_string(),
            (true, Some(k)) => k,
            (false, None) => table,
            (false, Some(k)) => format!("{table}.{k}"),
        }
    }
}

/// How many brackets are open after `line`, `open` before it: quoted text and comments left out.
fn nesting(mut open: usize, line: &str) -> usize {
    let mut quote = None;
    let mut escaped = false;
    for c in line.chars() {
        match (quote, c) {
            (Some('"'), '\\') if !escaped => {
                escaped = true;
                continue;
            }
            (Some(q), c) if c == q && !escaped => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') => break,
            (None, '[' | '{') => open += 1,
            (None, ']' | '}') => open = open.saturating_sub(1),
            _ => {}
        }
        escaped = false;
    }
    open
}

/// `a . "b.c" . d` → `a`, `b.c`, `d`.
fn dotted(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut part = String::new();
    let mut quote = None;
    for c in s.chars() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '.') => out.push(std::mem::take(&mut part).trim().to_string()),
            (_, c) => part.push(c),
        }
    }
    out.push(part.trim().to_string());
    out.into_iter().map(|p| written(&p)).collect()
}

/// A key as a path shows it: bare when TOML allows it bare, else quoted (`""` too).
fn written(key: &str) -> String {
    if !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

fn split_last(parts: &[String]) -> (Vec<String>, String) {
    match parts.split_last() {
        Some((last, parent)) => (parent.to_vec(), last.clone()),
        None => (Vec::new(), String::new()),
    }
}

fn join(table: &str, key: &str) -> String {
    if table.is_empty() { key.to_string() } else { format!("{table}.{key}") }
}

/// A header's table path, each array of tables at its latest element.
fn resolve(parts: &[String], counts: &std::collections::HashMap<String, usize>) -> String {
    let mut path = String::new();
    for p in parts {
        path = join(&path, p);
        if let Some(n) = counts.get(&path) {
            path = format!("{path}[{}]", n.saturating_sub(1));
        }
    }
    path
}

pub(crate) enum Segment<'p> {
    Key(&'p str),
    Index(usize),
}

/// `a.b[0].c` → `a`, `b`, `0`, `c`.
pub(crate) fn parse_path(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            out.push(Segment::Key(key));
        }
        while let Some((idx, tail)) = rest.split_once(']') {
            if let Ok(i) = idx.parse() {
                out.push(Segment::Index(i));
            }
            rest = tail.strip_prefix('[').unwrap_or(tail);
        }
    }
    out
}
