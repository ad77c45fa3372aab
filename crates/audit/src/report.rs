//! The report of one tenant: its doors, the classes refused or deleted, the verdict, the
//! findings and the fixes, all read off the class table ([`crate::classes`]).

use std::collections::{BTreeMap, BTreeSet};

use doorman_config::{ConnectorType, RuleMode, Tenant};
use std::net::IpAddr;

use doorman_policy::{Detail, Evaluation, MessageHeaders, Policy, TenantView, Transaction};
use serde::Serialize;

use crate::classes::{DataCell, Table};
use crate::doors::{CopyOutcome, DispositionKind, DoorSide, Gateway, GatewaySource, ReplyCode};
use crate::groups::{Groups, sender_label, tls_label};
use crate::space::ip::{IpInterval, networks, summarize};
use crate::space::{AcceptedIndex, Space, View};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// No class of sender reaches a mailbox but by the front door.
    Locked,
    SideDoorOpen,
    /// Mail for a domain no tenant accepts was accepted.
    OpenRelay,
    /// Nothing could be judged: no accepted domain, no MX, or more to enumerate than the
    /// audit does. Never read as locked.
    NotAudited,
    /// The input lacks parts that decide the outcome ([`TenantAudit::missing_input`]): what the
    /// data shows is in [`TenantAudit::verdict_on_the_data`], and is not a verdict.
    Incomplete,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Locked => "LOCKED",
            Verdict::SideDoorOpen => "SIDE DOOR OPEN",
            Verdict::OpenRelay => "OPEN RELAY",
            Verdict::NotAudited => "NOT AUDITED",
            Verdict::Incomplete => "INCOMPLETE",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct TenantAudit {
    pub tenant: String,
    pub mx: Vec<String>,
    /// The networks the gateway delivers from: mail from them is the front door.
    pub gateway: Vec<String>,
    /// `mx` (given with the MX hosts), `inferred` (from connectors and SCL -1 rules), `none`.
    pub gateway_source: GatewaySource,
    /// The certificate name an enabled connector expects, which the gateway presents.
    pub gateway_certificate: Option<String>,
    pub verdict: Verdict,
    /// Why the tenant was not audited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_audited: Option<String>,
    /// What the input does not hold, when the config was read from an incomplete export.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_input: Vec<MissingInput>,
    /// With an incomplete input: the verdict the data given would earn. Not a verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict_on_the_data: Option<Verdict>,
    /// Evaluations made: one RCPT per class of client, TLS, sender, DNSBL answer and
    /// recipient; one DATA per copy class and content assignment.
    pub evaluations: usize,
    /// Classes that reach a mailbox by the front door, grouped as side doors are.
    pub front_doors: Vec<Door>,
    pub side_doors: Vec<Door>,
    /// Classes refused, at RCPT or by a rule after DATA, with the reply they get.
    pub refused: Vec<Refused>,
    /// Classes accepted and then deleted by a rule: they reach nobody.
    pub deleted: Vec<Deleted>,
    pub findings: Vec<Finding>,
    pub fixes: Vec<Fix>,
}

/// A part of the input that is missing, what its absence leaves open, and how to get it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MissingInput {
    pub what: String,
    pub consequence: String,
    pub remedy: String,
}

impl TenantAudit {
    /// Judges the tenant as one whose input lacks `missing`: the verdict becomes INCOMPLETE
    /// (NOT AUDITED stays), and what the data shows is kept as `verdict_on_the_data`.
    pub fn mark_incomplete(&mut self, missing: Vec<MissingInput>) {
        if missing.is_empty() {
            return;
        }
        if self.verdict != Verdict::NotAudited {
            self.verdict_on_the_data = Some(self.verdict);
            self.verdict = Verdict::Incomplete;
        }
        for m in &missing {
            self.findings.push(Finding {
                severity: Severity::Warning,
                code: FindingCode::InputIncomplete,
                message: format!("missing from the input: {}: {}", m.what, m.consequence),
                subject: Some(m.what.clone()),
                example: None,
            });
        }
        self.missing_input = missing;
    }
}

/// What a group of classes shares, apart from client networks and TLS.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Shared {
    domain: String,
    from: Option<String>,
    with: Option<String>,
    content: Vec<String>,
}

