//! The walk over a tenant's class table: each RCPT class refused or accepted, each copy it
//! can be in, grouped into doors, refusals and deletions.

use std::collections::{BTreeMap, BTreeSet};

use doorman_config::{RuleMode, Tenant};
use doorman_policy::{Detail, Policy, TenantView};

use crate::classes::{DataCell, Table};
use crate::doors::{CopyOutcome, DispositionKind, DoorSide, Gateway, ReplyCode};
use crate::groups::{Groups, sender_label, tls_label};
use crate::space::ip::{networks, summarize};
use crate::space::{AcceptedIndex, Space, View};

use super::findings::*;
use super::fixes::*;
use super::*;

/// One class, as an example session is made from it.
#[derive(Clone, Debug)]
pub(super) struct ClassRef {
    ip: usize,
    tls: usize,
    sender: usize,
    recipients: Vec<usize>,
    from: usize,
    fields: crate::space::content::Fields,
}

impl ClassRef {
    /// A session of the class, with the header block its DATA was evaluated with.
    pub(super) fn example(&self, policy: &Policy, space: &Space<'_>) -> Example {
        let ip = space.client_ip(self.ip);
        let mail_from = space.senders.classes[self.sender].address.clone();
        let rcpts: Vec<String> = self.recipients.iter().map(|&r| space.recipients.classes[r].address.clone()).collect();
        Example {
            client_ip: ip,
            tls: space.tls.classes[self.tls].names.clone(),
            smtputf8: !mail_from.is_ascii() || rcpts.iter().any(|r| !r.is_ascii()),
            mail_from,
            rcpts,
            headers: self.fields.clone(),
            proxy_peer: policy.is_trusted_proxy(ip).then_some(ip),
        }
    }
}

pub(super) type DoorKey = (bool, Shared, Option<String>, Option<i8>, DispositionKind);

pub fn audit_tenant(policy: &Policy, t: TenantView<'_>, index: &AcceptedIndex) -> TenantAudit {
    let cfg = t.config;
    let gateway = Gateway::of(cfg);
    let mut audit = TenantAudit {
        tenant: cfg.name.clone(),
        mx: cfg.mx.iter().map(|m| m.host.clone()).collect(),
        gateway: gateway.networks.iter().map(|e| e.to_string()).collect(),
        gateway_source: gateway.source,
        gateway_certificate: gateway_certificate(cfg),
        verdict: Verdict::NotAudited,
        not_audited: None,
        missing_input: Vec::new(),
        verdict_on_the_data: None,
        evaluations: 0,
        front_doors: Vec::new(),
        side_doors: Vec::new(),
        refused: Vec::new(),
        deleted: Vec::new(),
        findings: Vec::new(),
        fixes: Vec::new(),
    };
    let not_audited = |mut a: TenantAudit, why: String| {
        a.findings.push(Finding {
            severity: Severity::Warning,
            code: FindingCode::NotAudited,
            message: format!("not audited: {why}"),
            subject: None,
            example: None,
        });
        a.not_audited = Some(why);
        a
    };
    if cfg.accepted_domains.is_empty() {
        return not_audited(audit, "the tenant has no accepted domain, so no recipient is attributed to it".into());
    }
    if cfg.mx.is_empty() {
        return not_audited(
            audit,
            "the tenant's mx is not set, so the front door is unknown (give mx = [\"self\"] or the gateway's host and addresses)"
                .into(),
        );
    }
    let space = match Space::new(vec![View { policy, tenant: t.id }], &[index]) {
        Ok(s) => s,
        Err(e) => return not_audited(audit, e.0),
    };
    if space.recipients.is_empty() {
        return not_audited(audit, "none of its accepted domains is attributed to it".into());
    }
    let table = match Table::build(space, 0) {
        Ok(t) => t,
        Err(e) => return not_audited(audit, e.0),
    };
    fill(policy, cfg, &table, &mut audit);
    audit
}

