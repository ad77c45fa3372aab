//! The report of one tenant: its doors, the classes refused or deleted, the verdict, the
//! findings and the fixes, all read off the class table ([`crate::classes`]).
//!
//! The types are here; [`walk`] reads the classes, [`findings`] and [`fixes`] what follows from
//! them.

mod findings;
mod fixes;
mod walk;

use std::net::IpAddr;

use doorman_policy::{Evaluation, MessageHeaders, Transaction};
use serde::Serialize;

use crate::doors::{DispositionKind, GatewaySource, ReplyCode};

pub use fixes::tenant_snippet;
pub use walk::audit_tenant;

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
    /// Whether the door's mail is authenticated (SPF, DKIM, DMARC) and spam-filtered, or
    /// skips them, and why.
    pub filtering: DoorFiltering,
    /// For a side door: one session of the class, as a client opens it ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<Example>,
    /// ... and evaluated with the full trace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example: Option<Box<Evaluation>>,
}

/// What happens to a door's mail after it is accepted, as the engine plans it.
#[derive(Debug, Serialize)]
pub struct DoorFiltering {
    pub authenticated: bool,
    pub spam_filtered: bool,
    /// Why it skips both: `rule "…" set SCL -1`, or an on-premises connector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped_because: Option<String>,
}

/// Refused classes sharing recipient domain, sender class and reply.
#[derive(Debug, Serialize)]
pub struct Refused {
    pub domain: String,
    /// The client networks, exactly, as the fewest CIDRs.
    pub networks: Vec<String>,
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
    /// The client networks, exactly, as the fewest CIDRs.
    pub networks: Vec<String>,
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

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
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
    GatewayWithoutEnhancedFiltering,
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
            FindingCode::GatewayWithoutEnhancedFiltering => "gateway_without_enhanced_filtering",
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
    /// The `doorman explain` arguments that replay this session, one word each.
    pub fn explain_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        // `--flag=value` where the value would read as a flag of its own.
        let mut push = |flag: &str, value: String| {
            if value.starts_with('-') {
                args.push(format!("{flag}={value}"));
            } else {
                args.extend([flag.to_string(), value]);
            }
        };
        push("--client-ip", self.client_ip.to_string());
        for n in self.tls.iter().flatten() {
            push("--client-cert-name", n.clone());
        }
        let from = if self.mail_from.is_empty() { "<>" } else { self.mail_from.as_str() };
        push("--mail-from", from.to_string());
        for r in &self.rcpts {
            push("--rcpt", r.clone());
        }
        for (name, value) in &self.headers {
            push("--header", format!("{name}: {value}"));
        }
        if let Some(peer) = self.proxy_peer {
            push("--proxy-peer", peer.to_string());
        }
        if self.tls.as_ref().is_some_and(Vec::is_empty) {
            args.push("--tls".into());
        }
        if self.smtputf8 {
            args.push("--smtputf8".into());
        }
        args
    }

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
