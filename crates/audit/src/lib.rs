//! doorman's mail-flow analyzer (`doorman audit`): for every tenant, which senders can reach a
//! mailbox, and by which path. Pure, like the engine it drives: no I/O.
//!
//! The sender space is split into classes the policy treats alike ([`space`]); each class is
//! run through [`Policy::evaluate`], the same functions the edge calls, so the result is exact,
//! not sampled. A class accepted through a connector matched by IP or certificate (or any
//! class, when the tenant's MX is doorman itself) came in by the front door. Anything else that
//! is accepted while the MX names another host is a side door.

pub mod diff;
pub mod render;
pub mod space;

use std::collections::BTreeMap;

use doorman_config::address::ReversePath;
use doorman_config::net::IpEntry;
use doorman_config::{ConnectorType, DomainType, Tenant};
use doorman_policy::{
    ClientCertificate, Detail, Evaluation, MailParams, MessageHeaders, Policy, RcptContext, Session, TenantView,
    TlsInfo, Transaction,
};
use serde::Serialize;

use space::{IpInterval, SenderClass, TlsClass, ip_entries, ip_intervals, sender_classes, tls_classes};

/// Version tag of the JSON form; see docs/audit-json.md.
pub const AUDIT_SCHEMA: &str = "doorman.audit/1";

#[derive(Debug, Serialize)]
pub struct Audit {
    pub schema: &'static str,
    pub tenants: Vec<TenantAudit>,
}

impl Audit {
    /// Every tenant locked and nothing to report.
    pub fn is_clean(&self) -> bool {
        self.tenants
            .iter()
            .all(|t| t.verdict == Verdict::Locked && t.findings.iter().all(|f| f.severity == Severity::Info))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    Locked,
    SideDoorOpen,
    OpenRelay,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Locked => "LOCKED",
            Verdict::SideDoorOpen => "SIDE DOOR OPEN",
            Verdict::OpenRelay => "OPEN RELAY",
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
    pub gateway_source: &'static str,
    /// The certificate name an enabled connector expects, which the gateway presents.
    pub gateway_certificate: Option<String>,
    pub verdict: Verdict,
    /// Sessions evaluated: IP intervals × TLS classes × sender classes × accepted domains.
    pub classes: usize,
    /// Accepted by the front door, grouped as side doors are.
    pub front_doors: Vec<Door>,
    pub side_doors: Vec<Door>,
    /// Classes refused, with the reply they get.
    pub refused: Vec<Refused>,
    pub findings: Vec<Finding>,
    pub fixes: Vec<Fix>,
}

/// Accepted sessions sharing recipient domain, TLS class, sender class, connector and SCL;
/// their client addresses as the fewest CIDRs.
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
    /// The connector that took the mail, if any.
    pub connector: Option<String>,
    pub scl: Option<i8>,
    /// A side door through which spam filtering is skipped too (SCL -1).
    pub critical: bool,
    /// For a side door: one session of the class, evaluated with the full trace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example: Option<Box<Evaluation>>,
}

