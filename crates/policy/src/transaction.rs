//! A whole transaction evaluated at once, stage by stage, stopping where the edge would stop.
//! This is what `doorman explain` prints, what the tests replay, and what the analyzer shows
//! as an example session. It calls exactly the stage functions the edge calls.

use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;

use crate::filtering::{FilterFacts, FilterPlan};
use crate::headers::MessageHeaders;
use crate::session::Session;
use crate::snapshot::Policy;
use crate::stage::StageDecision;
use crate::stage::connect::{ConnectDecision, ConnectInfo, ProxyHeader};
use crate::stage::data::{DataDecision, Disposition};
use crate::stage::mail::{MailDecision, MailParams};
use crate::stage::rcpt::{AcceptedRecipient, RcptContext, RcptDecision, add_accepted};
use crate::trace::Detail;

/// Version tag of the JSON form of [`Evaluation`]; see docs/explain-json.md.
pub const EXPLAIN_SCHEMA: &str = "doorman.explain/2";

#[derive(Clone, Debug)]
pub struct Transaction {
    pub session: Session,
    /// As the client would write it: `<a@b>`, `a@b` or `<>`.
    pub mail_from: String,
    pub recipients: Vec<String>,
    pub headers: MessageHeaders,
    pub declared_size: Option<u64>,
    /// MAIL FROM gave the SMTPUTF8 parameter.
    pub smtputf8: bool,
    /// The session came through this peer, with a PROXY v2 header naming `session.client_ip`.
    pub proxy_peer: Option<IpAddr>,
    /// Bytes of the message at DATA; `None`: the size of the header block alone.
    pub message_size: Option<u64>,
}

impl Transaction {
    pub fn new(client_ip: IpAddr, mail_from: impl Into<String>, recipients: &[&str]) -> Transaction {
        Transaction {
            session: Session::new(client_ip),
            mail_from: mail_from.into(),
            recipients: recipients.iter().map(|r| r.to_string()).collect(),
            headers: MessageHeaders::default(),
            declared_size: None,
            smtputf8: false,
            proxy_peer: None,
            message_size: None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    pub schema: &'static str,
    pub session: Session,
    pub connect: ConnectDecision,
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
        self.evaluate_with(tx, detail, |_| FilterFacts::none())
    }

    /// As [`Policy::evaluate`], with `gather` finding out what the message's copies need from
    /// authentication and the spam filter (`explain --message` looks it up and scans, as the
    /// edge does). It is called once, when the transaction reaches the end of DATA.
    pub fn evaluate_with(
        &self,
        tx: &Transaction,
        detail: Detail,
        gather: impl FnOnce(&FilterPlan) -> FilterFacts,
    ) -> Evaluation {
        let session = &tx.session;
        let info = match tx.proxy_peer {
            Some(peer) => ConnectInfo::alone(peer, Some(ProxyHeader::Client(session.client_ip))),
            None => ConnectInfo::alone(session.client_ip, None),
        };
        let connect = self.connect(&info, detail);
        let helo = connect
            .is_accepted()
            .then(|| session.helo.as_deref().map(|h| self.helo(session, h, true, detail)))
            .flatten();
        let helo_ok = helo.as_ref().is_none_or(|h| h.is_accepted());
        let params = MailParams { size: tx.declared_size, smtputf8: tx.smtputf8 };
        let mail = (connect.is_accepted() && helo_ok).then(|| self.mail_from(&tx.mail_from, &params, detail));
        let sender = mail.as_ref().and_then(|m| m.sender.clone());

        let mut accepted: Vec<AcceptedRecipient> = Vec::new();
        let recipients: Vec<RcptDecision> = match &sender {
            Some(sender) => tx
                .recipients
                .iter()
                .map(|r| {
                    let cx = RcptContext { sender, smtputf8: tx.smtputf8, accepted: accepted.len() };
                    let d = self.rcpt(session, &cx, r, detail);
                    if let Some(a) = &d.accepted {
                        add_accepted(&mut accepted, a.clone());
                    }
                    d
                })
                .collect(),
            None => Vec::new(),
        };
        let data = match &sender {
            Some(sender) if self.data_start(accepted.len()).is_ok() => {
                let size = tx.message_size.unwrap_or_else(|| tx.headers.block_size());
                let plan = self.filter_plan(session, sender, &accepted, &tx.headers);
                let facts = gather(&plan);
                Some(self.data(session, sender, &accepted, &tx.headers, size, &facts, detail))
            }
            _ => None,
        };

        let message_refused = data.as_ref().is_some_and(|d| d.is_message_refused());
        let refused_at_data = |rcpt: &RcptDecision| {
            message_refused
                || data.iter().flat_map(|d| &d.copies).any(|c| {
                    matches!(c.disposition, Disposition::Reject { .. })
                        && rcpt.accepted.as_ref().is_some_and(|a| c.tenant_id == a.tenant)
                })
        };
        let (mut ok, mut refused) = (Vec::new(), Vec::new());
        for r in &recipients {
            if r.is_accepted() && !refused_at_data(r) {
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
