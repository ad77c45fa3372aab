//! The trace: every step a decision evaluated, what it found and what it replied.
//!
//! Building sentences costs more than deciding, so a trace is either *explained* (each step
//! carries its sentence; `explain`, the analyzer, logging a reject) or *brief* (check and
//! outcome only; the edge's hot path). The decision is the same either way.

use serde::Serialize;

use crate::reply::Reply;

/// What a step checked. The RCPT checks are in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    ProxyTrust,
    ConnectionLimit,
    Helo,
    /// A non-ASCII address needs the SMTPUTF8 parameter (MAIL and RCPT).
    Smtputf8,
    SenderSyntax,
    /// The declared SIZE at MAIL, the message's real size at the end of DATA.
    MessageSize,
    /// `limits.max_recipients` distinct recipients per transaction.
    RecipientLimit,
    RecipientSyntax,
    TenantAttribution,
    IpBlockList,
    ConnectorAttribution,
    RequireTls,
    RejectDirectSend,
    Directory,
    Dnsbl,
    /// `Received` fields counted against a mail loop.
    HopCount,
    TransportRule,
    Scl,
    /// SPF, DKIM, ARC and DMARC, and the composite verdict.
    Authentication,
    SpamFilter,
    Disposition,
}

impl Check {
    /// Every check RCPT TO makes, in order; a renderer shows those after a reject as not reached.
    pub const RCPT_ORDER: [Check; 10] = [
        Check::Smtputf8,
        Check::RecipientLimit,
        Check::RecipientSyntax,
        Check::TenantAttribution,
        Check::IpBlockList,
        Check::ConnectorAttribution,
        Check::RequireTls,
        Check::RejectDirectSend,
        Check::Directory,
        Check::Dnsbl,
    ];

    /// The checks of the message as a whole at the end of DATA, before it forks into copies.
    pub const MESSAGE_ORDER: [Check; 2] = [Check::MessageSize, Check::HopCount];

    pub fn name(self) -> &'static str {
        match self {
            Check::ProxyTrust => "proxy_trust",
            Check::ConnectionLimit => "connection_limit",
            Check::Helo => "helo",
            Check::Smtputf8 => "smtputf8",
            Check::SenderSyntax => "sender_syntax",
            Check::MessageSize => "message_size",
            Check::RecipientLimit => "recipient_limit",
            Check::RecipientSyntax => "recipient_syntax",
            Check::TenantAttribution => "tenant_attribution",
            Check::IpBlockList => "ip_block_list",
            Check::ConnectorAttribution => "connector_attribution",
            Check::RequireTls => "require_tls",
            Check::RejectDirectSend => "reject_direct_send",
            Check::Directory => "directory",
            Check::Dnsbl => "dnsbl",
            Check::HopCount => "hop_count",
            Check::TransportRule => "transport_rule",
            Check::Scl => "scl",
            Check::Authentication => "authentication",
            Check::SpamFilter => "spam_filter",
            Check::Disposition => "disposition",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The check ran and let the session go on.
    Pass,
    /// The check did not apply (a setting is off, or an earlier fact exempts the client).
    Skip,
    /// A rule's conditions held and it acted (or, in audit mode, would have).
    Match,
    /// A rule's conditions did not hold, or an exception did.
    NoMatch,
    /// The check refused with a 5xx reply.
    Reject,
    /// The check refused with a 4xx reply: try again later.
    Defer,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Skip => "skip",
            Outcome::Match => "match",
            Outcome::NoMatch => "no match",
            Outcome::Reject => "REJECT",
            Outcome::Defer => "DEFER",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    pub check: Check,
    pub outcome: Outcome,
    /// What the check found, in a sentence; empty in a brief trace.
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<Reply>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Trace {
    pub steps: Vec<Step>,
    #[serde(skip)]
    explained: bool,
}

/// Whether to write each step's sentence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    Brief,
    Explained,
}

impl Trace {
    pub fn new(detail: Detail) -> Trace {
        // Room for every RCPT check, so a decision allocates its trace once.
        Trace { steps: Vec::with_capacity(Check::RCPT_ORDER.len()), explained: detail == Detail::Explained }
    }

    pub fn detail(&self) -> Detail {
        if self.explained { Detail::Explained } else { Detail::Brief }
    }

    /// Records a step; `detail` is only called for an explained trace.
    pub fn step(&mut self, check: Check, outcome: Outcome, detail: impl FnOnce() -> String) {
        self.push(check, outcome, None, detail);
    }

    /// Records a refusal with its reply and returns the reply.
    pub fn refuse(&mut self, check: Check, reply: Reply, detail: impl FnOnce() -> String) -> Reply {
        let outcome = if reply.is_transient() { Outcome::Defer } else { Outcome::Reject };
        self.push(check, outcome, Some(reply.clone()), detail);
        reply
    }

    fn push(&mut self, check: Check, outcome: Outcome, reply: Option<Reply>, detail: impl FnOnce() -> String) {
        let detail = if self.explained { detail() } else { String::new() };
        self.steps.push(Step { check, outcome, detail, reply });
    }

    pub fn last(&self) -> Option<&Step> {
        self.steps.last()
    }
}
