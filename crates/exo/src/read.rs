//! Readers for what administrators' tools export today: the folder `scripts/export-exo.ps1`
//! writes, CISA ScubaGear's `ProviderSettingsExport.json`, and a lone
//! `Get-InboundConnector | ConvertTo-Json` file.
//!
//! Each part of an [`Export`] is `None` when the export does not hold it, and `Some` (maybe
//! empty) when the cmdlet ran: "no connectors" and "connectors not exported" must never look
//! alike, because one is a verdict and the other is a gap ([`crate::completeness`]).

use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::shapes;

/// An export could not be read, or is not one.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}:{}:{}: not JSON: {source}", source.line(), source.column())]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("{0}: neither an export folder, a ScubaGear ProviderSettingsExport.json, nor Get-InboundConnector output")]
    Unrecognised(PathBuf),
    #[error("{first} and {second} both hold Get-{cmdlet}'s output: keep one")]
    Duplicate { first: PathBuf, second: PathBuf, cmdlet: &'static str },
    #[error(
        "{0}: no export files (expected {files}.json, as scripts/export-exo.ps1 writes them)",
        files = FILES.join(".json, ")
    )]
    NoExportFiles(PathBuf),
}

/// Which tool wrote the export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A folder of cmdlet outputs, as `scripts/export-exo.ps1` writes it.
    ExportFolder,
    /// ScubaGear's provider export.
    Scubagear,
    /// One `Get-InboundConnector | ConvertTo-Json` file.
    ConnectorFile,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Source::ExportFolder => "export folder (scripts/export-exo.ps1)",
            Source::Scubagear => "ScubaGear ProviderSettingsExport.json",
            Source::ConnectorFile => "Get-InboundConnector output",
        }
    }
}

/// The cmdlet outputs of one tenant, as parsed JSON.
#[derive(Debug)]
pub struct Export {
    pub source: Source,
    /// The organisation's name (`org_config.Name` without `.onmicrosoft.com`).
    pub tenant: String,
    pub inbound_connectors: Option<Vec<Value>>,
    pub connection_filter_policies: Option<Vec<Value>>,
    pub transport_rules: Option<Vec<Value>>,
    pub accepted_domains: Option<Vec<Value>>,
    pub organization_config: Option<Value>,
    /// The accepted domains were missing and the domains of ScubaGear's `spf_records` stand in.
    pub domains_from_spf_records: bool,
}

/// The tenant's default accepted domain (`Default: true`), or its first.
pub fn default_domain(e: &Export) -> Option<String> {
    let domains = e.accepted_domains.as_deref().unwrap_or_default();
    domains.iter().find(|d| shapes::boolean(d, "Default") == Some(true)).or(domains.first()).and_then(domain_name)
}

pub(crate) fn domain_name(d: &Value) -> Option<String> {
    shapes::text(d, "DomainName").or_else(|| shapes::text(d, "Name"))
}

/// The file each cmdlet's output is looked for in: `<name>.json`, case-insensitive, `Get-`
/// optional; the cmdlet is `Get-<name>`.
pub(crate) const FILES: [&str; 5] =
    ["InboundConnector", "HostedConnectionFilterPolicy", "TransportRule", "AcceptedDomain", "OrganizationConfig"];

/// Reads an export: a folder of cmdlet outputs, ScubaGear's provider export, or one file of
/// inbound connectors.
pub fn read(path: &Path) -> Result<Export, ExportError> {
    if path.is_dir() {
        return read_dir(path);
    }
    let text = std::fs::read_to_string(path).map_err(|source| ExportError::Io { path: path.to_path_buf(), source })?;
    read_text(path, &text)
}

/// Reads one export file's text; `path` names it in errors.
pub fn read_text(path: &Path, text: &str) -> Result<Export, ExportError> {
    let value = parse_text(path, text)?;
    if is_scubagear(&value) {
        Ok(scubagear(&value))
    } else if is_connector_list(&value) {
        Ok(connector_file(&value))
    } else {
        Err(ExportError::Unrecognised(path.to_path_buf()))
    }
}

