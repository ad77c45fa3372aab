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
}

/// The file each cmdlet's output is looked for in (case-insensitive, `Get-` optional).
const FILES: [&str; 5] =
    ["InboundConnector", "HostedConnectionFilterPolicy", "TransportRule", "AcceptedDomain", "OrganizationConfig"];

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