/// Refused sessions sharing recipient domain, sender class and reply.
#[derive(Debug, Serialize)]
pub struct Refused {
    pub domain: String,
    pub summary: String,
    pub tls: String,
    pub sender: String,
    pub reply: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

#[derive(Debug, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// Stable identifier, e.g. `side_door`, `scl_bypass_by_sender_domain`.
    pub code: &'static str,
    pub message: String,
    /// The rule, connector or list entry the finding is about, when it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// A config change, as TOML to paste into the tenant's section.
#[derive(Debug, Serialize)]
pub struct Fix {
    pub title: String,
    pub toml: String,
}

/// Audits every tenant of `policy`, on every core (tenants are independent).
pub fn audit(policy: &Policy) -> Audit {
    let all: Vec<TenantView<'_>> = policy.tenants().collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(all.len().max(1));
    let chunk = all.len().div_ceil(threads).max(1);
    let tenants = std::thread::scope(|s| {
        let handles: Vec<_> = all
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(|t| audit_tenant(policy, t)).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    });
    Audit { schema: AUDIT_SCHEMA, tenants }
}

/// Front door?, recipient domain, sender class, connector, SCL, and one more part.
type DoorKey<T> = (bool, String, SenderClass, Option<String>, Option<i8>, T);

pub(crate) struct Outcome {
    accepted: bool,
    /// The first refusal, or the acceptance.
    reply: String,
    front: bool,
    connector: Option<String>,
    scl: Option<i8>,
    /// Transport rules whose conditions held at DATA.
    rules: Vec<String>,
}

fn audit_tenant(policy: &Policy, t: &TenantView<'_>) -> TenantAudit {
    let cfg = t.config;
    let mx_self = cfg.mx_is_self();
    let (gateway, gateway_source) = gateway(cfg);
    let mut entries = ip_entries(cfg);
    entries.extend(gateway.iter().copied());
    let intervals = ip_intervals(&entries);
    let tls = tls_classes(cfg);
    let senders = sender_classes(cfg);
    let mut classes = 0;
    let mut doors: BTreeMap<DoorKey<TlsClass>, Vec<IpInterval>> = BTreeMap::new();
    let mut relay_refused = 0usize;
    let mut rules_hit: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut connectors_seen: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut refused: BTreeMap<(String, SenderClass, String, TlsClass), Vec<IpInterval>> = BTreeMap::new();
    let mut open_relay = false;

    let probes: Vec<SenderProbe> = senders.iter().map(|sc| sender_probe(policy, sc)).collect();
    let sessions: Vec<Vec<Session>> =
        tls.iter().map(|tc| intervals.iter().map(|iv| session(iv, tc)).collect()).collect();
    for domain in &cfg.accepted_domains {
        let rcpt = representative_recipient(cfg, domain.domain.as_str(), domain.kind);
        for (tc, tls_sessions) in tls.iter().zip(&sessions) {
            for (sc, sp) in senders.iter().zip(&probes) {
                for (iv, session) in intervals.iter().zip(tls_sessions) {
                    classes += 1;
                    let o = outcome(policy, session, sp, &rcpt);
                    rules_hit.extend(o.rules.iter().cloned());
                    if let Some(c) = &o.connector {
                        connectors_seen.insert(c.clone());
                    }
                    if !o.accepted {
                        refused
                            .entry((domain.domain.to_string(), sc.clone(), o.reply, tc.clone()))
                            .or_default()
                            .push(*iv);
                        continue;
                    }
                    let from_gateway = gateway.iter().any(|g| g.contains(iv.representative()));
                    let front = mx_self || o.front || from_gateway;
                    doors
                        .entry((front, domain.domain.to_string(), sc.clone(), o.connector, o.scl, tc.clone()))
                        .or_default()
                        .push(*iv);
                }
            }
        }
    }
    // No class may relay to a domain no tenant accepts. Attribution looks at the recipient
    // alone, so every TLS and sender class, from one address of each family, is proof enough.
    let first_of_family: Vec<usize> =
        [false, true].iter().filter_map(|v6| intervals.iter().position(|iv| iv.v6 == *v6)).collect();
    for tls_sessions in &sessions {
        for sp in &probes {
            for &i in &first_of_family {
                if outcome(policy, &tls_sessions[i], sp, "relay-probe@relay.doorman-audit.invalid").accepted {
                    open_relay = true;
                } else {
                    relay_refused += 1;
                }
            }
        }
    }

    // Doors that differ only in TLS state are one door.
    let mut joined: BTreeMap<DoorKey<Vec<IpInterval>>, Vec<TlsClass>> = BTreeMap::new();
    for ((front, domain, sc, connector, scl, tc), ivs) in doors {
        joined.entry((front, domain, sc, connector, scl, merge(&ivs))).or_default().push(tc);
    }
    let (mut front_doors, mut side_doors) = (Vec::new(), Vec::new());
    for ((front, domain, sc, connector, scl, ivs), tcs) in joined {
        let example = (!front).then(|| {
            let rcpt = representative_recipient(cfg, &domain, kind_of(cfg, &domain));
            Box::new(example(policy, &ivs[0], &tcs[0], &sc, &rcpt))
        });
        let tls_label = if tcs.len() == tls.len() {
            "any TLS state".to_string()
        } else {
            tcs.iter().map(|t| t.label()).collect::<Vec<_>>().join(" or ")
        };
        let door = Door {
            domain,
            networks: ivs.iter().flat_map(|iv| iv.nets()).map(|n| n.to_string()).collect(),
            summary: space::summarize(&ivs),
            tls: tls_label,
            sender: sc.label(),
            connector,
            scl,
            critical: !front && scl == Some(-1),
            example,
        };
        if front { front_doors.push(door) } else { side_doors.push(door) }
    }

    let verdict = if open_relay {
        Verdict::OpenRelay
    } else if side_doors.is_empty() {
        Verdict::Locked
    } else {
        Verdict::SideDoorOpen
    };
    let mut findings = Vec::new();
    let mut fixes = Vec::new();
    findings.push(if open_relay {
        Finding {
            subject: None,
            severity: Severity::Critical,
            code: "open_relay",
            message: "mail for a domain no tenant accepts was accepted".into(),
        }
    } else {
        Finding {
            subject: None,
            severity: Severity::Info,
            code: "no_open_relay",
            message: format!("no open relay: all {relay_refused} classes were refused for a foreign domain"),
        }
    });
    side_door_findings(cfg, &gateway, &side_doors, &mut findings, &mut fixes);
    unused_findings(cfg, &rules_hit, &connectors_seen, &mut findings);
    let mut refused_joined: BTreeMap<(String, SenderClass, String, Vec<IpInterval>), Vec<TlsClass>> = BTreeMap::new();
    for ((domain, sc, reply, tc), ivs) in refused {
        refused_joined.entry((domain, sc, reply, merge(&ivs))).or_default().push(tc);
    }
    let refused: Vec<Refused> = refused_joined
        .into_iter()
        .map(|((domain, sc, reply, ivs), tcs)| Refused {
            domain,
            summary: space::summarize(&ivs),
            tls: if tcs.len() == tls.len() {
                "any TLS state".to_string()
            } else {
                tcs.iter().map(|t| t.label()).collect::<Vec<_>>().join(" or ")
            },
            sender: sc.label(),
            reply,
        })
        .collect();
    let anonymous_direct_send =
        front_doors.iter().chain(&side_doors).any(|d| d.connector.is_none() && d.sender.contains("(direct send)"));
    if !cfg.reject_direct_send && anonymous_direct_send {
        findings.push(Finding {
            subject: None,
            severity: Severity::Warning,
            code: "direct_send_open",
            message: "reject_direct_send is off, and anonymous senders using the tenant's own domains are accepted"
                .into(),
        });
        fixes.push(Fix {
            title: "Refuse direct send (Set-OrganizationConfig -RejectDirectSend $true)".into(),
            toml: "reject_direct_send = true\n".into(),
        });
    }
    config_findings(cfg, &mut findings);
    TenantAudit {
        tenant: cfg.name.clone(),
        mx: cfg.mx.iter().map(|m| m.host.clone()).collect(),
        gateway: gateway.iter().map(|e| e.to_string()).collect(),
        gateway_source,
        gateway_certificate: gateway_certificate(cfg),
        verdict,
        classes,
        front_doors,
        side_doors,
        refused,
        findings,
        fixes,
    }
}

/// Where the gateway's mail comes from: the MX hosts' `addresses`, or, when none are given,
/// what the config trusts already (connector networks, the ranges of SCL -1 rules).
fn gateway(cfg: &Tenant) -> (Vec<&IpEntry>, &'static str) {
    if cfg.mx_is_self() {
        return (Vec::new(), "none");
    }
    let given: Vec<&IpEntry> = cfg.mx.iter().flat_map(|m| &m.addresses).collect();
    if !given.is_empty() {
        return (given, "mx");
    }
    let mut inferred: Vec<&IpEntry> =
        cfg.inbound_connectors.iter().filter(|c| c.enabled).flat_map(|c| &c.sender_ip_addresses).collect();
    for r in cfg.transport_rules.iter().filter(|r| r.enabled) {
        if r.actions.set_scl.is_some_and(|s| s.0 == -1) {
            inferred.extend(&r.conditions.sender_ip_ranges);
        }
    }
    let source = if inferred.is_empty() { "none" } else { "inferred" };
    (inferred, source)
}

fn gateway_certificate(cfg: &Tenant) -> Option<String> {
    cfg.inbound_connectors
        .iter()
        .filter(|c| c.enabled)
        .find_map(|c| c.tls_sender_certificate_name.as_ref().map(|p| p.to_string()))
}

fn kind_of(cfg: &Tenant, domain: &str) -> DomainType {
    cfg.accepted_domains.iter().find(|d| d.domain.as_str() == domain).map_or(DomainType::Authoritative, |d| d.kind)
}

/// A recipient of `domain` the directory holds (for authoritative domains), so the directory
/// check passes and what is left is the path.
fn representative_recipient(cfg: &Tenant, domain: &str, kind: DomainType) -> String {
    let known = cfg
        .recipients
        .iter()
        .chain(cfg.recipients_from_file.iter().map(|(m, _)| m))
        .find(|m| m.domain().eq_ignore_ascii_case(domain));
    match (kind, known) {
        (_, Some(m)) => m.to_string(),
        (DomainType::InternalRelay, None) => format!("anyone@{domain}"),
        (DomainType::Authoritative, None) => format!("postmaster@{domain}"),
    }
}

fn transaction(iv: &IpInterval, tc: &TlsClass, sc: &SenderClass, rcpt: &str) -> Transaction {
    let mut tx = Transaction::new(iv.representative(), sc.address(), &[rcpt]);
    // Any client may ask for SMTPUTF8, so a non-ASCII recipient is no barrier.
    tx.smtputf8 = true;
    let cert = match tc {
        TlsClass::None => None,
        TlsClass::NoCertificate => Some(ClientCertificate::None),
        TlsClass::Certificate(n) => Some(ClientCertificate::Verified { names: vec![n.clone()] }),
        TlsClass::OtherCertificate => {
            Some(ClientCertificate::Verified { names: vec![space::OTHER_CERTIFICATE.into()] })
        }
    };
    if let Some(c) = cert {
        tx.session = tx.session.with_tls(TlsInfo::new("TLSv1.3", "TLS13_AES_256_GCM_SHA384", c));
    }
    let from = sc.address();
    let from = from.trim_matches(['<', '>']);
    if !from.is_empty() {
        tx.headers = MessageHeaders::from_pairs([("From", from)]);
    }
    tx
}

/// A sender class as the stages take it, parsed once.
pub(crate) struct SenderProbe {
    sender: ReversePath,
    headers: MessageHeaders,
}

pub(crate) fn sender_probe(policy: &Policy, sc: &SenderClass) -> SenderProbe {
    let params = MailParams { size: None, smtputf8: true };
    let sender = policy.mail_from(&sc.address(), &params, Detail::Brief).sender.unwrap_or(ReversePath::Null);
    let from = sc.address();
    let from = from.trim_matches(['<', '>']);
    let headers =
        if from.is_empty() { MessageHeaders::default() } else { MessageHeaders::from_pairs([("From", from)]) };
    SenderProbe { sender, headers }
}

pub(crate) fn session(iv: &IpInterval, tc: &TlsClass) -> Session {
    transaction(iv, tc, &SenderClass::Null, "x@x.invalid").session
}

/// RCPT, then DATA when accepted: what [`Policy::evaluate`] decides for one recipient, without
/// building its report (the audit makes millions of these).
pub(crate) fn outcome(policy: &Policy, session: &Session, sp: &SenderProbe, rcpt: &str) -> Outcome {
    let cx = RcptContext { sender: &sp.sender, smtputf8: true, accepted: 0 };
    let d = policy.rcpt(session, &cx, rcpt, Detail::Brief);
    let front = d.connector.as_ref().is_some_and(|c| c.by.is_authenticated());
    let connector = d.connector.as_ref().map(|c| c.name.to_string());
    let Some(accepted) = d.accepted else {
        return Outcome { accepted: false, reply: d.reply.to_string(), front, connector, scl: None, rules: Vec::new() };
    };
    let size = sp.headers.block_size();
    let data = policy.data(session, &sp.sender, std::slice::from_ref(&accepted), &sp.headers, size, Detail::Brief);
    let copy = data.copies.first();
    let scl = copy.and_then(|c| c.scl).map(|s| s.0);
    let rules = copy.map(|c| c.rules_hit.iter().map(|h| h.name.clone()).collect()).unwrap_or_default();
    match data.reply {
        Some(r) => Outcome { accepted: false, reply: r.to_string(), front, connector, scl, rules },
        None => Outcome { accepted: true, reply: d.reply.to_string(), front, connector, scl, rules },
    }
}

fn example(policy: &Policy, iv: &IpInterval, tc: &TlsClass, sc: &SenderClass, rcpt: &str) -> Evaluation {
    policy.evaluate(&transaction(iv, tc, sc, rcpt), Detail::Explained)
}

/// Adjacent intervals joined.
fn merge(ivs: &[IpInterval]) -> Vec<IpInterval> {
    let mut sorted = ivs.to_vec();
    sorted.sort();
    let mut out: Vec<IpInterval> = Vec::new();
    for iv in sorted {
        match out.last_mut() {
            Some(last) if last.v6 == iv.v6 && last.last.checked_add(1) == Some(iv.first) => last.last = iv.last,
            _ => out.push(iv),
        }
    }
    out
}

fn side_door_findings(
    cfg: &Tenant,
    gateway: &[&IpEntry],
    side: &[Door],
    findings: &mut Vec<Finding>,
    fixes: &mut Vec<Fix>,
) {
    if side.is_empty() {
        return;
    }
    let mx = cfg.mx.iter().map(|m| m.host.as_str()).collect::<Vec<_>>().join(", ");
    findings.push(Finding {
        subject: None,
        severity: Severity::Critical,
        code: "side_door",
        message: format!(
            "{} class(es) of sender reach {}'s mailboxes without passing its MX ({mx})",
            side.len(),
            cfg.name
        ),
    });
    if side.iter().any(|d| d.critical) {
        findings.push(Finding {
            subject: None,
            severity: Severity::Critical,
            code: "side_door_skips_spam_filtering",
            message: "an SCL -1 rule matches a side-door class: that mail skips spam filtering as well as the gateway"
                .into(),
        });
    }
    let v4_open = side.iter().any(|d| d.networks.iter().any(|n| !n.contains(':')));
    let v6_open = side.iter().any(|d| d.networks.iter().any(|n| n.contains(':')));
    if v6_open && !v4_open {
        findings.push(Finding {
            subject: None,
            severity: Severity::Critical,
            code: "ipv6_open",
            message: "IPv4 is restricted, but IPv6 clients reach the mailboxes past the gateway".into(),
        });
    }
    fixes.insert(0, gateway_fix(cfg, gateway));
}

/// The smallest change that closes the side door: restrict a Partner connector for every
/// sender domain to what the gateway is known by.
fn gateway_fix(cfg: &Tenant, gateway: &[&IpEntry]) -> Fix {
    let existing = cfg.inbound_connectors.iter().find(|c| {
        c.enabled
            && c.kind == ConnectorType::Partner
            && c.sender_domains.iter().any(|p| p.to_string() == "*")
            && !c.restricts()
            && (!c.sender_ip_addresses.is_empty() || c.tls_sender_certificate_name.is_some())
    });
    if let Some(c) = existing {
        let key = if c.sender_ip_addresses.is_empty() {
            "restrict_domains_to_certificate"
        } else {
            "restrict_domains_to_ip_addresses"
        };
        return Fix {
            title: format!("Restrict the existing Partner connector {:?} to its gateway", c.name),
            toml: format!("# in [[tenants.inbound_connectors]] name = {:?}\n{key} = true\n", c.name),
        };
    }
    // The gateway as the audit knows it (given with the MX, or inferred), else its certificate.
    let mut ips: Vec<String> = gateway.iter().map(|e| e.to_string()).collect();
    ips.sort();
    ips.dedup();
    let cert = gateway_certificate(cfg);
    let mut toml = String::from(
        "[[tenants.inbound_connectors]]\nname = \"Inbound only from the gateway\"\ntype = \"partner\"\nsender_domains = [\"*\"]\n",
    );
    match (ips.is_empty(), &cert) {
        (false, _) => {
            let list: Vec<String> = ips.iter().map(|i| format!("{i:?}")).collect();
            toml.push_str(&format!(
                "sender_ip_addresses = [{}]\nrestrict_domains_to_ip_addresses = true\n",
                list.join(", ")
            ));
        }
        (true, Some(name)) => {
            toml.push_str(&format!("tls_sender_certificate_name = {name:?}\nrestrict_domains_to_certificate = true\n"));
        }
        (true, None) => {
            toml.push_str("sender_ip_addresses = [\"GATEWAY-NETWORK/PREFIX\"]  # your gateway's outbound addresses\nrestrict_domains_to_ip_addresses = true\n");
        }
    }
    toml.push_str("require_tls = true\n");
    Fix { title: "Accept mail only from the gateway (a Partner connector for every sender domain)".into(), toml }
}

/// Rules no class of sender triggers, and connectors no class is attributed to. Rules that look
/// at headers other than `From` are left out: the audit does not enumerate message contents.
fn unused_findings(
    cfg: &Tenant,
    rules_hit: &std::collections::BTreeSet<String>,
    connectors_seen: &std::collections::BTreeSet<String>,
    findings: &mut Vec<Finding>,
) {
    for r in cfg.transport_rules.iter().filter(|r| r.enabled) {
        if !r.conditions.header_contains.is_empty() || rules_hit.contains(&r.name) {
            continue;
        }
        findings.push(Finding {
            subject: Some(r.name.clone()),
            severity: Severity::Warning,
            code: "rule_never_matches",
            message: format!("rule {:?} matches no accepted class of sender: its conditions can never hold together, or an earlier rule stops processing first", r.name),
        });
    }
    for c in cfg.inbound_connectors.iter().filter(|c| c.enabled) {
        if !connectors_seen.contains(c.name.as_str()) {
            findings.push(Finding {
                subject: Some(c.name.clone()),
                severity: Severity::Warning,
                code: "connector_shadowed",
                message: format!("connector {:?} is never the one a sender is attributed to: another connector always wins, or nothing can match it", c.name),
            });
        }
    }
}

/// Findings that need no evaluation: what the config itself says.
fn config_findings(cfg: &Tenant, findings: &mut Vec<Finding>) {
    for r in &cfg.transport_rules {
        let c = &r.conditions;
        if r.enabled
            && r.actions.set_scl.is_some_and(|s| s.0 == -1)
            && !c.sender_domain_is.is_empty()
            && c.sender_ip_ranges.is_empty()
            && c.inbound_connector.is_empty()
            && c.tls_certificate_name.is_empty()
        {
            findings.push(Finding {
                subject: Some(r.name.clone()),
                severity: Severity::Critical,
                code: "scl_bypass_by_sender_domain",
                message: format!(
                    "rule {:?} skips spam filtering (SCL -1) for sender domains only; anyone can forge them. Key it on the gateway's IPs or connector",
                    r.name
                ),
            });
        }
    }
    let filter = &cfg.connection_filter;
    for b in &filter.ip_block_list {
        let dead = b.nets.iter().all(|n| filter.ip_allow_list.iter().any(|a| a.nets.iter().any(|an| an.contains(n))));
        if dead {
            findings.push(Finding {
                subject: Some(b.to_string()),
                severity: Severity::Warning,
                code: "block_entry_dead",
                message: format!(
                    "block-list entry {} is on the allow list too; allow beats block, so it blocks nothing",
                    b.label()
                ),
            });
        }
    }
}
