//! What the export does not hold, what that leaves open, and the cmdlet that fills the gap.
//!
//! The audit judges a tenant on what it is given. A part the export lacks is not "none":
//! a tenant without its connectors looks wide open, and one without its rules looks unfiltered.
//! Each gap makes the verdict INCOMPLETE (or NOT AUDITED when no domain is known), never
//! LOCKED and never a certain SIDE DOOR OPEN.

use doorman_audit::MissingInput;
use serde_json::Value;

use crate::read::{Export, FILES};
use crate::shapes;

/// The gaps of `e`, each with the cmdlet that closes it.
pub fn missing(e: &Export) -> Vec<MissingInput> {
    let mut out = Vec::new();
    // `name` is one of the export folder's files, and `Get-<name>` its cmdlet.
    let mut gap = |what: &str, consequence: &str, name: &str| {
        debug_assert!(FILES.contains(&name));
        out.push(MissingInput {
            what: what.into(),
            consequence: consequence.into(),
            remedy: format!("Get-{name} | ConvertTo-Json -Depth 6 | Out-File -Encoding utf8 {name}.json"),
        });
    };
    if e.accepted_domains.is_none() {
        gap(
            "accepted domains",
            "which recipients belong to the tenant is unknown, so no class of recipient can be judged",
            "AcceptedDomain",
        );
    } else if e.domains_from_spf_records {
        gap(
            "accepted domains (taken from ScubaGear's spf_records instead)",
            "the domains' types and MatchSubDomains are unknown, and a domain that is not accepted may be among them",
            "AcceptedDomain",
        );
    }
    if e.inbound_connectors.is_none() {
        gap(
            "inbound connectors",
            "a connector may restrict senders to the gateway; without them every sender looks as if it reached the mailboxes",
            "InboundConnector",
        );
    }
    if e.transport_rules.is_none() {
        gap(
            "transport rules",
            "a rule may refuse, delete or skip spam filtering (SCL -1) for some senders",
            "TransportRule",
        );
    }
    if e.connection_filter_policies.is_none() {
        gap(
            "connection filter policy",
            "its IP allow list skips spam filtering and its block list refuses clients",
            "HostedConnectionFilterPolicy",
        );
    }
    match &e.organization_config {
        None => gap(
            "organization config",
            "whether Direct Send is refused (RejectDirectSend) is unknown",
            "OrganizationConfig",
        ),
        Some(org) if reject_direct_send(org).is_none() => gap(
            "RejectDirectSend (the organization config lacks it; ScubaGear selects properties without it)",
            "whether anonymous mail that claims the tenant's own domains is refused is unknown",
            "OrganizationConfig",
        ),
        Some(_) => {}
    }
    out
}

pub(crate) fn reject_direct_send(org: &Value) -> Option<bool> {
    shapes::boolean(org, "RejectDirectSend")
}