/// Classes that reach a mailbox and share recipient domain, sender class, connector, SCL and
/// disposition; their client addresses as the fewest CIDRs.
#[derive(Debug, Serialize)]
pub struct Door {
    pub domain: String,
    /// Every client network of the door, exactly.
    pub networks: Vec<String>,
    /// The same for people: `all IPv4 except 80.66.20.0/28`.
    pub summary: String,
    /// TLS states, joined: `any TLS state` when it makes no difference.
    pub tls: String,
    pub sender: String,
    /// The `From:` header's domain, when a rule looks at it and it matters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Other recipients in the same transaction, when they change the outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub with: Option<String>,
    /// The connector that took the mail, if any.
    pub connector: Option<String>,
    pub scl: Option<i8>,
    pub disposition: DispositionKind,
    /// Rules on message content whose match decides this outcome: the door "depends on
    /// message content", which the sender writes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub content: Vec<String>,
    /// A side door through which spam filtering is skipped too (SCL -1).
    pub critical: bool,
    /// For a side door: one session of the class, as a client opens it ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<Example>,
    /// ... and evaluated with the full trace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example: Option<Box<Evaluation>>,
}

/// Refused classes sharing recipient domain, sender class and reply.
#[derive(Debug, Serialize)]
pub struct Refused {
    pub domain: String,
    pub summary: String,
    pub tls: String,
    pub sender: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub with: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub content: Vec<String>,
    /// `rcpt`, or `data` for a rule's reject.
    pub stage: RefusedAt,
    /// When the refusal comes from a DNSBL answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnsbl: Option<String>,
    pub code: ReplyCode,
    /// The reply, as one client of the class gets it.
    pub reply: String,
}

/// Where a class is refused: at RCPT, or after DATA (a rule's reject, or a message no class
/// can make small enough).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusedAt {
    Rcpt,
    Data,
}

/// Classes accepted and then deleted by a rule.
#[derive(Debug, Serialize)]
pub struct Deleted {
    pub domain: String,
    pub summary: String,
    pub tls: String,
    pub sender: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub with: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub content: Vec<String>,
    pub rules: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// What a finding is about: a stable identifier, in the JSON as `snake_case`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingCode {
    BlockEntryDead,
    ConnectorShadowed,
    DependsOnContent,
    DirectSendOpen,
    InputIncomplete,
    Ipv6Open,
    NoOpenRelay,
    NotAudited,
    OpenRelay,
    RuleNeverMatches,
    SclBypassBySenderDomain,
    SideDoor,
    SideDoorSkipsSpamFiltering,
}

impl FindingCode {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingCode::BlockEntryDead => "block_entry_dead",
            FindingCode::ConnectorShadowed => "connector_shadowed",
            FindingCode::DependsOnContent => "depends_on_content",
            FindingCode::DirectSendOpen => "direct_send_open",
            FindingCode::InputIncomplete => "input_incomplete",
            FindingCode::Ipv6Open => "ipv6_open",
            FindingCode::NoOpenRelay => "no_open_relay",
            FindingCode::NotAudited => "not_audited",
            FindingCode::OpenRelay => "open_relay",
            FindingCode::RuleNeverMatches => "rule_never_matches",
            FindingCode::SclBypassBySenderDomain => "scl_bypass_by_sender_domain",
            FindingCode::SideDoor => "side_door",
            FindingCode::SideDoorSkipsSpamFiltering => "side_door_skips_spam_filtering",
        }
    }
}