/// A file as PowerShell writes it: maybe a byte order mark, maybe nothing at all (a cmdlet
/// that returned no object), which is an empty list.
fn parse_file(path: &Path) -> Result<Value, ExportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ExportError::Io { path: path.to_path_buf(), source })?;
    parse_text(path, &text)
}

fn parse_text(path: &Path, text: &str) -> Result<Value, ExportError> {
    let text = text.trim_start_matches('\u{feff}');
    if text.trim().is_empty() {
        return Ok(Value::Array(Vec::new()));
    }
    serde_json::from_str(text).map_err(|source| ExportError::Json { path: path.to_path_buf(), source })
}

const SCUBAGEAR_KEYS: [&str; 6] =
    ["accepted_domains", "inbound_connectors", "transport_rule", "conn_filter", "org_config", "spf_records"];

fn is_scubagear(v: &Value) -> bool {
    v.as_object().is_some_and(|o| SCUBAGEAR_KEYS.iter().any(|k| o.contains_key(*k)))
}

fn is_connector_list(v: &Value) -> bool {
    let items = shapes::list(v);
    let connector = |i: &&Value| {
        ["ConnectorType", "SenderDomains", "RestrictDomainsToIPAddresses"].iter().any(|k| i.get(k).is_some())
    };
    matches!(v, Value::Array(a) if a.is_empty()) || (!items.is_empty() && items.iter().all(connector))
}

fn owned(v: &Value) -> Vec<Value> {
    shapes::list(v).into_iter().cloned().collect()
}

/// ScubaGear writes each cmdlet's output under its own key, as a list, a bare object or null,
/// and each provider names the cmdlets that failed (`exo_unsuccessful_commands`,
/// `defender_unsuccessful_commands`, …). A key that is absent or null, or whose cmdlet failed,
/// is a part the export does not hold.
fn scubagear(v: &Value) -> Export {
    let failed: Vec<String> = v
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.ends_with("_unsuccessful_commands"))
        .flat_map(|(_, cmds)| shapes::list(cmds))
        .filter_map(|c| c.as_str().map(str::to_ascii_lowercase))
        .collect();
    let part = |key: &str, cmdlet: &str| -> Option<Vec<Value>> {
        if failed.iter().any(|f| f == &cmdlet.to_ascii_lowercase()) {
            return None;
        }
        v.get(key).filter(|x| !x.is_null()).map(owned)
    };
    let mut accepted_domains = part("accepted_domains", "Get-AcceptedDomain");
    let mut from_spf = false;
    if accepted_domains.is_none() {
        let spf: Vec<Value> = v
            .get("spf_records")
            .map(shapes::list)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|r| shapes::text(r, "domain").or_else(|| shapes::text(r, "Domain")))
            .map(|d| serde_json::json!({ "DomainName": d }))
            .collect();
        if !spf.is_empty() {
            accepted_domains = Some(spf);
            from_spf = true;
        }
    }
    let organization_config = part("org_config", "Get-OrganizationConfig").and_then(|o| o.into_iter().next());
    let mut export = Export {
        source: Source::Scubagear,
        tenant: String::new(),
        inbound_connectors: part("inbound_connectors", "Get-InboundConnector"),
        connection_filter_policies: part("conn_filter", "Get-HostedConnectionFilterPolicy"),
        transport_rules: part("transport_rule", "Get-TransportRule"),
        accepted_domains,
        organization_config,
        domains_from_spf_records: from_spf,
    };
    export.tenant = tenant_name(&export);
    export
}

