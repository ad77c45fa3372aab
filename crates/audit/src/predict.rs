//! What the audit says of one session: the session is put into its classes, and their
//! outcomes are read from the table the report was made from. The property test and the wire
//! test hold these predictions against the engine and against `doorman serve`.

use std::collections::HashMap;

use doorman_config::address::{Mailbox, ReversePath, parse_mailbox};
use doorman_policy::{
    Detail, Evaluation, FilterFacts, MailParams, MessageHeaders, Policy, RcptContext, Session, TenantId, Transaction,
};
use serde::Serialize;

use crate::classes::Table;
use crate::doors::{CopyOutcome, Gateway, ReplyCode};
use crate::space::{AcceptedIndex, Space, TooLarge, Unclassified, View};

/// RCPT for one recipient.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RcptOutcome {
    pub reply: ReplyCode,
    pub tenant: Option<String>,
    pub connector: Option<String>,
}

/// What a session gets at RCPT and DATA.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Prediction {
    /// One per RCPT command, in order.
    pub recipients: Vec<RcptOutcome>,
    /// The reply to the message when it is refused in session (before or by the rules).
    pub data: Option<ReplyCode>,
    /// One per tenant with an accepted recipient, in the order of their first recipients.
    pub copies: Vec<CopyOutcome>,
}

impl Prediction {
    /// The same facts read off an engine evaluation (or a replayed session): what the
    /// prediction is checked against.
    pub fn observed(policy: &Policy, e: &Evaluation) -> Prediction {
        let mut gateways: HashMap<TenantId, Gateway> = HashMap::new();
        let recipients = e
            .recipients
            .iter()
            .map(|r| RcptOutcome {
                reply: ReplyCode::of(&r.decision.reply),
                tenant: r.tenant.as_ref().map(|t| t.to_string()),
                connector: r.decision.connector.as_ref().map(|c| c.name.to_string()),
            })
            .collect();
        let copies = e
            .data
            .iter()
            .flat_map(|d| &d.copies)
            .map(|c| {
                let gw = gateways.entry(c.tenant_id).or_insert_with(|| Gateway::of(policy.tenant(c.tenant_id).config));
                CopyOutcome::of(gw, e.session.client_ip, c)
            })
            .collect();
        Prediction { recipients, data: e.data.as_ref().and_then(|d| d.reply.as_ref()).map(ReplyCode::of), copies }
    }
}

/// The audit's classes of every tenant of a config, kept to answer for sessions.
pub struct Classes<'p> {
    policy: &'p Policy,
    /// Per tenant; the reason when it is too large to audit.
    tables: Vec<Result<Table<'p>, TooLarge>>,
}

impl<'p> Classes<'p> {
    pub fn of(policy: &'p Policy) -> Classes<'p> {
        let index = AcceptedIndex::new(policy);
        let tables = policy
            .tenants()
            .map(|t| {
                let space = Space::new(vec![View { policy, tenant: t.id }], &[&index])?;
                Table::build(space, 0)
            })
            .collect();
        Classes { policy, tables }
    }

    fn table(&self, t: TenantId) -> Result<&Table<'p>, Unclassified> {
        self.tables[t.0 as usize]
            .as_ref()
            .map_err(|why| Unclassified(format!("tenant {:?} is not audited: {}", self.policy.tenant(t).name(), why.0)))
    }

