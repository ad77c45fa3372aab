//! What a report finds beyond its doors: open relay, side doors, unused rules and
//! connectors, forgeable SCL -1 rules, dead block-list entries, content that decides.

use std::collections::{BTreeMap, BTreeSet};

use doorman_config::{RuleMode, Tenant};
use doorman_policy::{Detail, Policy};

use crate::classes::Table;
use crate::doors::Gateway;
use crate::space::Space;
use crate::space::ip::IpInterval;

use super::fixes::*;
use super::walk::*;
use super::*;

/// No class may relay to a domain no tenant accepts. Attribution comes before any check of
/// the client and reads the recipient alone, so every TLS and sender class, from one
/// address of each family, is proof enough.
pub(super) fn relay_findings(policy: &Policy, table: &Table<'_>, findings: &mut Vec<Finding>) -> bool {
    let space = &table.space;
    let probes = relay_probes(policy, table);
    let (mut refused, mut accepted) = (0usize, None);
    let first_of_family = [false, true].map(|v6| space.ips.intervals.iter().position(|iv| iv.v6 == v6));
    for ip in first_of_family.into_iter().flatten() {
        for tls in 0..space.tls.len() {
            let session = space.session(ip, tls, 0);
            for s in &space.senders.classes {
                let cx = doorman_policy::RcptContext { sender: &s.path, smtputf8: true, accepted: 0 };
                for probe in &probes {
                    if policy.rcpt(&session, &cx, probe, Detail::Brief).is_accepted() {
                        accepted.get_or_insert_with(|| Example {
                            client_ip: session.client_ip,
                            tls: space.tls.classes[tls].names.clone(),
                            mail_from: s.address.clone(),
                            rcpts: vec![probe.clone()],
                            headers: Vec::new(),
                            smtputf8: true,
                            proxy_peer: policy.is_trusted_proxy(session.client_ip).then_some(session.client_ip),
                        });
                    } else {
                        refused += 1;
                    }
                }
            }
        }
    }
    match accepted {
        Some(example) => {
            findings.push(Finding {
                subject: None,
                severity: Severity::Critical,
                code: FindingCode::OpenRelay,
                message: format!(
                    "mail for a domain no tenant accepts was accepted: from {}, MAIL FROM:{} RCPT TO:{}",
                    example.client_ip, example.mail_from, example.rcpts[0]
                ),
                example: Some(example),
            });
            true
        }
        None => {
            findings.push(Finding {
                subject: None,
                severity: Severity::Info,
                code: FindingCode::NoOpenRelay,
                message: format!(
                    "no open relay: all {refused} classes were refused for a domain no tenant accepts, an address literal and a source route"
                ),
                example: None,
            });
            false
        }
    }
}

/// A recipient in a domain nobody accepts, an address literal, and a percent-hack route
/// through one of the tenant's domains.
pub(super) fn relay_probes(policy: &Policy, table: &Table<'_>) -> Vec<String> {
    let foreign = (0..)
        .map(|n| format!("relay-probe@relay{n}.doorman-audit.invalid"))
        .find(|a| a.rsplit_once('@').is_some_and(|(_, d)| policy.domain_owner(d).is_none()))
        .expect("some domain is accepted by nobody");
    let mut probes = vec![foreign.clone(), "relay-probe@[192.0.2.1]".into()];
    if let Some(r) = table.space.recipients.classes.first()
        && let Some(d) = r.mailbox.domain_name()
    {
        probes.push(format!("{}%{}@{d}", "relay-probe", foreign.rsplit_once('@').map_or("", |(_, d)| d)));
    }
    probes
}

pub(super) fn side_door_findings(cfg: &Tenant, table: &Table<'_>, audit: &mut TenantAudit) {
    let side = &audit.side_doors;
    if side.is_empty() {
        return;
    }
    let mx = cfg.mx.iter().map(|m| m.host.as_str()).collect::<Vec<_>>().join(", ");
    audit.findings.push(Finding {
        subject: None,
        severity: Severity::Critical,
        code: FindingCode::SideDoor,
        message: format!(
            "{} side door(s): senders reach {}'s mailboxes without passing its MX ({mx})",
            side.len(),
            cfg.name
        ),
        example: side.iter().find_map(|d| d.session.clone()),
    });
    if let Some(d) = side.iter().find(|d| d.critical) {
        audit.findings.push(Finding {
            subject: None,
            severity: Severity::Critical,
            code: FindingCode::SideDoorSkipsSpamFiltering,
            message: "an SCL -1 rule matches a side-door class: that mail skips spam filtering as well as the gateway"
                .into(),
            example: d.session.clone(),
        });
    }
    let v6 = |n: &String| n.contains(':');
    let v4_open = side.iter().any(|d| d.networks.iter().any(|n| !v6(n)));
    let v6_open = side.iter().any(|d| d.networks.iter().any(v6));
    if v6_open && !v4_open {
        audit.findings.push(Finding {
            subject: None,
            severity: Severity::Critical,
            code: FindingCode::Ipv6Open,
            message: "IPv4 is restricted, but IPv6 clients reach the mailboxes past the gateway".into(),
            example: None,
        });
    }
    audit.fixes.insert(0, gateway_fix(cfg, &table.gateway));
}

