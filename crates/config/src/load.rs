//! Reading a config: TOML syntax, then the typed schema, then the directory files, then the
//! semantic checks. Each stage reports with file, line, column and key path.

use std::path::{Path, PathBuf};

use toml::de::DeTable;

use crate::address::parse_mailbox;
use crate::check::check;
use crate::diag::{Diagnostic, Diagnostics, Finding, Locator, Severity};
use crate::model::Config;
use crate::recover::Removed;

/// A config that loaded, with the warnings it raised.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Diagnostic>,
}

/// Loads and checks a config file. `recipients_file` paths are relative to its folder.
pub fn load_file(path: impl AsRef<Path>) -> Result<Loaded, Diagnostics> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostics(vec![Diagnostic {
            severity: Severity::Error,
            file: name.clone(),
            line: None,
            column: None,
            key: None,
            message: format!("cannot read the file: {e}"),
        }])
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    load_str(&name, &text, &base)
}

/// Loads and checks config text. `file` names it in messages. Every error is reported: all
/// syntax errors; else every schema error (reading past each); else every error of meaning.
pub fn load_str(file: &str, text: &str, base_dir: &Path) -> Result<Loaded, Diagnostics> {
    let (mut root, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        let locator = Locator::new(file, text, None);
        return Err(Diagnostics(
            syntax
                .iter()
                .map(|e| locator.diagnostic(Severity::Error, e.span(), None, e.message().trim().to_string()))
                .collect(),
        ));
    }
    let locator = Locator::new(file, text, Some(root.clone()));
    let mut schema = Vec::new();
    let mut removed = Removed::default();
    let mut config: Config = loop {
        let e = match serde_path_to_error::deserialize(toml::de::Deserializer::from(root.clone())) {
            Ok(c) => break c,
            Err(e) => e,
        };
        let path = e.path().to_string();
        let key = (path != ".").then(|| removed.original(&path));
        // Taking a bad value out makes its table miss that field: the same error again.
        let message = e.inner().message().trim().to_string();
        let missing = message.strip_prefix("missing field `").and_then(|m| m.split('`').next());
        let consequence = match (key.as_deref(), missing) {
            (Some(k), Some(field)) => {
                let gone = format!("{k}.{field}");
                schema.iter().any(|d: &Diagnostic| d.key.as_deref().is_some_and(|done| is_within(done, &gone)))
            }
            _ => false,
        };
        if !consequence {
            let span = e.inner().span().or_else(|| key.as_deref().and_then(|k| locator.span_of(k)));
            schema.push(locator.diagnostic(Severity::Error, span, key, message));
        }
        // Past the value at fault to the next error, as long as there is one to take out.
        if schema.len() >= MAX_SCHEMA_ERRORS || path == "." || !removed.remove(root.get_mut(), &path) {
            return Err(Diagnostics(schema));
        }
    };
    if !schema.is_empty() {
        return Err(Diagnostics(schema));
    }

    let mut diags = read_directory_files(&mut config, base_dir, &locator);
    diags.extend(check(&config).into_iter().map(|f: Finding| locator.locate_finding(f)));
    diags.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    if diags.iter().any(Diagnostic::is_error) {
        return Err(Diagnostics(diags));
    }
    Ok(Loaded { config, warnings: diags })
}

/// Whether key path `inner` is `outer` or inside it.
fn is_within(inner: &str, outer: &str) -> bool {
    inner.strip_prefix(outer).is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// Enough for any file a person wrote; a file that is not a config at all stops here.
const MAX_SCHEMA_ERRORS: usize = 50;

/// Reads each tenant's `recipients_file`: one address per line, `#` starts a comment.
fn read_directory_files(config: &mut Config, base_dir: &Path, locator: &Locator) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    for (t, tenant) in config.tenants.iter_mut().enumerate() {
        let Some(rel) = &tenant.recipients_file else {
            continue;
        };
        let key = format!("tenants[{t}].recipients_file");
        let path: PathBuf = if rel.is_absolute() { rel.clone() } else { base_dir.join(rel) };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                let span = locator.span_of(&key);
                diags.push(locator.diagnostic(
                    Severity::Error,
                    span,
                    Some(key),
                    format!("cannot read {}: {e}", path.display()),
                ));
                continue;
            }
        };
        let file = path.display().to_string();
        for (n, line) in text.lines().enumerate() {
            let entry = line.split('#').next().unwrap_or("").trim();
            if entry.is_empty() {
                continue;
            }
            match parse_mailbox(entry) {
                Ok(m) => tenant.recipients_from_file.push((m, n + 1)),
                Err(e) => {
                    let column = line.find(entry).map_or(1, |i| line[..i].chars().count() + 1);
                    diags.push(Diagnostic {
                        severity: Severity::Error,
                        file: file.clone(),
                        line: Some(n + 1),
                        column: Some(column),
                        key: Some(key.clone()),
                        message: format!("{entry:?} is not an email address: {e}"),
                    });
                }
            }
        }
    }
    diags
}
