//! Exchange Online exports in; a doorman config, the audit's verdict on what the export
//! holds, and PowerShell out.
//!
//! - [`read`] reads what administrators' tools export: the folder `scripts/export-exo.ps1`
//!   writes, ScubaGear's `ProviderSettingsExport.json`, or one `Get-InboundConnector` file.
//! - [`completeness`] says which parts the export lacks, and which cmdlet fills each gap.
//! - [`import`] turns the export into the same tenant in doorman's TOML, so the analyzer and
//!   the edge can run on it. What Exchange Online would refuse, and whatever doorman does not
//!   model, is listed in [`Import::notes`], never dropped silently.
//! - [`report`] audits an import: the verdict is INCOMPLETE while a part is missing, and the
//!   fix comes as PowerShell ([`powershell`]) that is safe to paste.
//!
//! The export's shapes are PowerShell's: a one-element array may come as a bare value, sender
//! domains as `smtp:*;1`, dates as `/Date(ms)/`, enums as names or numbers, and an absent field
//! is not `false`.

pub mod completeness;
mod convert;
pub mod powershell;
pub mod read;
pub mod report;
mod shapes;

pub use convert::{Import, Note, NoteKind, exo_refuses, import, is_exo_host};
pub use read::{Export, ExportError, Source, default_domain, read, read_dir, read_text};