fn connector_file(v: &Value) -> Export {
    let mut export = Export {
        source: Source::ConnectorFile,
        tenant: String::new(),
        inbound_connectors: Some(owned(v)),
        connection_filter_policies: None,
        transport_rules: None,
        accepted_domains: None,
        organization_config: None,
        domains_from_spf_records: false,
    };
    export.tenant = tenant_name(&export);
    export
}

/// Reads an export folder. A file that is missing is a part the export does not hold; an
/// empty one is a cmdlet that returned nothing.
pub fn read_dir(dir: &Path) -> Result<Export, ExportError> {
    let mut parts: [Option<Vec<Value>>; 5] = Default::default();
    let entries = std::fs::read_dir(dir).map_err(|source| ExportError::Io { path: dir.to_path_buf(), source })?;
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    let mut seen: [Option<PathBuf>; 5] = Default::default();
    for path in paths {
        if !path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
            continue;
        }
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else { continue };
        let stem = if stem.len() > 4 && stem[..4].eq_ignore_ascii_case("get-") { &stem[4..] } else { stem };
        let Some(which) = FILES.iter().position(|f| f.eq_ignore_ascii_case(stem)) else { continue };
        if let Some(first) = &seen[which] {
            return Err(ExportError::Duplicate { first: first.clone(), second: path, cmdlet: FILES[which] });
        }
        parts[which] = Some(owned(&parse_file(&path)?));
        seen[which] = Some(path);
    }
    if parts.iter().all(Option::is_none) {
        return Err(ExportError::NoExportFiles(dir.to_path_buf()));
    }
    let [inbound_connectors, connection_filter_policies, transport_rules, accepted_domains, org] = parts;
    let mut export = Export {
        source: Source::ExportFolder,
        tenant: String::new(),
        inbound_connectors,
        connection_filter_policies,
        transport_rules,
        accepted_domains,
        organization_config: org.and_then(|o| o.into_iter().next()),
        domains_from_spf_records: false,
    };
    export.tenant = tenant_name(&export);
    Ok(export)
}

/// The organisation's name: `Get-OrganizationConfig`'s `Name`, else the `*.onmicrosoft.com`
/// accepted domain, else the organisation an object's `OrganizationId` names, without
/// `.onmicrosoft.com` (or `.onmicrosoft.us`). Never a path: the same tenant exported twice has one name.
fn tenant_name(e: &Export) -> String {
    let name = organisation(e);
    if name.trim().is_empty() { "tenant".into() } else { name }
}

fn organisation(e: &Export) -> String {
    let strip = |s: &str| {
        let s = s.trim().trim_end_matches('.');
        let lower = s.to_ascii_lowercase();
        // .onmicrosoft.us in the US government clouds.
        match lower.strip_suffix(".onmicrosoft.com").or_else(|| lower.strip_suffix(".onmicrosoft.us")) {
            Some(head) => s[..head.len()].to_string(),
            None => s.to_string(),
        }
    };
    if let Some(name) = e.organization_config.as_ref().and_then(|o| shapes::text(o, "Name")) {
        return strip(&name);
    }
    let domains = e.accepted_domains.as_deref().unwrap_or_default();
    let initial = |d: &String| {
        let d = d.to_ascii_lowercase();
        d.ends_with(".onmicrosoft.com") || d.ends_with(".onmicrosoft.us")
    };
    if let Some(d) = domains.iter().filter_map(domain_name).find(initial) {
        return strip(&d);
    }
    // "…/Microsoft Exchange Hosted Organizations/contoso.onmicrosoft.com - …"
    let all = [&e.inbound_connectors, &e.transport_rules, &e.connection_filter_policies];
    for item in all.into_iter().flatten().flatten() {
        if let Some(org) = shapes::text(item, "OrganizationId").and_then(|o| {
            o.split("Hosted Organizations/").nth(1).map(|r| r.split(" - ").next().unwrap_or(r).to_string())
        }) {
            return strip(&org);
        }
    }
    default_domain(e).map(|d| strip(&d)).unwrap_or_else(|| "tenant".into())
}
