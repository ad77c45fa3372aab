//! doorman's mail-flow analyzer (`doorman audit`): for every tenant, which senders can reach a
//! mailbox, and by which path. Pure, like the engine it drives: no I/O.
//!
//! - [`space`] cuts each tenant's sender space into classes at the boundaries the engine's
//!   predicates name ([`doorman_policy::Policy::boundaries`]), so that every session of a
//!   class gets the same decision.
//! - [`classes`] runs one session of every class through the engine's RCPT and DATA stages,
//!   the functions the edge calls.
//! - [`report`] reads doors, verdicts, findings and fixes off that table; [`predict`] answers
//!   for any given session from the same table, which is how the claims are tested.
//!
//! A class accepted through a connector matched by IP or certificate (or any class, when the
//! tenant's MX is doorman itself, or from the gateway's addresses) came in by the front door.
//! Anything else that reaches a mailbox is a side door.

pub mod classes;
pub mod diff;
pub mod doors;
mod groups;
pub mod predict;
pub mod render;
pub mod report;
pub mod space;

use std::panic::{AssertUnwindSafe, catch_unwind};

use doorman_policy::{Policy, TenantView};

pub use doors::{CopyOutcome, DispositionKind, DoorSide, Gateway, GatewaySource, ReplyCode};
pub use report::{
    Change, Deleted, Door, DoorFiltering, Finding, FindingCode, Fix, MissingInput, Refused, Restriction, Severity,
    TenantAudit, Verdict,
};
use space::AcceptedIndex;

/// Version tag of the JSON form; see docs/audit-json.md.
pub const AUDIT_SCHEMA: &str = "doorman.audit/4";

#[derive(Debug, serde::Serialize)]
pub struct Audit {
    pub schema: &'static str,
    pub tenants: Vec<TenantAudit>,
}

impl Audit {
    /// Every tenant locked and nothing to report.
    pub fn is_clean(&self) -> bool {
        self.outcome() == Outcome::Clean
    }

    /// What the audit as a whole says. A finding on a tenant judged on complete input is
    /// certain, so it decides; otherwise a tenant that could not be judged makes the whole
    /// incomplete, since its findings rest on data that is not there.
    pub fn outcome(&self) -> Outcome {
        let unjudged = |t: &&TenantAudit| matches!(t.verdict, Verdict::Incomplete | Verdict::NotAudited);
        let finds =
            |t: &&TenantAudit| t.verdict != Verdict::Locked || t.findings.iter().any(|f| f.severity != Severity::Info);
        if self.tenants.iter().filter(|t| !unjudged(t)).any(|t| finds(&t)) {
            Outcome::Findings
        } else if self.tenants.iter().any(|t| unjudged(&t)) {
            Outcome::Incomplete
        } else {
            Outcome::Clean
        }
    }
}

/// The audit's result in one word, as the exit status gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every tenant locked, on complete input, and nothing to report.
    Clean,
    /// Findings, or a side door, on a tenant judged on complete input.
    Findings,
    /// No such finding, but some tenant was not audited, or its input is incomplete.
    Incomplete,
}

/// The audit of a tenant failed: a bug, never a verdict.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("tenant {tenant:?} could not be audited: {message}")]
pub struct AuditError {
    pub tenant: String,
    pub message: String,
}

/// Audits every tenant of `policy`, on every core (tenants are independent). One tenant that
/// fails fails the whole audit: a report that leaves a tenant out would be read as clean.
pub fn audit(policy: &Policy) -> Result<Audit, AuditError> {
    audit_with_progress(policy, &|| {})
}

/// [`audit`], calling `done` as each tenant's audit ends (from the threads that audit), for
/// a progress bar on a large config.
pub fn audit_with_progress(policy: &Policy, done: &(dyn Fn() + Sync)) -> Result<Audit, AuditError> {
    let index = AcceptedIndex::new(policy);
    audit_each(policy, |t| {
        let audited = report::audit_tenant(policy, t, &index);
        done();
        audited
    })
}

/// [`audit`] with the per-tenant step given, so that a failing step can be tested.
fn audit_each<F>(policy: &Policy, each: F) -> Result<Audit, AuditError>
where
    F: Fn(TenantView<'_>) -> TenantAudit + Sync,
{
    let all: Vec<TenantView<'_>> = policy.tenants().collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(all.len().max(1));
    let chunk = all.len().div_ceil(threads).max(1);
    let each = &each;
    let parts: Vec<Result<Vec<TenantAudit>, AuditError>> = std::thread::scope(|s| {
        let handles: Vec<_> = all
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|t| {
                            catch_unwind(AssertUnwindSafe(|| each(*t))).map_err(|panic| AuditError {
                                tenant: t.name().to_string(),
                                message: format!("internal error ({}); this is a doorman bug", panic_text(&panic)),
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(AuditError {
                        tenant: "?".into(),
                        message: "an audit thread died; this is a doorman bug".into(),
                    })
                })
            })
            .collect()
    });
    let mut tenants = Vec::with_capacity(all.len());
    for p in parts {
        tenants.extend(p?);
    }
    Ok(Audit { schema: AUDIT_SCHEMA, tenants })
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(toml: &str) -> Policy {
        Policy::new(doorman_config::load_str("t.toml", toml, std::path::Path::new(".")).unwrap().config)
    }

    #[test]
    fn a_tenant_that_fails_fails_the_whole_audit_and_is_named() {
        let p = policy(
            "[[tenants]]\nname = \"a\"\nmx = [\"self\"]\naccepted_domains = [{ domain = \"a.test\" }]\n\
             [[tenants]]\nname = \"b\"\nmx = [\"self\"]\naccepted_domains = [{ domain = \"b.test\" }]\n",
        );
        let index = AcceptedIndex::new(&p);
        let err = audit_each(&p, |t| {
            assert_ne!(t.name(), "b", "the audit of b breaks");
            report::audit_tenant(&p, t, &index)
        })
        .unwrap_err();
        assert_eq!(err.tenant, "b");
        assert!(err.to_string().starts_with("tenant \"b\" could not be audited: internal error ("), "{err}");
        assert!(err.message.contains("the audit of b breaks"), "{err}");
        assert_eq!(audit(&p).unwrap().tenants.len(), 2);
    }
}
