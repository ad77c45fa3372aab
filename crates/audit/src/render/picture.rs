//! What the mail-flow picture shows, decided once for every drawing of it ([`super::dot`],
//! [`super::svg`], the HTML report's).
//!
//! Mail runs internet → gateway (the MX) → doorman's edge → the tenant's mailboxes. A side
//! door is mail the edge accepts from a client that is not the gateway, so it is drawn as a
//! red arrow from the internet into the **edge**, around the gateway: the edge is what lets
//! it in, and what the fix changes. Doors that enter the same way (the same connector, or
//! none; spam filtering skipped or not) are one arrow, whatever their domains and networks.
//!
//! Past [`PER_TENANT_UP_TO`] tenants a picture per tenant is a wall, so the picture sums the
//! tenants up instead; `--tenant` draws the ones asked for.

use std::collections::BTreeMap;

use doorman_config::net::IpEntry;

use super::{one_line, shorten};
use crate::space::ip::{IpInterval, summarize};
use crate::{Audit, Door, TenantAudit, Verdict};

/// Tenants drawn one by one; beyond, one summary.
pub const PER_TENANT_UP_TO: usize = 25;

/// A label line is cut here: the full text is the line's tooltip.
pub const LINE: usize = 84;

#[derive(Debug, PartialEq, Eq)]
pub struct Picture {
    pub title: String,
    pub panels: Vec<Panel>,
    /// Said under the title: why the picture is a summary.
    pub note: Option<String>,
}

/// One mail flow: a tenant's, or all tenants' summed up.
#[derive(Debug, PartialEq, Eq)]
pub struct Panel {
    pub title: String,
    /// The gateway box's lines; `None` when no gateway is in front of the edge.
    pub gateway: Option<Vec<String>>,
    /// The label of the internet → edge arrow when the MX is the edge itself.
    pub mx_is_edge: Option<String>,
    /// The label of the gateway → edge arrow.
    pub front: Vec<String>,
    pub side_doors: Vec<SideDoor>,
    pub mailboxes: Vec<String>,
    /// Drawn in red when false.
    pub locked: bool,
}

/// One red arrow: every side door that enters the edge the same way.
#[derive(Debug, PartialEq, Eq)]
pub struct SideDoor {
    pub lines: Vec<String>,
    /// Spam filtering is skipped too (SCL -1): drawn bold.
    pub critical: bool,
}

/// The picture of an audit: a panel per tenant, or one summary past [`PER_TENANT_UP_TO`].
pub fn picture(audit: &Audit) -> Picture {
    let n = audit.tenants.len();
    if n <= PER_TENANT_UP_TO {
        return Picture {
            title: format!("Mail flow of {}", tenants(n)),
            panels: audit.tenants.iter().map(tenant_panel).collect(),
            note: None,
        };
    }
    Picture {
        title: format!("Mail flow of {}", tenants(n)),
        panels: vec![summary_panel(audit)],
        note: Some(format!("More than {PER_TENANT_UP_TO} tenants, so summed up: --tenant NAME draws a tenant's own.")),
    }
}

pub(crate) fn tenants(n: usize) -> String {
    if n == 1 { "1 tenant".to_string() } else { format!("{n} tenants") }
}

/// A tenant's own mail flow.
pub fn tenant_panel(t: &TenantAudit) -> Panel {
    let name = one_line(&t.tenant);
    let mx_is_edge = !behind_a_gateway(t);
    let gateway = (!mx_is_edge).then(|| {
        let mx = if t.mx.is_empty() { "MX unset".to_string() } else { format!("MX {}", one_line(&t.mx.join(", "))) };
        let from = if t.gateway.is_empty() {
            "its addresses unknown".to_string()
        } else {
            format!("from {}", summary_of(&t.gateway))
        };
        vec!["gateway".to_string(), mx, from]
    });
    let mut connectors: Vec<String> = t
        .front_doors
        .iter()
        .map(|d| d.connector.as_ref().map_or("no connector".to_string(), |c| format!("connector {:?}", one_line(c))))
        .collect();
    connectors.sort();
    connectors.dedup();
    let names: Vec<&str> = connectors.iter().map(String::as_str).collect();
    let mut front = vec!["front door".to_string()];
    if !names.is_empty() {
        front.push(some_of(&names, 1));
    }
    let on_the_data = t.verdict_on_the_data.is_some();
    let mut groups: BTreeMap<(Option<&str>, bool), Vec<&Door>> = BTreeMap::new();
    for d in &t.side_doors {
        groups.entry((d.connector.as_deref(), d.critical)).or_default().push(d);
    }
    let side_doors = groups
        .into_iter()
        .map(|((connector, critical), doors)| {
            let mut first = match connector {
                None => "SIDE DOOR without a connector".to_string(),
                Some(c) => format!("SIDE DOOR through connector {:?}", one_line(c)),
            };
            if on_the_data {
                first.push_str(" (on the data given)");
            }
            if critical {
                first.push_str(", SCL -1: spam filtering skipped");
            }
            let networks: Vec<String> = doors.iter().flat_map(|d| d.networks.iter().cloned()).collect();
            let mut domains: Vec<&str> = doors.iter().map(|d| d.domain.as_str()).collect();
            domains.sort();
            domains.dedup();
            SideDoor {
                lines: vec![first, format!("from {}", summary_of(&networks)), format!("to {}", some_of(&domains, 3))],
                critical,
            }
        })
        .collect();
    let verdict = match t.verdict_on_the_data {
        Some(v) => format!("{} (on the data given: {})", t.verdict.label(), v.label()),
        None => t.verdict.label().to_string(),
    };
    let mut mailboxes = vec![format!("mailboxes of {name}"), t.verdict.label().to_string()];
    if let Some(v) = t.verdict_on_the_data {
        mailboxes.push(format!("on the data given: {}", v.label()));
    }
    Panel {
        title: format!("tenant {name}: {verdict}"),
        gateway,
        mx_is_edge: mx_is_edge.then(|| "MX: doorman itself".to_string()),
        front,
        side_doors,
        mailboxes,
        locked: t.verdict == Verdict::Locked,
    }
}

