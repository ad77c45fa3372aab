//! The audit of an imported export: the verdict held to what the export holds, the notes,
//! and the PowerShell fix, for a person (`text`) and for a program (`Json`).

use doorman_audit::{Audit, MissingInput, Outcome};
use serde::Serialize;

use crate::powershell::{self, Command, CommandJson};
use crate::{Import, Note, Source};

pub struct ExoAudit<'a> {
    pub import: &'a Import,
    pub audit: Audit,
    /// Per tenant of the audit, the commands that close what it found.
    pub powershell: Vec<Vec<Command>>,
}

/// Judges `audit`, made on `import`'s config: a part the export lacks makes the verdict
/// INCOMPLETE, and the fix is written as PowerShell.
pub fn judge(import: &Import, mut audit: Audit) -> ExoAudit<'_> {
    for t in &mut audit.tenants {
        t.mark_incomplete(import.missing.clone());
    }
    let mut powershell: Vec<Vec<Command>> = audit.tenants.iter().map(powershell::fix).collect();
    // On an incomplete export the fix may repeat what Exchange Online already holds (a
    // connector the export lacks): it is shown, not meant to be run.
    if !import.missing.is_empty() {
        powershell.iter_mut().flatten().for_each(|c| c.runnable = false);
    }
    ExoAudit { import, audit, powershell }
}

impl ExoAudit<'_> {
    pub fn outcome(&self) -> Outcome {
        self.audit.outcome()
    }

    /// The notes, the report, and the PowerShell to paste.
    pub fn text(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "Exchange Online export: {} (tenant {})\n",
            self.import.source.label(),
            doorman_audit::render::one_line(&self.import.tenant)
        ));
        for n in &self.import.notes {
            out.push_str(&format!("# {}: {}\n", n.kind.label(), doorman_audit::render::one_line(&n.what)));
        }
        out.push('\n');
        out.push_str(&doorman_audit::render::text(&self.audit));
        for (t, commands) in self.audit.tenants.iter().zip(&self.powershell) {
            out.push_str("PowerShell");
            if !self.import.missing.is_empty() {
                out.push_str(" (for what the export holds, commented out: complete the export first)");
            }
            out.push_str(":\n");
            out.push_str(&powershell::script(&t.tenant, commands));
        }
        out
    }

    pub fn json(&self) -> Json<'_> {
        Json {
            audit: &self.audit,
            exo: ExoJson {
                source: self.import.source,
                tenant: &self.import.tenant,
                complete: self.import.missing.is_empty(),
                missing: &self.import.missing,
                notes: &self.import.notes,
                powershell: self.powershell.iter().flatten().map(Command::json).collect(),
            },
        }
    }
}

/// `audit --exo --json`: the audit's JSON with an `exo` object beside its tenants.
#[derive(Serialize)]
pub struct Json<'a> {
    #[serde(flatten)]
    pub audit: &'a Audit,
    pub exo: ExoJson<'a>,
}

#[derive(Serialize)]
pub struct ExoJson<'a> {
    pub source: Source,
    pub tenant: &'a str,
    /// The export holds every part the audit needs.
    pub complete: bool,
    pub missing: &'a [MissingInput],
    pub notes: &'a [Note],
    pub powershell: Vec<CommandJson<'a>>,
}