/// What the report collects while it walks the class table.
pub(super) struct Collect {
    doors: Groups<DoorKey, ClassRef>,
    /// Payload: the reply as the group's first class gets it.
    refused: Groups<(Shared, RefusedAt, Option<String>, ReplyCode), String>,
    deleted: Groups<(Shared, Vec<String>), ()>,
    connectors_seen: BTreeSet<String>,
    direct_send_open: Option<ClassRef>,
    /// SCL -1 rules, each with a class that reaches a person through it.
    scl_rules: BTreeMap<String, ClassRef>,
}

/// Everything a report says, read off `table`.
pub(super) fn fill(policy: &Policy, cfg: &Tenant, table: &Table<'_>, audit: &mut TenantAudit) {
    let space = &table.space;
    audit.evaluations = table.evaluations;
    let mut c = Collect {
        doors: Groups::new(),
        refused: Groups::new(),
        deleted: Groups::new(),
        connectors_seen: BTreeSet::new(),
        direct_send_open: None,
        scl_rules: BTreeMap::new(),
    };
    for ip in 0..space.ips.intervals.len() {
        for tls in 0..space.tls.len() {
            for s in 0..space.senders.len() {
                for d in 0..space.dnsbl.len() {
                    for r in 0..space.recipients.len() {
                        let class = ClassRef { ip, tls, sender: s, recipients: vec![r], from: 0, fields: Vec::new() };
                        rcpt_class(cfg, table, &class, d, &mut c);
                    }
                }
            }
        }
    }
    let Collect { doors, refused, deleted, connectors_seen, direct_send_open, scl_rules } = c;

    for g in doors.joined() {
        let ((front, shared, connector, scl, disposition), ivs, class) = (g.key, g.intervals, g.first);
        let session = (!front).then(|| class.example(policy, space));
        let example = session.as_ref().map(|s| Box::new(policy.evaluate(&s.transaction(), Detail::Explained)));
        let filtering = door_filtering(policy, example.as_deref(), || class.example(policy, space));
        let door = Door {
            domain: shared.domain,
            networks: networks(&ivs),
            summary: summarize(&ivs),
            tls: tls_label(space, &g.tls),
            sender: sender_label(space, &g.senders),
            from: shared.from,
            with: shared.with,
            connector,
            scl,
            disposition,
            content: shared.content,
            critical: !front && scl == Some(-1),
            filtering,
            session,
            example,
        };
        if front { audit.front_doors.push(door) } else { audit.side_doors.push(door) }
    }
    for g in refused.joined() {
        let ((shared, stage, dnsbl, code), reply) = (g.key, g.first);
        audit.refused.push(Refused {
            domain: shared.domain,
            networks: networks(&g.intervals),
            summary: summarize(&g.intervals),
            tls: tls_label(space, &g.tls),
            sender: sender_label(space, &g.senders),
            from: shared.from,
            with: shared.with,
            content: shared.content,
            stage,
            dnsbl,
            code,
            reply,
        });
    }
    for g in deleted.joined() {
        let (shared, rules) = g.key;
        audit.deleted.push(Deleted {
            domain: shared.domain,
            networks: networks(&g.intervals),
            summary: summarize(&g.intervals),
            tls: tls_label(space, &g.tls),
            sender: sender_label(space, &g.senders),
            from: shared.from,
            with: shared.with,
            content: shared.content,
            rules,
        });
    }

    let open_relay = relay_findings(policy, table, &mut audit.findings);
    audit.verdict = if open_relay {
        Verdict::OpenRelay
    } else if audit.side_doors.is_empty() {
        Verdict::Locked
    } else {
        Verdict::SideDoorOpen
    };
    side_door_findings(cfg, table, audit);
    unused_findings(cfg, table, &connectors_seen, &mut audit.findings);
    if let Some(class) = direct_send_open {
        audit.findings.push(Finding {
            subject: None,
            severity: Severity::Warning,
            code: FindingCode::DirectSendOpen,
            message:
                "reject_direct_send is off, and anonymous senders using the tenant's own domains reach its mailboxes"
                    .into(),
            example: Some(class.example(policy, space)),
        });
        audit.fixes.push(Fix {
            title: "Refuse direct send (Set-OrganizationConfig -RejectDirectSend $true)".into(),
            closes: FindingCode::DirectSendOpen,
            change: Change::RejectDirectSend,
            toml: "reject_direct_send = true\n".into(),
        });
    }
    scl_bypass_findings(policy, cfg, space, &scl_rules, &mut audit.findings);
    enhanced_filtering_findings(
        cfg,
        &table.gateway,
        policy.config().server.authentication.enabled,
        &mut audit.findings,
    );
    block_list_findings(cfg, space, &mut audit.findings);
    content_findings(cfg, table, &mut audit.findings);
}