impl std::fmt::Display for FindingCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for FindingCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[derive(Debug, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub code: FindingCode,
    pub message: String,
    /// The rule, connector or list entry the finding is about, when it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// A session the finding holds for, when it is about something that happens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example: Option<Example>,
}

/// A session of a class, as a client would open it (and as `doorman explain` takes it).
#[derive(Clone, Debug, Serialize)]
pub struct Example {
    pub client_ip: IpAddr,
    /// Present when the client uses TLS: the names on its verified certificate, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Vec<String>>,
    pub mail_from: String,
    pub rcpts: Vec<String>,
    /// Header fields, in order.
    pub headers: Vec<(String, String)>,
    /// MAIL FROM gives SMTPUTF8: an address is not ASCII.
    pub smtputf8: bool,
    /// Set when the client's address is itself a trusted proxy: the session then comes
    /// through it, as the edge only takes a PROXY header from such a peer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_peer: Option<IpAddr>,
}

impl Example {
    pub fn transaction(&self) -> Transaction {
        let rcpts: Vec<&str> = self.rcpts.iter().map(String::as_str).collect();
        let mut tx = Transaction::new(self.client_ip, self.mail_from.clone(), &rcpts);
        tx.session.tls = crate::space::TlsClass { names: self.tls.clone() }.tls_info();
        tx.headers = MessageHeaders::from_pairs(self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        tx.proxy_peer = self.proxy_peer;
        tx.smtputf8 = self.smtputf8;
        tx
    }
}

/// A config change: what it is, and as TOML to paste into the tenant's section. Other
/// outputs (Exchange Online PowerShell) are written from `change`, so they make the same fix.
#[derive(Debug, Serialize)]
pub struct Fix {
    pub title: String,
    /// The finding the fix closes.
    pub closes: FindingCode,
    pub change: Change,
    pub toml: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// Turn on the restriction of an existing Partner connector for every sender domain.
    RestrictConnector {
        connector: String,
        by: Restriction,
    },
    /// A new Partner connector for every sender domain, restricted to the gateway: by its
    /// networks, else by the certificate name it presents; with neither known, they must be
    /// filled in. `gateway_certificate` is given whenever it is known, for a platform whose
    /// connectors cannot take some of the networks (Exchange Online takes IPv4 only).
    GatewayConnector {
        sender_ip_addresses: Vec<String>,
        gateway_certificate: Option<String>,
    },
    RejectDirectSend,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Restriction {
    IpAddresses,
    Certificate,
}

/// One class, as an example session is made from it.
#[derive(Clone, Debug)]
struct ClassRef {
    ip: usize,
    tls: usize,
    sender: usize,
    recipients: Vec<usize>,
    from: usize,
    fields: crate::space::content::Fields,
}

impl ClassRef {
    /// A session of the class, with the header block its DATA was evaluated with.
    fn example(&self, policy: &Policy, space: &Space<'_>) -> Example {
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

type DoorKey = (bool, Shared, Option<String>, Option<i8>, DispositionKind);

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
struct Collect {
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
fn fill(policy: &Policy, cfg: &Tenant, table: &Table<'_>, audit: &mut TenantAudit) {
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
            session,
            example,
        };
        if front { audit.front_doors.push(door) } else { audit.side_doors.push(door) }
    }
    for g in refused.joined() {
        let ((shared, stage, dnsbl, code), reply) = (g.key, g.first);
        audit.refused.push(Refused {
            domain: shared.domain,
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
    block_list_findings(cfg, space, &mut audit.findings);
    content_findings(table, &mut audit.findings);
}

/// One RCPT class: refused with its reply, or accepted, and then every copy it can be in.
fn rcpt_class(cfg: &Tenant, table: &Table<'_>, class: &ClassRef, d: usize, c: &mut Collect) {
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
            let content = varying_rules(cell);
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

fn dedup_join(mut items: Vec<String>) -> String {
    items.sort();
    items.dedup();
    items.join(" and ")
}

/// The distinct outcomes of a copy class, whatever the content.
fn outcome_set(cell: &DataCell) -> Vec<&CopyOutcome> {
    let mut v: Vec<&CopyOutcome> = cell.outcomes.iter().map(|o| &o.outcome).collect();
    v.sort_by_key(|o| format!("{o:?}"));
    v.dedup();
    v
}

/// Rules that match for some content and not for other: what a content-dependent outcome
/// depends on.
fn varying_rules(cell: &DataCell) -> Vec<String> {
    if !cell.varies() {
        return Vec::new();
    }
    let all: BTreeSet<&String> = cell.outcomes.iter().flat_map(|o| &o.outcome.rules).collect();
    all.into_iter().filter(|r| !cell.outcomes.iter().all(|o| o.outcome.rules.contains(r))).cloned().collect()
}

fn rule_reply_text(cfg: &Tenant, o: &CopyOutcome) -> String {
    let rule = o.rules.iter().rev().find_map(|n| {
        cfg.transport_rules.iter().find(|r| &r.name == n && r.mode == RuleMode::Enforce && r.actions.reject.is_some())
    });
    match rule.and_then(|r| r.actions.reject.as_ref()) {
        Some(r) => doorman_policy::Reply::rule_reject(r.enhanced_status_code, &r.text).to_string(),
        None => o.reject.map_or_else(String::new, |c| c.to_string()),
    }
}

/// No class may relay to a domain no tenant accepts. Attribution comes before any check of
/// the client and reads the recipient alone, so every TLS and sender class, from one
/// address of each family, is proof enough.
fn relay_findings(policy: &Policy, table: &Table<'_>, findings: &mut Vec<Finding>) -> bool {
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
                        accepted.get_or_insert_with(|| (session.client_ip, s.address.clone(), probe.clone()));
                    } else {
                        refused += 1;
                    }
                }
            }
        }
    }
    match accepted {
        Some((ip, from, to)) => {
            findings.push(Finding {
                subject: None,
                severity: Severity::Critical,
                code: FindingCode::OpenRelay,
                message: format!(
                    "mail for a domain no tenant accepts was accepted: from {ip}, MAIL FROM:{from} RCPT TO:{to}"
                ),
                example: None,
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
fn relay_probes(policy: &Policy, table: &Table<'_>) -> Vec<String> {
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

fn side_door_findings(cfg: &Tenant, table: &Table<'_>, audit: &mut TenantAudit) {
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
fn unused_findings(cfg: &Tenant, table: &Table<'_>, connectors_seen: &BTreeSet<String>, findings: &mut Vec<Finding>) {
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
fn scl_bypass_findings(
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
fn block_list_findings(cfg: &Tenant, space: &Space<'_>, findings: &mut Vec<Finding>) {
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
fn content_findings(table: &Table<'_>, findings: &mut Vec<Finding>) {
    let rules: BTreeSet<String> = table.data_cells().flat_map(varying_rules).collect();
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

fn gateway_certificate(cfg: &Tenant) -> Option<String> {
    cfg.inbound_connectors
        .iter()
        .filter(|c| c.enabled)
        .find_map(|c| c.tls_sender_certificate_name.as_ref().map(|p| p.to_string()))
}

/// The smallest change that closes the side door: restrict a Partner connector for every
/// sender domain to what the gateway is known by.
fn gateway_fix(cfg: &Tenant, gateway: &Gateway) -> Fix {
    let existing = cfg.inbound_connectors.iter().find(|c| {
        c.enabled
            && c.kind == ConnectorType::Partner
            && c.sender_domains.contains(&doorman_config::names::SenderDomainPattern::Any)
            && !c.restricts()
            && (!c.sender_ip_addresses.is_empty() || c.tls_sender_certificate_name.is_some())
    });
    if let Some(c) = existing {
        let (by, key) = if c.sender_ip_addresses.is_empty() {
            (Restriction::Certificate, "restrict_domains_to_certificate")
        } else {
            (Restriction::IpAddresses, "restrict_domains_to_ip_addresses")
        };
        // A snippet cannot name one element of an array of tables, so a comment says which;
        // `{:?}` escapes every control character, so the name cannot end the comment.
        let mut change = toml_edit::DocumentMut::new();
        change[key] = toml_edit::value(true);
        change.decor_mut().set_prefix(format!("# in the [[tenants.inbound_connectors]] named {:?}:\n", c.name));
        return Fix {
            title: format!("Restrict the existing Partner connector {:?} to its gateway", c.name),
            closes: FindingCode::SideDoor,
            change: Change::RestrictConnector { connector: c.name.clone(), by },
            toml: change.to_string(),
        };
    }
    let mut ips: Vec<String> = gateway.networks.iter().map(|e| e.to_string()).collect();
    ips.sort();
    ips.dedup();
    let cert = gateway_certificate(cfg);
    let mut connector = toml_edit::Table::new();
    connector["name"] = toml_edit::value("Inbound only from the gateway");
    connector["type"] = toml_edit::value("partner");
    connector["sender_domains"] = toml_edit::value(toml_edit::Array::from_iter(["*"]));
    match &cert {
        _ if !ips.is_empty() => {
            connector["sender_ip_addresses"] =
                toml_edit::value(toml_edit::Array::from_iter(ips.iter().map(String::as_str)));
            connector["restrict_domains_to_ip_addresses"] = toml_edit::value(true);
        }
        Some(name) => {
            connector["tls_sender_certificate_name"] = toml_edit::value(name.as_str());
            connector["restrict_domains_to_certificate"] = toml_edit::value(true);
        }
        None => {
            connector["sender_ip_addresses"] =
                toml_edit::value(toml_edit::Array::from_iter(["GATEWAY-NETWORK/PREFIX"]));
            if let Some(v) = connector["sender_ip_addresses"].as_value_mut() {
                v.decor_mut().set_suffix("  # your gateway's outbound addresses");
            }
            connector["restrict_domains_to_ip_addresses"] = toml_edit::value(true);
        }
    }
    connector["require_tls"] = toml_edit::value(true);
    Fix {
        title: "Accept mail only from the gateway (a Partner connector for every sender domain)".into(),
        closes: FindingCode::SideDoor,
        change: Change::GatewayConnector { sender_ip_addresses: ips, gateway_certificate: cert },
        toml: connector_toml(connector),
    }
}

/// `[[tenants.inbound_connectors]]` holding `connector`, written by the TOML serializer.
fn connector_toml(connector: toml_edit::Table) -> String {
    tenant_snippet("inbound_connectors", connector)
}

/// `table` as one `[[tenants.<key>]]` element (a connector, a rule), written by the TOML
/// serializer, to paste into a tenant's section.
pub fn tenant_snippet(key: &str, table: toml_edit::Table) -> String {
    let mut items = toml_edit::ArrayOfTables::new();
    items.push(table);
    let mut tenant = toml_edit::Table::new();
    tenant.set_implicit(true);
    tenant.insert(key, toml_edit::Item::ArrayOfTables(items));
    let mut doc = toml_edit::DocumentMut::new();
    doc.insert("tenants", toml_edit::Item::Table(tenant));
    doc.to_string()
}
