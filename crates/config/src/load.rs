//! Reading a config: TOML syntax, then the typed schema, then the directory files, then the
//! semantic checks. Each stage reports with file, line, column and key path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::de::DeTable;

use crate::address::parse_mailbox;
use crate::check::check;
use crate::diag::{Diagnostic, Diagnostics, Finding, Locator, Severity, TOP_LEVEL};
use crate::document::PolicyDocument;
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
    let (mut config, locator) = parse(file, text)?;
    let mut diags = tenants_in_a_node_file(&config, &locator);
    diags.extend(read_directory_files(&mut config, &Files::Disk(base_dir), &locator));
    finish(config, diags, &locator, &locator)
}

/// A node of a cluster takes its tenants from the cluster: any in its own file would be
/// silently replaced.
fn tenants_in_a_node_file(config: &Config, locator: &Locator) -> Vec<Diagnostic> {
    let Some(span) = locator.span_of("tenants").filter(|_| config.cluster.is_some()) else { return Vec::new() };
    vec![locator.diagnostic(
        Severity::Error,
        Some(span),
        Some("tenants".into()),
        "with [cluster], the tenants come from the cluster's policy (doorman config publish); a node's file holds [server] and [cluster] only".into(),
    )]
}

/// Loads and checks a node's own file (`[server]`, `[cluster]`) with the policy published to
/// the cluster: the same schema and checks as one file, each message naming the part at fault.
pub fn load_node(file: &str, text: &str, policy_name: &str, policy: &PolicyDocument) -> Result<Loaded, Diagnostics> {
    let (mut config, node) = parse(file, text)?;
    let (published, located) = parse_policy(policy_name, &policy.policy)?;
    if config.cluster.is_none() {
        return Err(Diagnostics(vec![node.diagnostic(
            Severity::Error,
            None,
            Some("cluster".into()),
            "no [cluster] section, so this node takes no policy from the cluster".into(),
        )]));
    }
    let mut diags = tenants_in_a_node_file(&config, &node);
    config.tenants = published.tenants;
    diags.extend(read_directory_files(&mut config, &Files::Published(&policy.files), &located));
    finish(config, diags, &node, &located)
}

/// Loads and checks a policy to publish: tenants only, checked as `check-config` checks a
/// file. The files it names are read from disk, relative to it, to go into the document.
pub fn load_policy(file: &str, text: &str, base_dir: &Path) -> Result<(Loaded, PolicyDocument), Diagnostics> {
    let (mut config, locator) = parse_policy(file, text)?;
    // Each file is read once, and what is checked is what goes into the document.
    let mut files = BTreeMap::new();
    let mut unreadable = false;
    for t in &config.tenants {
        if let Some(rel) = &t.recipients_file {
            match std::fs::read_to_string(base_dir.join(rel)) {
                Ok(content) => drop(files.insert(rel.display().to_string(), content)),
                Err(_) => unreadable = true,
            }
        }
    }
    // A file that cannot be read is reported as a file on disk, with the system's reason.
    let source = if unreadable { Files::Disk(base_dir) } else { Files::Published(&files) };
    let diags = read_directory_files(&mut config, &source, &locator);
    let loaded = finish(config, diags, &locator, &locator)?;
    Ok((loaded, PolicyDocument::new(file, text, files)))
}

/// Loads a published policy alone, as the publisher checked it: to compare a change with it.
pub fn load_document(name: &str, policy: &PolicyDocument) -> Result<Loaded, Diagnostics> {
    let (mut config, locator) = parse_policy(name, &policy.policy)?;
    let diags = read_directory_files(&mut config, &Files::Published(&policy.files), &locator);
    finish(config, diags, &locator, &locator)
}

/// A policy's text: a config with `[[tenants]]` only.
fn parse_policy<'a>(file: &'a str, text: &'a str) -> Result<(Config, Locator<'a>), Diagnostics> {
    let (config, locator) = parse(file, text)?;
    let node_only: Vec<Diagnostic> = ["server", "cluster"]
        .into_iter()
        .filter_map(|key| {
            let span = locator.span_of(key)?;
            Some(locator.diagnostic(
                Severity::Error,
                Some(span),
                Some(key.into()),
                format!("a published policy holds tenants only; [{key}] belongs in each node's own file"),
            ))
        })
        .collect();
    if !node_only.is_empty() {
        return Err(Diagnostics(node_only));
    }
    Ok((config, locator))
}

/// The semantic checks, each finding located in the part its key belongs to.
fn finish(config: Config, mut diags: Vec<Diagnostic>, node: &Locator, policy: &Locator) -> Result<Loaded, Diagnostics> {
    diags.extend(check(&config).into_iter().map(|f: Finding| {
        if f.key.starts_with("tenants") { policy.locate_finding(f) } else { node.locate_finding(f) }
    }));
    diags.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    if diags.iter().any(Diagnostic::is_error) {
        return Err(Diagnostics(diags));
    }
    Ok(Loaded { config, warnings: diags })
}

/// TOML syntax, then the typed schema, reporting past each error.
fn parse<'a>(file: &'a str, text: &'a str) -> Result<(Config, Locator<'a>), Diagnostics> {
    let (mut root, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        let locator = Locator::new(file, text, None);
        return Err(Diagnostics(
            syntax
                .iter()
                .map(|e| {
                    let span = e.span().unwrap_or(0..0);
                    let key = locator.key_at(span.start);
                    locator.diagnostic(Severity::Error, Some(span), Some(key), e.message().trim().to_string())
                })
                .collect(),
        ));
    }
    let locator = Locator::new(file, text, Some(root.clone()));
    let mut schema = Vec::new();
    let mut removed = Removed::default();
    let config: Config = loop {
        let e = match serde_path_to_error::deserialize(toml::de::Deserializer::from(root.clone())) {
            Ok(c) => break c,
            Err(e) => e,
        };
        let path = e.path().to_string();
        let key = if path == "." { None } else { Some(removed.original(&path)) };
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
            // An error of the file as a whole (a field it lacks) names that field, at the top.
            let key = key.or_else(|| Some(missing.unwrap_or(TOP_LEVEL).to_string()));
            let span = span.or(Some(0..0));
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
    Ok((config, locator))
}

/// Whether key path `inner` is `outer` or inside it.
fn is_within(inner: &str, outer: &str) -> bool {
    inner.strip_prefix(outer).is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// Enough for any file a person wrote; a file that is not a config at all stops here.
const MAX_SCHEMA_ERRORS: usize = 50;

/// Where the files a config names are read: beside it, or in the document it was published in.
enum Files<'a> {
    Disk(&'a Path),
    Published(&'a BTreeMap<String, String>),
}

/// Reads each tenant's `recipients_file`: one address per line, `#` starts a comment.
fn read_directory_files(config: &mut Config, files: &Files, locator: &Locator) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    for (t, tenant) in config.tenants.iter_mut().enumerate() {
        let Some(rel) = &tenant.recipients_file else {
            continue;
        };
        let key = format!("tenants[{t}].recipients_file");
        let (path, read) = match files {
            Files::Disk(base_dir) => {
                let path: PathBuf = if rel.is_absolute() { rel.clone() } else { base_dir.join(rel) };
                let read = std::fs::read_to_string(&path);
                (path, read)
            }
            Files::Published(map) => (
                rel.clone(),
                map.get(&rel.display().to_string()).cloned().ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::NotFound, "the published policy does not hold it")
                }),
            ),
        };
        let text = match read {
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