/// Every tenant in one flow: how many stand behind a gateway, and which doors are open where.
fn summary_panel(audit: &Audit) -> Panel {
    let all = &audit.tenants;
    let behind: Vec<&TenantAudit> = all.iter().filter(|t| behind_a_gateway(t)).collect();
    let direct = all.len() - behind.len();
    let mut groups: BTreeMap<(bool, bool), Vec<&str>> = BTreeMap::new();
    for t in all {
        let mut ways: Vec<(bool, bool)> = t.side_doors.iter().map(|d| (d.connector.is_some(), d.critical)).collect();
        ways.sort();
        ways.dedup();
        for way in ways {
            groups.entry(way).or_default().push(&t.tenant);
        }
    }
    let side_doors = groups
        .into_iter()
        .map(|((through_connector, critical), names)| {
            let mut first = if through_connector {
                "SIDE DOOR through a connector".to_string()
            } else {
                "SIDE DOOR without a connector".to_string()
            };
            if critical {
                first.push_str(", SCL -1: spam filtering skipped");
            }
            let names: Vec<String> = names.iter().map(|n| one_line(n)).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            SideDoor { lines: vec![first, format!("at {}: {}", tenants(names.len()), some_of(&names, 4))], critical }
        })
        .collect();
    let mut by_verdict: BTreeMap<&'static str, usize> = BTreeMap::new();
    for t in all {
        *by_verdict.entry(t.verdict.label()).or_default() += 1;
    }
    let verdicts: Vec<String> = by_verdict.iter().map(|(v, n)| format!("{n} {v}")).collect();
    Panel {
        title: format!("{}: {}", tenants(all.len()), verdicts.join(", ")),
        gateway: (!behind.is_empty())
            .then(|| vec!["gateways".to_string(), format!("the MX of {}", tenants(behind.len()))]),
        mx_is_edge: (direct > 0).then(|| format!("MX: doorman itself ({})", tenants(direct))),
        front: vec!["front door".to_string()],
        side_doors,
        mailboxes: vec![format!("mailboxes of {}", tenants(all.len())), verdicts.join(", ")],
        locked: all.iter().all(|t| t.verdict == Verdict::Locked),
    }
}

/// The tenant's MX names a gateway, not doorman itself.
fn behind_a_gateway(t: &TenantAudit) -> bool {
    !(t.gateway.is_empty() && t.mx.iter().any(|m| m.eq_ignore_ascii_case("self")))
}

/// Networks for people: CIDRs, as a door's `networks` holds them, or IP entries as the
/// gateway's are written (an address, a CIDR, a range).
fn summary_of(networks: &[String]) -> String {
    let mut ivs = Vec::new();
    for n in networks {
        match IpEntry::parse(n) {
            Ok(e) => ivs.extend(e.nets.iter().map(IpInterval::of_net)),
            Err(_) => return one_line(&networks.join(", ")),
        }
    }
    summarize(&ivs)
}

/// Up to `max` names, then how many more.
fn some_of(names: &[&str], max: usize) -> String {
    let shown: Vec<String> = names.iter().take(max).map(|n| one_line(n)).collect();
    match names.len().saturating_sub(max) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// A label line as drawn: one line, cut at [`LINE`].
pub fn drawn(line: &str) -> String {
    shorten(&one_line(line), LINE)
}