/// One RCPT class: refused with its reply, or accepted, and then every copy it can be in.
pub(super) fn rcpt_class(cfg: &Tenant, table: &Table<'_>, class: &ClassRef, d: usize, c: &mut Collect) {
    let space = &table.space;
    let (ip, tls, s, r) = (class.ip, class.tls, class.sender, class.recipients[0]);
    let iv = space.ips.intervals[ip];
    let cell = table.rcpt(ip, tls, s, d, r);
    if let Some(m) = &cell.connector {
        c.connectors_seen.insert(m.name.to_string());
    }
    let shared = |from: Option<String>, with: Option<String>, content: Vec<String>| Shared {
        domain: space.recipients.classes[r].domain.clone(),
        from,
        with,
        content,
    };
    let Some(_) = &cell.accepted else {
        let code = ReplyCode::of(&cell.reply);
        // A client listed in a DNSBL that gets the unlisted client's refusal is refused for
        // another reason: only a refusal of its own is the DNSBL's.
        let dnsbl = match d {
            0 => None,
            _ if ReplyCode::of(&table.rcpt(ip, tls, s, 0, r).reply) == code => return,
            _ => Some(space.dnsbl.classes[d].label.clone()),
        };
        c.refused
            .add((shared(None, None, Vec::new()), RefusedAt::Rcpt, dnsbl, code), s, tls, iv, || cell.reply.to_string());
        return;
    };
    // DATA does not read DNSBL answers, and they only refuse: the doors of a listed client
    // are among those of an unlisted one.
    if d != 0 {
        return;
    }
    let authenticated = cell.connector.as_ref().is_some_and(|m| m.by.is_authenticated());
    let nf = space.froms.len();
    let alone = &space.recipients.classes[r].rule_domains;
    let alone_cells: Vec<Option<&DataCell>> = (0..nf).map(|f| table.data(ip, tls, s, f, alone)).collect();
    for combo in &table.combos_with(ip, tls, s, r) {
        let is_alone = combo.vector == *alone;
        let cells: Vec<Option<&DataCell>> = (0..nf).map(|f| table.data(ip, tls, s, f, &combo.vector)).collect();
        let sets: Vec<Vec<&CopyOutcome>> = cells.iter().flatten().map(|c| outcome_set(c)).collect();
        let from_matters = sets.windows(2).any(|w| w[0] != w[1]);
        let with = (!is_alone).then(|| {
            let others: Vec<String> = combo
                .members
                .iter()
                .filter(|&&m| m != r)
                .map(|&m| space.recipients.classes[m].domain.clone())
                .collect();
            format!("with a recipient in {}", dedup_join(others))
        });
        let mut class = ClassRef { recipients: combo.members.clone(), ..class.clone() };
        let shown_froms = if from_matters { nf } else { 1 };
        for (f, cell) in cells.iter().enumerate().take(shown_froms) {
            let Some(cell) = cell else { continue };
            let from = from_matters.then(|| space.froms.classes[f].label.clone()).flatten();
            let content = varying_rules(cfg, cell);
            let mut seen: Vec<&CopyOutcome> = Vec::new();
            for co in &cell.outcomes {
                let o = &co.outcome;
                if seen.contains(&o) {
                    continue;
                }
                seen.push(o);
                // A co-recipient matters only where it changes the outcome.
                if !is_alone && alone_cells[f].is_some_and(|a| a.outcomes.iter().any(|x| x.outcome == *o)) {
                    continue;
                }
                class.from = f;
                class.fields = co.content.fields.clone();
                let shared = shared(from.clone(), with.clone(), content.clone());
                match (o.door, o.disposition) {
                    (Some(side), _) => {
                        if space.senders.classes[s].own && !authenticated && !cfg.reject_direct_send {
                            c.direct_send_open.get_or_insert_with(|| class.clone());
                        }
                        if o.scl == Some(-1) {
                            for rule in &o.rules {
                                c.scl_rules.entry(rule.clone()).or_insert_with(|| class.clone());
                            }
                        }
                        let key = (side == DoorSide::Front, shared, o.connector.clone(), o.scl, o.disposition);
                        c.doors.add(key, s, tls, iv, || class.clone());
                    }
                    (None, DispositionKind::Reject) => {
                        let code = o.reject.expect("a rejected copy has the rule's reply");
                        c.refused.add((shared, RefusedAt::Data, None, code), s, tls, iv, || rule_reply_text(cfg, o));
                    }
                    (None, _) => c.deleted.add((shared, o.rules.clone()), s, tls, iv, || ()),
                }
            }
        }
    }
}