    /// The outcome the audit's classes give `tx`: every recipient's RCPT reply, and each
    /// tenant copy's DATA outcome. MAIL FROM is the engine's (it knows no tenant yet).
    pub fn predict(&self, tx: &Transaction) -> Result<Prediction, Unclassified> {
        let policy = self.policy;
        let params = MailParams { size: tx.declared_size, smtputf8: tx.smtputf8 };
        let Some(sender) = policy.mail_from(&tx.mail_from, &params, Detail::Brief).sender else {
            return Ok(Prediction { recipients: Vec::new(), data: None, copies: Vec::new() });
        };
        let session = &tx.session;
        let mut recipients = Vec::new();
        // Accepted recipients, distinct, with their tenant and class.
        let mut accepted: Vec<(Mailbox, TenantId, usize)> = Vec::new();
        for r in &tx.recipients {
            let (outcome, class) = self.rcpt(session, &sender, tx.smtputf8, accepted.len(), r)?;
            if let Some((mailbox, tenant, class)) = class
                && !accepted.iter().any(|(m, _, _)| *m == mailbox)
            {
                accepted.push((mailbox, tenant, class));
            }
            recipients.push(outcome);
        }
        if accepted.is_empty() {
            return Ok(Prediction { recipients, data: None, copies: Vec::new() });
        }
        let headers = &tx.headers;
        let size = tx.message_size.unwrap_or(headers.block_size());
        // The checks on the message as a whole come before any tenant's rules.
        let whole = policy.data(session, &sender, &[], headers, size, &FilterFacts::none(), Detail::Brief);
        if let (true, Some(reply)) = (whole.is_message_refused(), &whole.reply) {
            return Ok(Prediction { recipients, data: Some(ReplyCode::of(reply)), copies: Vec::new() });
        }
        let mut tenants: Vec<TenantId> = Vec::new();
        for (_, t, _) in &accepted {
            if !tenants.contains(t) {
                tenants.push(*t);
            }
        }
        let mut copies = Vec::new();
        for t in tenants {
            let table = self.table(t)?;
            let space = &table.space;
            let at = space.locate(session, &sender, headers)?;
            let mut vector = vec![false; space.recipient_domains.len()];
            for (_, _, class) in accepted.iter().filter(|(_, tt, _)| *tt == t) {
                for (v, b) in vector.iter_mut().zip(space.recipients.classes[*class].rule_domains.iter()) {
                    *v |= *b;
                }
            }
            let cell = table
                .data(at.ip, at.tls, at.sender, at.from, &vector)
                .ok_or_else(|| Unclassified(format!("no copy class for tenant {} with {vector:?}", t.0)))?;
            let outcome = cell
                .outcome(&at.content)
                .ok_or_else(|| Unclassified(format!("content {:?} of atoms {:?}", at.content, space.atoms)))?;
            copies.push(outcome.clone());
        }
        // The engine answers in session only when every copy is rejected.
        let every_copy_rejects = copies.iter().all(|c| c.reject.is_some());
        let data = if every_copy_rejects { copies.first().and_then(|c| c.reject) } else { None };
        Ok(Prediction { recipients, data, copies })
    }

    /// RCPT for one recipient. The checks before tenant attribution (SMTPUTF8, the
    /// recipient limit, syntax, relay) read only the recipient and the transaction, so the
    /// engine decides them with any session; a recipient they let through belongs to a
    /// tenant, whose classes decide the rest.
    #[allow(clippy::type_complexity)]
    fn rcpt(
        &self,
        session: &Session,
        sender: &ReversePath,
        smtputf8: bool,
        accepted: usize,
        recipient: &str,
    ) -> Result<(RcptOutcome, Option<(Mailbox, TenantId, usize)>), Unclassified> {
        let policy = self.policy;
        let cx = RcptContext { sender, smtputf8, accepted };
        let anyone = policy.rcpt(&Session::new([0, 0, 0, 0].into()), &cx, recipient, Detail::Brief);
        let Some(tenant) = anyone.tenant else {
            return Ok((RcptOutcome { reply: ReplyCode::of(&anyone.reply), tenant: None, connector: None }, None));
        };
        let mailbox = parse_mailbox(recipient).map_err(|e| Unclassified(format!("recipient {recipient}: {e}")))?;
        let owner = policy.attribute_recipient(&mailbox).map(|(r, _)| r).filter(|r| r.tenant == tenant);
        let owner = owner.ok_or_else(|| Unclassified(format!("recipient {recipient} has no owner")))?;
        let table = self.table(owner.tenant)?;
        let space = &table.space;
        let at = space.locate(session, sender, &MessageHeaders::default())?;
        let class = space.locate_recipient(&mailbox)?;
        let cell = table.rcpt(at.ip, at.tls, at.sender, at.dnsbl, class);
        let outcome = RcptOutcome {
            reply: ReplyCode::of(&cell.reply),
            tenant: Some(policy.tenant(owner.tenant).name().to_string()),
            connector: cell.connector.as_ref().map(|c| c.name.to_string()),
        };
        Ok((outcome, cell.accepted.is_some().then_some((mailbox, owner.tenant, class))))
    }
}
