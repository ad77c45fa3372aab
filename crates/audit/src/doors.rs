//! Which way mail came in: the front door (the gateway the MX names, or a connector matched by
//! IP or certificate) or a side door, and whether it reached anyone. The audit labels its
//! classes with these functions, and labels recorded or replayed sessions with the same ones.

use std::net::IpAddr;

use doorman_config::Tenant;
use doorman_config::net::IpEntry;
use doorman_policy::{ConnectorMatch, Disposition, Reply, TenantCopy};
use serde::Serialize;

/// Where the gateway's mail comes from.
#[derive(Clone, Debug)]
pub struct Gateway {
    /// The tenant's MX is doorman itself: every path is the front door.
    pub mx_self: bool,
    pub networks: Vec<IpEntry>,
    /// `mx` (given with the MX hosts), `inferred` (from connectors and SCL -1 rules), `none`.
    pub source: GatewaySource,
}

/// Where the gateway's networks come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GatewaySource {
    /// Given with the MX hosts.
    Mx,
    /// Taken from what the config already trusts: connectors and SCL -1 rules.
    Inferred,
    /// None known (or doorman is the MX itself).
    None,
}

impl Gateway {
    /// The MX hosts' `addresses`, or, when none are given, what the config already trusts
    /// (enabled connectors' networks, the ranges of SCL -1 rules).
    pub fn of(cfg: &Tenant) -> Gateway {
        if cfg.mx_is_self() {
            return Gateway { mx_self: true, networks: Vec::new(), source: GatewaySource::None };
        }
        let given: Vec<IpEntry> = cfg.mx.iter().flat_map(|m| m.addresses.iter().cloned()).collect();
        if !given.is_empty() {
            return Gateway { mx_self: false, networks: given, source: GatewaySource::Mx };
        }
        let mut inferred: Vec<IpEntry> = cfg
            .inbound_connectors
            .iter()
            .filter(|c| c.enabled)
            .flat_map(|c| c.sender_ip_addresses.iter().cloned())
            .collect();
        for r in cfg.transport_rules.iter().filter(|r| r.enabled) {
            if r.actions.set_scl.is_some_and(|s| s.0 == -1) {
                inferred.extend(r.conditions.sender_ip_ranges.iter().cloned());
            }
        }
        let source = if inferred.is_empty() { GatewaySource::None } else { GatewaySource::Inferred };
        Gateway { mx_self: false, networks: inferred, source }
    }

    /// Mail from `client` through `connector` came by the front door.
    pub fn front(&self, client: IpAddr, connector: Option<&ConnectorMatch>) -> bool {
        self.mx_self
            || connector.is_some_and(|m| m.by.is_authenticated())
            || self.networks.iter().any(|g| g.contains(client))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DoorSide {
    Front,
    Side,
}

/// What became of a copy after DATA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DispositionKind {
    Deliver,
    /// Delivered to the recipients' Junk Email folder, where they read it.
    Junk,
    Redirect,
    /// Held in the tenant's quarantine; `doorman quarantine release` delivers it.
    Quarantine,
    Delete,
    /// Refused by a rule after DATA: in session, or by a DSN.
    Reject,
}

impl DispositionKind {
    pub fn of(d: &Disposition) -> DispositionKind {
        match d {
            Disposition::Deliver => DispositionKind::Deliver,
            Disposition::Junk => DispositionKind::Junk,
            Disposition::Redirect { .. } => DispositionKind::Redirect,
            Disposition::Quarantine => DispositionKind::Quarantine,
            Disposition::Delete => DispositionKind::Delete,
            Disposition::Reject { .. } => DispositionKind::Reject,
        }
    }

    /// The mail ends up in front of a person: delivered (to the inbox or the Junk Email
    /// folder, which the user reads), redirected, or quarantined (an administrator can
    /// release it, so quarantine is a door with someone at it).
    pub fn reaches(self) -> bool {
        match self {
            DispositionKind::Deliver
            | DispositionKind::Junk
            | DispositionKind::Redirect
            | DispositionKind::Quarantine => true,
            DispositionKind::Delete | DispositionKind::Reject => false,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DispositionKind::Deliver => "deliver",
            DispositionKind::Junk => "junk",
            DispositionKind::Redirect => "redirect",
            DispositionKind::Quarantine => "quarantine",
            DispositionKind::Delete => "delete",
            DispositionKind::Reject => "reject",
        }
    }
}

/// A reply's code and enhanced code: what a prediction must get right (the text may name
/// the client's address, which differs inside a class).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyCode {
    pub code: u16,
    pub enhanced: Option<(u8, u16, u16)>,
}

impl ReplyCode {
    pub fn of(r: &Reply) -> ReplyCode {
        ReplyCode { code: r.code, enhanced: r.enhanced.map(|e| (e.class, e.subject, e.detail)) }
    }
}

impl std::fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.enhanced {
            Some((c, s, d)) => write!(f, "{} {c}.{s}.{d}", self.code),
            None => write!(f, "{}", self.code),
        }
    }
}

impl Serialize for ReplyCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One tenant copy after DATA, as the audit judges it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct CopyOutcome {
    pub tenant: String,
    pub connector: Option<String>,
    pub scl: Option<i8>,
    pub disposition: DispositionKind,
    /// The rule's reply, for a rejected copy.
    pub reject: Option<ReplyCode>,
    /// Rules whose conditions held, enforced or audited, in the order they ran.
    pub rules: Vec<String>,
    /// `None` when the copy reaches nobody.
    pub door: Option<DoorSide>,
    /// Authentication judges the copy.
    pub authenticated: bool,
    /// The spam filter scans it.
    pub spam_filtered: bool,
}

impl CopyOutcome {
    /// A tenant's copy when the message as a whole is refused before any rule runs.
    pub fn refused(tenant: &str, reply: Option<&Reply>) -> CopyOutcome {
        CopyOutcome {
            tenant: tenant.to_string(),
            connector: None,
            scl: None,
            disposition: DispositionKind::Reject,
            reject: reply.map(ReplyCode::of),
            rules: Vec::new(),
            door: None,
            authenticated: false,
            spam_filtered: false,
        }
    }

    pub fn of(gateway: &Gateway, client: IpAddr, copy: &TenantCopy) -> CopyOutcome {
        let disposition = DispositionKind::of(&copy.disposition);
        let front = gateway.front(client, copy.connector.as_ref());
        CopyOutcome {
            tenant: copy.tenant.to_string(),
            connector: copy.connector.as_ref().map(|c| c.name.to_string()),
            scl: copy.scl.map(|s| s.0),
            disposition,
            reject: match &copy.disposition {
                Disposition::Reject { reply } => Some(ReplyCode::of(reply)),
                _ => None,
            },
            rules: copy.rules_hit.iter().map(|h| h.name.clone()).collect(),
            door: disposition.reaches().then_some(if front { DoorSide::Front } else { DoorSide::Side }),
            authenticated: copy.filtering.authenticated,
            spam_filtered: copy.filtering.spam_filtered,
        }
    }
}