pub(super) fn dedup_join(mut items: Vec<String>) -> String {
    items.sort();
    items.dedup();
    items.join(" and ")
}

/// The distinct outcomes of a copy class, whatever the content.
pub(super) fn outcome_set(cell: &DataCell) -> Vec<&CopyOutcome> {
    let mut v: Vec<&CopyOutcome> = cell.outcomes.iter().map(|o| &o.outcome).collect();
    v.sort_by_key(|o| format!("{o:?}"));
    v.dedup();
    v
}

/// Rules on message content that match for some content and not for other: what a
/// content-dependent outcome depends on. A rule that reads no content but follows from one
/// that does (it runs only when an earlier one did not delete) is not named: the sender
/// decides its match only through the other.
pub(super) fn varying_rules(cfg: &Tenant, cell: &DataCell) -> Vec<String> {
    if !cell.varies() {
        return Vec::new();
    }
    let reads_content = |name: &str| {
        cfg.transport_rules.iter().any(|r| {
            r.name == name && !(r.conditions.header_contains.is_empty() && r.exceptions.header_contains.is_empty())
        })
    };
    let all: BTreeSet<&String> = cell.outcomes.iter().flat_map(|o| &o.outcome.rules).collect();
    all.into_iter()
        .filter(|r| reads_content(r) && !cell.outcomes.iter().all(|o| o.outcome.rules.contains(r)))
        .cloned()
        .collect()
}

pub(super) fn rule_reply_text(cfg: &Tenant, o: &CopyOutcome) -> String {
    let rule = o.rules.iter().rev().find_map(|n| {
        cfg.transport_rules.iter().find(|r| &r.name == n && r.mode == RuleMode::Enforce && r.actions.reject.is_some())
    });
    match rule.and_then(|r| r.actions.reject.as_ref()) {
        Some(r) => doorman_policy::Reply::rule_reject(r.enhanced_status_code, &r.text).to_string(),
        None => o.reject.map_or_else(String::new, |c| c.to_string()),
    }
}

/// What the engine plans for the door's mail after acceptance: the copy in its example
/// evaluation (a front door's example is made here, as it has none).
fn door_filtering(policy: &Policy, example: Option<&Evaluation>, make: impl FnOnce() -> Example) -> DoorFiltering {
    let own;
    let evaluation = match example {
        Some(e) => e,
        None => {
            own = policy.evaluate(&make().transaction(), Detail::Brief);
            &own
        }
    };
    let copy = evaluation.data.as_ref().and_then(|d| d.copies.first());
    DoorFiltering {
        authenticated: copy.is_some_and(|c| c.filtering.authenticated),
        spam_filtered: copy.is_some_and(|c| c.filtering.spam_filtered),
        skipped_because: copy.and_then(|c| c.exemption.as_ref()).map(|e| e.to_string()),
    }
}
