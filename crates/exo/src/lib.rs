//! Exchange Online exports, read as a doorman config.
//!
//! An administrator runs `scripts/export-exo.ps1`: `Get-InboundConnector`,
//! `Get-HostedConnectionFilterPolicy`, `Get-TransportRule`, `Get-AcceptedDomain` and
//! `Get-OrganizationConfig`, each piped to `ConvertTo-Json -Depth 6`, one file each. [`read_dir`]
//! reads that folder; [`import`] turns it into the same tenant in doorman's TOML, so the
//! analyzer and the edge can run on it. What Exchange Online would refuse, and whatever doorman
//! does not understand, is listed in [`Import::notes`], never dropped silently.
//!
//! The export's shapes are PowerShell's: a one-element array may come as a bare value, sender
//! domains as `smtp:*;1`, dates as `/Date(ms)/`, enums as names or numbers, and an absent field
//! is not `false`.

mod convert;
pub mod powershell;
mod shapes;

use std::path::Path;

pub use convert::{Import, Note, NoteKind, import, is_exo_host};
use serde_json::Value;

/// The cmdlet outputs of one tenant, as parsed JSON.
#[derive(Debug, Default)]
pub struct Export {
    pub tenant: String,
    pub inbound_connectors: Vec<Value>,
    pub connection_filter_policies: Vec<Value>,
    pub transport_rules: Vec<Value>,
    pub accepted_domains: Vec<Value>,
    pub organization_config: Option<Value>,
    /// Read from ScubaGear's provider export, which lacks connectors and RejectDirectSend.
    pub from_scubagear: bool,
}

/// The tenant's default accepted domain (`Default: true`), or its first.
pub fn default_domain(e: &Export) -> Option<String> {
    let name = |d: &Value| shapes::text(d, "DomainName").or_else(|| shapes::text(d, "Name"));
    e.accepted_domains
        .iter()
        .find(|d| shapes::boolean(d, "Default") == Some(true))
        .or(e.accepted_domains.first())
        .and_then(name)
}

/// The file each cmdlet's output is looked for in (case-insensitive, `Get-` optional).
const FILES: [&str; 5] =
    ["InboundConnector", "HostedConnectionFilterPolicy", "TransportRule", "AcceptedDomain", "OrganizationConfig"];

/// Reads an export: a folder of cmdlet outputs, or CISA ScubaGear's provider export
/// (`ProviderSettingsExport.json`).
pub fn read(path: &Path) -> Result<Export, String> {
    if path.is_dir() { read_dir(path) } else { read_scubagear(path) }
}

/// ScubaGear's provider export holds the same cmdlet outputs under its own keys:
/// `transport_rule`, `conn_filter`, `org_config`, and the accepted domains as `spf_records`.
/// It has no inbound connectors.
pub fn read_scubagear(path: &Path) -> Result<Export, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let value: Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))
        .map_err(|e| format!("{}:{}:{}: not JSON: {e}", path.display(), e.line(), e.column()))?;
    if value.get("transport_rule").is_none() && value.get("conn_filter").is_none() {
        return Err(format!(
            "{}: neither an export folder nor a ScubaGear ProviderSettingsExport.json",
            path.display()
        ));
    }
    let items =
        |key: &str| value.get(key).map(shapes::list).unwrap_or_default().into_iter().cloned().collect::<Vec<_>>();
    let accepted_domains = items("spf_records")
        .iter()
        .filter_map(|r| shapes::text(r, "domain").or_else(|| shapes::text(r, "Domain")))
        .map(|d| serde_json::json!({ "DomainName": d, "DomainType": "Authoritative" }))
        .collect();
    let tenant = path.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()).unwrap_or("tenant").to_string();
    Ok(Export {
        tenant,
        inbound_connectors: Vec::new(),
        connection_filter_policies: items("conn_filter"),
        transport_rules: items("transport_rule"),
        accepted_domains,
        organization_config: items("org_config").into_iter().next(),
        from_scubagear: true,
    })
}

/// Reads an export folder. The tenant is named after the folder.
pub fn read_dir(dir: &Path) -> Result<Export, String> {
    let mut export = Export {
        tenant: dir.file_name().and_then(|n| n.to_str()).unwrap_or("tenant").to_string(),
        ..Export::default()
    };
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut found = 0;
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else { continue };
        let stem = stem.strip_prefix("Get-").unwrap_or(stem);
        let Some(which) = FILES.iter().position(|f| f.eq_ignore_ascii_case(stem)) else { continue };
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        // PowerShell writes a UTF-8 byte order mark.
        let value: Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))
            .map_err(|e| format!("{}:{}:{}: not JSON: {e}", path.display(), e.line(), e.column()))?;
        let items = shapes::list(&value).into_iter().cloned().collect();
        match which {
            0 => export.inbound_connectors = items,
            1 => export.connection_filter_policies = items,
            2 => export.transport_rules = items,
            3 => export.accepted_domains = items,
            _ => export.organization_config = shapes::list(&value).first().map(|v| (*v).clone()),
        }
        found += 1;
    }
    if found == 0 {
        return Err(format!(
            "{}: no export files (expected {}.json, as scripts/export-exo.ps1 writes them)",
            dir.display(),
            FILES.join(".json, ")
        ));
    }
    Ok(export)
}
