//! What EOP does to an accepted copy between the transport rules and its disposition:
//! sender authentication and the spam filter. The engine does no lookup and no scan; it
//! says what each copy needs ([`FilterPlan`]), the caller finds it out, and the engine
//! decides on the answers ([`FilterFacts`]) in `Policy::data`.
//!
//! A copy whose rules set SCL -1, or that came through an on-premises connector, needs
//! neither: that is what the field report's transport rule is for.

pub mod auth;
pub mod received;
pub mod spam;

use std::sync::Arc;

use doorman_config::ConnectorType;
use doorman_config::address::ReversePath;
use serde::Serialize;

use self::auth::Authentication;
use self::received::{AuthSubject, first_client};
use self::spam::SpamOutcome;
use crate::connector::ConnectorMatch;
use crate::headers::MessageHeaders;
use crate::session::Session;
use crate::snapshot::{Policy, TenantId};
use crate::stage::rcpt::AcceptedRecipient;

/// Why a copy skips both authentication and the spam filter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Exemption {
    /// A transport rule set SCL -1.
    SclMinusOne { rule: String },
    /// Mail from the organisation's own servers.
    OnPremises { connector: Arc<str> },
}

impl std::fmt::Display for Exemption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exemption::SclMinusOne { rule } => write!(f, "rule {rule:?} set SCL -1"),
            Exemption::OnPremises { connector } => write!(f, "it came through on-premises connector {connector:?}"),
        }
    }
}

/// What one tenant copy needs before the engine can decide it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CopyPlan {
    #[serde(skip)]
    pub tenant: TenantId,
    /// The client to authenticate; `None` when the copy is exempt or authentication is off.
    pub subject: Option<AuthSubject>,
    /// Whether the copy goes to the spam filter.
    pub scan: bool,
    pub exemption: Option<Exemption>,
    /// Why enhanced filtering fell back to the connecting client, or what test mode would judge.
    pub subject_note: Option<String>,
}

/// What the message's copies need from authentication and the spam filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FilterPlan {
    pub copies: Vec<CopyPlan>,
    /// The envelope as the engine parsed it, for SPF and the scan: the MAIL FROM address
    /// (empty for the null sender) and the accepted recipients.
    pub mail_from: String,
    pub recipients: Vec<String>,
}

impl FilterPlan {
    /// Each client to authenticate, once.
    pub fn subjects(&self) -> Vec<&AuthSubject> {
        let mut out: Vec<&AuthSubject> = Vec::new();
        for s in self.copies.iter().filter_map(|c| c.subject.as_ref()) {
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }

    /// Whether any copy goes to the spam filter.
    pub fn needs_scan(&self) -> bool {
        self.copies.iter().any(|c| c.scan)
    }

    /// The client the spam filter is told about: the scanned copies' subject when they all
    /// have the same one; otherwise (or without authentication) the connecting client.
    pub fn scan_subject(&self) -> Option<&AuthSubject> {
        let mut subjects = self.copies.iter().filter(|c| c.scan).map(|c| c.subject.as_ref());
        let first = subjects.next()??;
        subjects.all(|s| s == Some(first)).then_some(first)
    }
}

/// What the caller found out for a [`FilterPlan`].
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FilterFacts {
    pub authentication: Vec<Authentication>,
    pub spam: SpamOutcome,
}

impl FilterFacts {
    /// Nothing found out: no authentication results, no scan (`explain` without a message).
    pub fn none() -> FilterFacts {
        FilterFacts::default()
    }

    pub fn for_subject(&self, subject: &AuthSubject) -> Option<&Authentication> {
        self.authentication.iter().find(|a| &a.subject == subject)
    }
}

impl Policy {
    /// What each tenant copy of this message needs: the same forking and rules as
    /// [`Policy::data`], which then decides on what the caller found.
    pub fn filter_plan(
        &self,
        session: &Session,
        mail_from: &ReversePath,
        recipients: &[AcceptedRecipient],
        headers: &MessageHeaders,
    ) -> FilterPlan {
        let copies = self
            .copy_groups(recipients)
            .into_iter()
            .map(|(tenant, mine)| {
                let outcome = self.copy_rules(session, mail_from, tenant, &mine, headers, crate::Detail::Brief);
                self.copy_plan(session, tenant, mine.first().and_then(|r| r.connector.as_ref()), &outcome, headers)
            })
            .collect();
        let mail_from = match mail_from {
            ReversePath::Null => String::new(),
            ReversePath::Mailbox(m) => m.to_string(),
        };
        FilterPlan { copies, mail_from, recipients: recipients.iter().map(|r| r.mailbox.to_string()).collect() }
    }

    /// The plan of one copy whose rules came to `outcome`.
    pub(crate) fn copy_plan(
        &self,
        session: &Session,
        tenant: TenantId,
        connector: Option<&ConnectorMatch>,
        outcome: &crate::stage::data::RuleOutcome,
        headers: &MessageHeaders,
    ) -> CopyPlan {
        let server = &self.config().server;
        let exemption = match (&outcome.scl, connector) {
            (Some((s, rule)), _) if s.0 == -1 => Some(Exemption::SclMinusOne { rule: rule.clone() }),
            (_, Some(c)) if c.kind == ConnectorType::OnPremises => {
                Some(Exemption::OnPremises { connector: c.name.clone() })
            }
            _ => None,
        };
        let mut note = None;
        let subject = (server.authentication.enabled && exemption.is_none()).then(|| {
            let connecting = AuthSubject::connecting(session.client_ip, session.helo.as_deref());
            // Only a connector that knows the gateway by its address or certificate may skip
            // it: one matched by sender domain alone would skip a stranger's own hop.
            let ef = connector
                .filter(|c| c.by.is_authenticated())
                .and_then(|c| self.tenant(tenant).config.inbound_connectors.get(c.index))
                .and_then(|c| c.enhanced_filtering.as_ref());
            let Some(ef) = ef else { return connecting };
            match first_client(session.client_ip, session.helo.as_deref(), headers, ef) {
                Ok(s) if ef.test_mode => {
                    note = Some(format!("test mode: enhanced filtering would judge {}", s.ip));
                    connecting
                }
                Ok(s) => s,
                Err(why) => {
                    let sealers = &self.tenant(tenant).config.trusted_arc_sealers;
                    let or_arc = if sealers.is_empty() { "" } else { ", unless a trusted ARC sealer names the client" };
                    note = Some(format!("enhanced filtering judges the connecting client{or_arc}: {why}"));
                    AuthSubject { arc_sealers: sealers.iter().map(|d| d.to_string()).collect(), ..connecting }
                }
            }
        });
        // A rule's own SCL stands, and a rule that already disposed of the copy needs no scan.
        let scan = server.spam_filter.is_some() && exemption.is_none() && outcome.scl.is_none() && !outcome.disposes();
        CopyPlan { tenant, subject, scan, exemption, subject_note: note }
    }
}
