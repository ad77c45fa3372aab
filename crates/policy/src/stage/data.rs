//! End of DATA: the message as a whole is checked (size, hop count), then it forks into one
//! copy per tenant, as Exchange Online forks, and each copy runs its tenant's transport rules
//! to an SCL, a disposition and the headers to set.

use std::net::IpAddr;
use std::sync::Arc;

use doorman_config::address::{Mailbox, ReversePath};
use doorman_config::{HeaderContains, RuleMode, Scl};
use serde::Serialize;

use crate::connector::ConnectorMatch;
use crate::headers::MessageHeaders;
use crate::reply::Reply;
use crate::rules::{Facts, content_in_play, describe_actions, evaluate};
use crate::session::Session;
use crate::snapshot::{Policy, TenantId};
use crate::stage::rcpt::{AcceptedRecipient, in_organization};
use crate::trace::{Check, Detail, Outcome, Trace};

/// The header every accepted copy carries, set by doorman alone (a copy from the client is
/// replaced, so it cannot be forged).
pub const REPORT_HEADER: &str = "X-Doorman-Report";

/// A message with this many `Received` fields is taken for a loop, as Postfix does.
pub const MAX_HOPS: usize = 50;

#[derive(Clone, Debug, Serialize)]
pub struct DataDecision {
    /// Empty when the message as a whole is refused (see `trace`).
    pub copies: Vec<TenantCopy>,
    /// The in-session reply when the message is refused or every copy is rejected. Otherwise
    /// `None`: the edge replies 250 once the copies are durable, and rejected copies get a DSN.
    pub reply: Option<Reply>,
    /// The checks of the message as a whole, before it forks into copies.
    pub trace: Trace,
}

