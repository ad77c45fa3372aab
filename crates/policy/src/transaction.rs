//! A whole transaction evaluated at once, stage by stage, stopping where the edge would stop.
//! This is what `doorman explain` prints, what the tests replay, and what the analyzer shows
//! as an example session. It calls exactly the stage functions the edge calls.

use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;

use crate::headers::MessageHeaders;
use crate::session::Session;
use crate::snapshot::Policy;
use crate::stage::StageDecision;
use crate::stage::connect::ConnectInfo;
use crate::stage::data::{DataDecision, Disposition};
use crate::stage::mail::MailDecision;
use crate::stage::rcpt::RcptDecision;
use crate::trace::Detail;

/// Version tag of the JSON form of [`Evaluation`]; see docs/explain-json.md.
pub const EXPLAIN_SCHEMA: &str = "doorman.explain/1";

#[derive(Clone, Debug)]
pub struct Transaction {
    pub session: Session,
    /// As the client would write it: `<a@b>`, `a@b` or `<>`.
    pub mail_from: String,
    pub recipients: Vec<String>,
    pub headers: MessageHeaders,
    pub declared_size: Option<u64>,
}

impl Transaction {
    pub fn new(client_ip: IpAddr, mail_from: impl Into<String>, recipients: &[&str]) -> Transaction {
        Transaction {
            session: Session::new(client_ip),
            mail_from: mail_from.into(),
            recipients: recipients.iter().map(|r| r.to_string()).collect(),
            headers: MessageHeaders::default(),
            declared_size: None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    pub schema: &'static str,
    pub session: Session,
    pub connect: StageDecision,
    /// Absent without a HELO name, or when connect refused.
    pub helo: Option<StageDecision>,
    /// Absent when an earlier stage refused.
    pub mail: Option<MailDecision>,
    pub recipients: Vec<RcptReport>,
    /// Present when at least one recipient was accepted.
    pub data: Option<DataDecision>,
    pub verdict: Verdict,
}

/// A recipient's decision with its tenant named, for people and JSON.
#[derive(Clone, Debug, Serialize)]
pub struct RcptReport {
    #[serde(flatten)]
    pub decision: RcptDecision,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<Arc<str>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    /// Every recipient would be accepted (a rule that deletes or quarantines still accepts).
    pub all_accepted: bool,
    pub accepted: Vec<String>,
    pub rejected: Vec<String>,
}

impl Policy {
    pub fn evaluate(&self, tx: &Transaction, detail: Detail) -> Evaluation {
        let session = &tx.session;
        let info = ConnectInfo {
            peer_ip: session.client_ip,
            proxied_client: None,
            connections_total: 1,
            connections_from_client: 1,
        };
        let connect = self.connect(&info, detail);
        let helo =
            connect.is_accepted().then(|| session.helo.as_deref().map(|h| self.helo(session, h, detail))).flatten();
        let helo_ok = helo.as_ref().is_none_or(|h| h.is_accepted());
        let mail = (connect.is_accepted() && helo_ok).then(|| self.mail_from(&tx.mail_from, tx.declared_size, detail));
        let sender = mail.as_ref().and_then(|m| m.sender.clone());

        let recipients: Vec<RcptDecision> = match &sender {
            Some(sender) => tx.recipients.iter().map(|r| self.rcpt(session, sender, r, detail)).collect(),
            None => Vec::new(),
        };
        let accepted: Vec<_> = recipients.iter().filter_map(|r| r.accepted.clone()).collect();
        let data = match &sender {
            Some(sender) if !accepted.is_empty() => Some(self.data(session, sender, &accepted, &tx.headers, detail)),
            _ => None,
        };

        let rejected_by_rule = |rcpt: &RcptDecision| {
            data.iter().flat_map(|d| &d.copies).any(|c| {
                matches!(c.disposition, Disposition::Reject { .. })
                    && rcpt.accepted.as_ref().is_some_and(|a| c.tenant_id == a.tenant)
            })
        };
        let (mut ok, mut refused) = (Vec::new(), Vec::new());
        for r in &recipients {
            if r.is_accepted() && !rejected_by_rule(r) {
                ok.push(r.recipient.clone())
            } else {
                refused.push(r.recipient.clone())
            }
        }
        if recipients.is_empty() {
            refused.extend(tx.recipients.iter().cloned());
        }
        let verdict = Verdict { all_accepted: refused.is_empty() && !ok.is_empty(), accepted: ok, rejected: refused };
        let recipients = recipients
            .into_iter()
            .map(|decision| RcptReport { tenant: decision.tenant.map(|t| self.tenant(t).shared_name()), decision })
            .collect();
        Evaluation { schema: EXPLAIN_SCHEMA, session: session.clone(), connect, helo, mail, recipients, data, verdict }
    }
}