/// Rules no class triggers (at any content), and connectors no class is attributed to: both
/// are exact over the partition.
pub(super) fn unused_findings(
    cfg: &Tenant,
    table: &Table<'_>,
    connectors_seen: &BTreeSet<String>,
    findings: &mut Vec<Finding>,
) {
    let hit: BTreeSet<&str> =
        table.data_cells().flat_map(|c| &c.outcomes).flat_map(|o| o.outcome.rules.iter().map(String::as_str)).collect();
    for r in cfg.transport_rules.iter().filter(|r| r.enabled) {
        if hit.contains(r.name.as_str()) {
            continue;
        }
        findings.push(Finding {
            subject: Some(r.name.clone()),
            severity: Severity::Warning,
            code: FindingCode::RuleNeverMatches,
            message: format!(
                "rule {:?} matches no accepted class of sender, whatever the message says: its conditions can never hold together, or an earlier rule stops processing first",
                r.name
            ),
            example: None,
        });
    }
    for c in cfg.inbound_connectors.iter().filter(|c| c.enabled) {
        if !connectors_seen.contains(c.name.as_str()) {
            findings.push(Finding {
                subject: Some(c.name.clone()),
                severity: Severity::Warning,
                code: FindingCode::ConnectorShadowed,
                message: format!(
                    "connector {:?} is never the one a sender is attributed to: another connector always wins, or nothing can match it",
                    c.name
                ),
                example: None,
            });
        }
    }
}

/// SCL -1 rules keyed on sender domains alone, which some accepted class reaches: anyone who
/// writes that domain skips spam filtering.
pub(super) fn scl_bypass_findings(
    policy: &Policy,
    cfg: &Tenant,
    space: &Space<'_>,
    reached: &BTreeMap<String, ClassRef>,
    findings: &mut Vec<Finding>,
) {
    for r in &cfg.transport_rules {
        let c = &r.conditions;
        let keyed_on_domain = r.enabled
            && r.mode == RuleMode::Enforce
            && r.actions.set_scl.is_some_and(|s| s.0 == -1)
            && !c.sender_domain_is.is_empty()
            && c.sender_ip_ranges.is_empty()
            && c.inbound_connector.is_empty()
            && c.tls_certificate_name.is_empty()
            && c.from_scope != Some(doorman_config::FromScope::InOrganization);
        let Some(class) = reached.get(&r.name).filter(|_| keyed_on_domain) else { continue };
        findings.push(Finding {
            subject: Some(r.name.clone()),
            severity: Severity::Critical,
            code: FindingCode::SclBypassBySenderDomain,
            message: format!(
                "rule {:?} skips spam filtering (SCL -1) for sender domains only; anyone can forge them. Key it on the gateway's IPs or connector",
                r.name
            ),
            example: Some(class.example(policy, space)),
        });
    }
}

/// Block-list entries every address of which the allow list holds too: allow beats block.
/// The space's intervals are cut at every entry, so checking one address each is exact.
pub(super) fn block_list_findings(cfg: &Tenant, space: &Space<'_>, findings: &mut Vec<Finding>) {
    let filter = &cfg.connection_filter;
    for b in &filter.ip_block_list {
        let inside: Vec<&IpInterval> =
            space.ips.intervals.iter().filter(|iv| b.contains(iv.representative())).collect();
        let dead = !inside.is_empty()
            && inside.iter().all(|iv| filter.ip_allow_list.iter().any(|a| a.contains(iv.representative())));
        if dead {
            findings.push(Finding {
                subject: Some(b.to_string()),
                severity: Severity::Warning,
                code: FindingCode::BlockEntryDead,
                message: format!(
                    "block-list entry {} is on the allow list too; allow beats block, so it blocks nothing",
                    b.label()
                ),
                example: None,
            });
        }
    }
}

/// Outcomes that the message's headers decide.
pub(super) fn content_findings(cfg: &Tenant, table: &Table<'_>, findings: &mut Vec<Finding>) {
    let rules: BTreeSet<String> = table.data_cells().flat_map(|c| varying_rules(cfg, c)).collect();
    if rules.is_empty() {
        return;
    }
    findings.push(Finding {
        subject: None,
        severity: Severity::Info,
        code: FindingCode::DependsOnContent,
        message: format!(
            "some outcomes depend on message content, which the sender writes: rules {} match on headers; every realisable combination was evaluated",
            rules.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>().join(", ")
        ),
        example: None,
    });
}

/// A connector the gateway delivers through, without enhanced filtering: SPF and DMARC then
/// judge the gateway's address, which no sender's SPF names, and the DNSBLs the gateway's.
/// A warning where doorman authenticates; with authentication off, a note for when it is on.
pub(super) fn enhanced_filtering_findings(
    cfg: &Tenant,
    gateway: &Gateway,
    authenticating: bool,
    findings: &mut Vec<Finding>,
) {
    if gateway.mx_self || gateway.networks.is_empty() {
        return;
    }
    for c in cfg.inbound_connectors.iter().filter(|c| c.enabled && c.enhanced_filtering.is_none()) {
        let takes_gateway = c.sender_ip_addresses.iter().any(|e| {
            e.nets
                .iter()
                .any(|n| gateway.networks.iter().any(|g| g.nets.iter().any(|m| m.contains(n) || n.contains(m))))
        });
        if !takes_gateway {
            continue;
        }
        findings.push(Finding {
            subject: Some(c.name.clone()),
            severity: if authenticating { Severity::Warning } else { Severity::Info },
            code: FindingCode::GatewayWithoutEnhancedFiltering,
            message: format!(
                "connector {:?} takes the gateway's mail without enhanced filtering: SPF, DMARC and the DNS block lists judge the gateway, not the sender (set enhanced_filtering = {{ skip_last_ip = true }}, EOP's -EFSkipLastIP)",
                c.name
            ),
            example: None,
        });
    }
}