impl DataDecision {
    /// The message as a whole was refused, before any tenant's rules ran.
    pub fn is_message_refused(&self) -> bool {
        self.copies.is_empty() && self.reply.is_some()
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct TenantCopy {
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub tenant: Arc<str>,
    pub recipients: Vec<Mailbox>,
    pub connector: Option<ConnectorMatch>,
    /// Set by a rule; `None` when no rule set one (doorman runs no content filter).
    pub scl: Option<Scl>,
    pub disposition: Disposition,
    /// Rules whose conditions held, enforced or audited.
    pub rules_hit: Vec<RuleHit>,
    /// Headers to set on this copy, replacing any with the same name.
    pub set_headers: Vec<HeaderField>,
    pub subject_prefix: Option<String>,
    pub trace: Trace,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Disposition {
    Deliver,
    /// Refused by a rule; the reply is given in session or in a DSN.
    Reject {
        reply: Reply,
    },
    /// Accepted and dropped without a trace outside the log.
    Delete,
    Quarantine,
    /// Delivered to these addresses instead of the recipients.
    Redirect {
        to: Vec<Mailbox>,
    },
    /// Delivered to the recipients' Junk Email folder: the SCL is above the tenant's
    /// `scl_junk_threshold`.
    Junk,
}

impl Disposition {
    pub fn name(&self) -> &'static str {
        match self {
            Disposition::Deliver => "deliver",
            Disposition::Reject { .. } => "reject",
            Disposition::Delete => "delete",
            Disposition::Quarantine => "quarantine",
            Disposition::Redirect { .. } => "redirect",
            Disposition::Junk => "junk",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleHit {
    pub name: String,
    pub mode: RuleMode,
    pub actions: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeaderField {
    pub name: String,
    pub value: String,
}

impl Policy {
    /// Whether DATA or BDAT may start: `accepted` recipients were accepted at RCPT.
    pub fn data_start(&self, accepted: usize) -> Result<(), Reply> {
        if accepted == 0 { Err(Reply::no_valid_recipients()) } else { Ok(()) }
    }

    /// The refusal of a message of `size` bytes, if it is over the limit. The edge asks this
    /// as soon as BDAT chunks go over it, so as not to read the rest first.
    pub fn message_size_refusal(&self, size: u64) -> Option<Reply> {
        (size > self.config().server.limits.max_message_size).then(Reply::message_too_big)
    }

    fn message_size_check(&self, size: u64, trace: &mut Trace) -> Result<(), Reply> {
        let max = self.config().server.limits.max_message_size;
        if let Some(reply) = self.message_size_refusal(size) {
            return Err(trace.refuse(Check::MessageSize, reply, || {
                format!("the message is {size} bytes, over the limit of {max} bytes")
            }));
        }
        trace.step(Check::MessageSize, Outcome::Pass, || {
            format!("the message is {size} bytes, the limit is {max} bytes")
        });
        Ok(())
    }

    fn hop_count_check(&self, headers: &MessageHeaders, trace: &mut Trace) -> Result<(), Reply> {
        let hops = headers.values("received").count();
        if hops >= MAX_HOPS {
            return Err(trace.refuse(Check::HopCount, Reply::too_many_hops(), || {
                format!("{hops} Received fields; {MAX_HOPS} or more mean a mail loop")
            }));
        }
        trace.step(Check::HopCount, Outcome::Pass, || {
            format!("{hops} Received field(s); {MAX_HOPS} or more mean a mail loop")
        });
        Ok(())
    }

    /// Decides the end of DATA for the recipients accepted at RCPT: `size` is the message's
    /// length in bytes as received (after dot-unstuffing), `headers` its parsed header block.
    pub fn data(
        &self,
        session: &Session,
        mail_from: &ReversePath,
        recipients: &[AcceptedRecipient],
        headers: &MessageHeaders,
        size: u64,
        detail: Detail,
    ) -> DataDecision {
        let mut trace = Trace::new(detail);
        let message =
            self.message_size_check(size, &mut trace).and_then(|()| self.hop_count_check(headers, &mut trace));
        if let Err(reply) = message {
            return DataDecision { copies: Vec::new(), reply: Some(reply), trace };
        }
        let mut tenants: Vec<TenantId> = Vec::new();
        for r in recipients {
            if !tenants.contains(&r.tenant) {
                tenants.push(r.tenant);
            }
        }
        let copies: Vec<TenantCopy> = tenants
            .into_iter()
            .map(|t| {
                let mine: Vec<&AcceptedRecipient> = recipients.iter().filter(|r| r.tenant == t).collect();
                self.tenant_copy(session, mail_from, t, &mine, headers, detail)
            })
            .collect();
        let reply = match copies.first().map(|c| &c.disposition) {
            Some(Disposition::Reject { reply })
                if copies.iter().all(|c| matches!(c.disposition, Disposition::Reject { .. })) =>
            {
                Some(reply.clone())
            }
            _ => None,
        };
        DataDecision { copies, reply, trace }
    }

    /// The `header_contains` conditions that can still change the outcome of the copy of
    /// `recipients`' tenant once every other fact is known (the rest are decided by the
    /// session, the sender and the `From:` domain alone). The audit enumerates these.
    pub fn content_in_play(
        &self,
        session: &Session,
        mail_from: &ReversePath,
        recipients: &[AcceptedRecipient],
        headers: &MessageHeaders,
    ) -> Vec<&HeaderContains> {
        let Some(id) = recipients.first().map(|r| r.tenant) else { return Vec::new() };
        let mine: Vec<&AcceptedRecipient> = recipients.iter().filter(|r| r.tenant == id).collect();
        let copy = CopyParts::of(&mine);
        let facts = copy.facts(self, id, session, mail_from, headers);
        self.tenant(id)
            .rules_in_order()
            .filter(|(_, r)| r.enabled)
            .flat_map(|(_, r)| content_in_play(&r.conditions, &r.exceptions, r.sender_address_location, &facts))
            .collect()
    }

    fn tenant_copy(
        &self,
        session: &Session,
        mail_from: &ReversePath,
        id: TenantId,
        recipients: &[&AcceptedRecipient],
        headers: &MessageHeaders,
        detail: Detail,
    ) -> TenantCopy {
        let tenant = self.tenant(id);
        let mut trace = Trace::new(detail);
        let copy = CopyParts::of(recipients);
        let facts = copy.facts(self, id, session, mail_from, headers);

        let mut scl: Option<(Scl, String)> = None;
        let (mut reject, mut delete, mut quarantine) = (None, false, false);
        let mut redirect: Vec<Mailbox> = Vec::new();
        let mut set_headers = Vec::new();
        let mut prefix = String::new();
        let mut hits = Vec::new();

        for (_, rule) in tenant.rules_in_order() {
            let name = &rule.name;
            if !rule.enabled {
                trace.step(Check::TransportRule, Outcome::Skip, || format!("rule {name:?} is disabled"));
                continue;
            }
            let conditions = evaluate(&rule.conditions, rule.sender_address_location, &facts);
            if let Some(failed) = conditions.iter().find(|c| !c.holds) {
                trace.step(Check::TransportRule, Outcome::NoMatch, || {
                    format!(
                        "rule {name:?}: condition {} does not hold: {}",
                        failed.name(),
                        failed.predicate.detail(&facts)
                    )
                });
                continue;
            }
            let exceptions = evaluate(&rule.exceptions, rule.sender_address_location, &facts);
            if let Some(exc) = exceptions.iter().find(|c| c.holds) {
                trace.step(Check::TransportRule, Outcome::NoMatch, || {
                    format!(
                        "rule {name:?}: the conditions hold, but exception {} does too: {}",
                        exc.name(),
                        exc.predicate.detail(&facts)
                    )
                });
                continue;
            }
            let actions = describe_actions(&rule.actions);
            let why = || {
                if conditions.is_empty() {
                    "no conditions (every message)".to_string()
                } else {
                    conditions
                        .iter()
                        .map(|c| format!("{}: {}", c.name(), c.predicate.detail(&facts)))
                        .collect::<Vec<_>>()
                        .join("; ")
                }
            };
            hits.push(RuleHit { name: name.clone(), mode: rule.mode, actions: actions.clone() });
            if rule.mode == RuleMode::Audit {
                trace.step(Check::TransportRule, Outcome::Match, || {
                    format!(
                        "rule {name:?} (audit): {}; would {}, but audit mode only records",
                        why(),
                        actions.join(", ")
                    )
                });
                continue;
            }
            let stop = rule.stop_processing || rule.actions.reject.is_some() || rule.actions.delete;
            trace.step(Check::TransportRule, Outcome::Match, || {
                let tail = if stop { "; no further rules run" } else { "" };
                format!("rule {name:?}: {}; {}{tail}", why(), actions.join(", "))
            });
            let a = &rule.actions;
            if let Some(s) = a.set_scl {
                scl = Some((s, name.clone()));
            }
            if let Some(h) = &a.set_header {
                set_headers.push(HeaderField { name: h.name.clone(), value: h.value.clone() });
            }
            if let Some(p) = &a.prepend_subject {
                prefix.insert_str(0, p);
            }
            redirect.extend(a.redirect_to.iter().cloned());
            quarantine |= a.quarantine;
            delete |= a.delete;
            if let Some(r) = &a.reject {
                reject = Some(Reply::rule_reject(r.enhanced_status_code, &r.text));
            }
            if stop {
                break;
            }
        }

        match &scl {
            Some((s, by)) => trace.step(Check::Scl, Outcome::Pass, || format!("SCL {s}, set by rule {by:?}")),
            None => trace.step(Check::Scl, Outcome::Skip, || "no rule set an SCL".to_string()),
        }
        let disposition = if let Some(reply) = reject {
            Disposition::Reject { reply }
        } else if delete {
            Disposition::Delete
        } else if quarantine {
            Disposition::Quarantine
        } else if !redirect.is_empty() {
            Disposition::Redirect { to: redirect }
        } else if scl.as_ref().is_some_and(|(s, _)| *s > tenant.config.scl_junk_threshold) {
            Disposition::Junk
        } else {
            Disposition::Deliver
        };
        match &disposition {
            Disposition::Reject { reply } => {
                trace.refuse(Check::Disposition, reply.clone(), || "rejected by a transport rule".to_string());
            }
            d => trace.step(Check::Disposition, Outcome::Pass, || match d {
                Disposition::Redirect { to } => {
                    format!("redirect to {}", to.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(", "))
                }
                Disposition::Junk => format!(
                    "junk: the SCL is above the tenant's scl_junk_threshold ({}), so the Junk Email folder",
                    tenant.config.scl_junk_threshold
                ),
                d => d.name().to_string(),
            }),
        }

        let scl = scl.map(|(s, _)| s);
        let CopyParts { mailboxes, connector } = copy;
        let enforced: Vec<&str> =
            hits.iter().filter(|h| h.mode == RuleMode::Enforce).map(|h| h.name.as_str()).collect();
        // Ours comes last, so a rule cannot set it.
        set_headers.retain(|h: &HeaderField| !h.name.eq_ignore_ascii_case(REPORT_HEADER));
        set_headers.push(HeaderField {
            name: REPORT_HEADER.into(),
            value: report_value(tenant.name(), connector.as_ref(), session.client_ip, scl, &enforced),
        });

        TenantCopy {
            tenant_id: id,
            tenant: tenant.shared_name(),
            recipients: mailboxes,
            connector,
            scl,
            disposition,
            rules_hit: hits,
            set_headers,
            subject_prefix: (!prefix.is_empty()).then_some(prefix),
            trace,
        }
    }
}

/// One tenant's copy before its rules run: its mailboxes, and the connector that took them
/// (every recipient of one tenant was attributed under the same session and sender).
struct CopyParts {
    mailboxes: Vec<Mailbox>,
    connector: Option<ConnectorMatch>,
}

impl CopyParts {
    fn of(recipients: &[&AcceptedRecipient]) -> CopyParts {
        let mailboxes = recipients.iter().map(|r| r.mailbox.clone()).collect();
        CopyParts { mailboxes, connector: recipients.first().and_then(|r| r.connector.clone()) }
    }

    /// What the copy's rules look at.
    fn facts<'a>(
        &'a self,
        policy: &Policy,
        id: TenantId,
        session: &'a Session,
        mail_from: &'a ReversePath,
        headers: &'a MessageHeaders,
    ) -> Facts<'a> {
        Facts {
            session,
            mail_from,
            recipients: &self.mailboxes,
            connector: self.connector.as_ref(),
            in_organization: in_organization(policy, id, mail_from, self.connector.as_ref()),
            headers,
        }
    }
}

/// `tenant=contoso; connector=Inbound only from Antispamrelay; cip=80.66.20.13; scl=-1; rules=…`
pub fn report_value(
    tenant: &str,
    connector: Option<&ConnectorMatch>,
    client: IpAddr,
    scl: Option<Scl>,
    rules: &[&str],
) -> String {
    let field = |v: &str| {
        if v.contains([';', '"', ',', '\r', '\n']) {
            format!("\"{}\"", v.replace(['\r', '\n'], " ").replace('\\', "\\\\").replace('"', "\\\""))
        } else {
            v.to_string()
        }
    };
    let connector = connector.map_or("none".to_string(), |c| field(&c.name));
    let scl = scl.map_or("none".to_string(), |s| s.to_string());
    let rules = if rules.is_empty() {
        "none".to_string()
    } else {
        rules.iter().map(|r| field(r)).collect::<Vec<_>>().join(",")
    };
    format!("tenant={}; connector={connector}; cip={client}; scl={scl}; rules={rules}", field(tenant))
}
