//! End of DATA: the message as a whole is checked (size, hop count), then it forks into one
//! copy per tenant, as Exchange Online forks, and each copy runs its tenant's transport rules
//! to an SCL, a disposition and the headers to set.

use std::net::IpAddr;
use std::sync::Arc;

use doorman_config::address::{Mailbox, ReversePath};
use doorman_config::{DmarcRejectAction, HeaderContains, RuleMode, ScanFailure, Scl, SpamAction};
use serde::Serialize;

use crate::connector::ConnectorMatch;
use crate::filtering::auth::{AuthResult, CompAuth, CompAuthResult, DmarcPolicy, reason};
use crate::filtering::spam::{SpamOutcome, SpamVerdict};
use crate::filtering::{Exemption, FilterFacts};
use crate::headers::MessageHeaders;
use crate::reply::Reply;
use crate::rules::{Facts, content_in_play, describe_actions, evaluate};
use crate::session::Session;
use crate::snapshot::{Policy, TenantId};
use crate::stage::rcpt::{AcceptedRecipient, DnsblHit, dnsbl_hit, in_organization};
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
    /// Set by a rule, the spam filter or a DMARC policy; `None` when none set one.
    pub scl: Option<Scl>,
    pub scl_source: Option<SclSource>,
    pub disposition: Disposition,
    /// Rules whose conditions held, enforced or audited.
    pub rules_hit: Vec<RuleHit>,
    /// Headers to set on this copy, replacing any with the same name.
    pub set_headers: Vec<HeaderField>,
    pub subject_prefix: Option<String>,
    /// The copy's authentication verdict; `None` when it was not authenticated.
    pub authentication: Option<CopyAuthentication>,
    /// The spam filter's verdict; `None` when the copy was not scanned.
    pub spam: Option<SpamVerdict>,
    /// Why the copy skipped authentication and the spam filter.
    pub exemption: Option<Exemption>,
    /// Whether authentication and the spam filter judge this copy at all.
    pub filtering: Filtering,
    pub trace: Trace,
}

/// Whether a copy is judged by authentication and by the spam filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Filtering {
    pub authenticated: bool,
    pub spam_filtered: bool,
}

/// Who set a copy's SCL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SclSource {
    Rule,
    SpamFilter,
    Authentication,
}

impl SclSource {
    pub fn name(self) -> &'static str {
        match self {
            SclSource::Rule => "rule",
            SclSource::SpamFilter => "spam_filter",
            SclSource::Authentication => "authentication",
        }
    }
}

/// A copy's authentication verdict, as the tracking log and `explain` show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CopyAuthentication {
    pub compauth: CompAuth,
    pub spf: AuthResult,
    pub dkim: AuthResult,
    pub dmarc: AuthResult,
    pub dmarc_policy: DmarcPolicy,
    /// The client SPF and DMARC judged.
    pub judged_ip: IpAddr,
    pub hops_skipped: usize,
}

/// The header authentication adds to each copy it judged.
pub const AUTH_RESULTS_HEADER: &str = "Authentication-Results";

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
    /// length in bytes as received (after dot-unstuffing), `headers` its parsed header block,
    /// `filter` what authentication and the spam filter found for [`Policy::filter_plan`].
    #[allow(clippy::too_many_arguments)]
    pub fn data(
        &self,
        session: &Session,
        mail_from: &ReversePath,
        recipients: &[AcceptedRecipient],
        headers: &MessageHeaders,
        size: u64,
        filter: &FilterFacts,
        detail: Detail,
    ) -> DataDecision {
        let mut trace = Trace::new(detail);
        let message =
            self.message_size_check(size, &mut trace).and_then(|()| self.hop_count_check(headers, &mut trace));
        if let Err(reply) = message {
            return DataDecision { copies: Vec::new(), reply: Some(reply), trace };
        }
        let copies: Vec<TenantCopy> = self
            .copy_groups(recipients)
            .into_iter()
            .map(|(t, mine)| self.tenant_copy(session, mail_from, t, &mine, headers, filter, detail))
            .collect();
        // Accepting the other copies would have the client send this one's recipients twice.
        if let SpamOutcome::Failed { why } = &filter.spam
            && copies.iter().any(|c| c.filtering.spam_filtered)
            && self.config().server.spam_filter.as_ref().is_some_and(|f| f.on_failure == ScanFailure::Tempfail)
        {
            let reply = trace.refuse(Check::SpamFilter, Reply::spam_filter_unavailable(), || {
                format!("the spam filter did not answer ({why}); on_failure = \"tempfail\"")
            });
            return DataDecision { copies: Vec::new(), reply: Some(reply), trace };
        }
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

    /// The recipients grouped by tenant, in the order their tenants first appear.
    pub(crate) fn copy_groups<'r>(
        &self,
        recipients: &'r [AcceptedRecipient],
    ) -> Vec<(TenantId, Vec<&'r AcceptedRecipient>)> {
        let mut groups: Vec<(TenantId, Vec<&AcceptedRecipient>)> = Vec::new();
        for r in recipients {
            match groups.iter_mut().find(|(t, _)| *t == r.tenant) {
                Some((_, g)) => g.push(r),
                None => groups.push((r.tenant, vec![r])),
            }
        }
        groups
    }

    /// Runs the copy's transport rules, in priority order.
    pub(crate) fn copy_rules(
        &self,
        session: &Session,
        mail_from: &ReversePath,
        id: TenantId,
        recipients: &[&AcceptedRecipient],
        headers: &MessageHeaders,
        detail: Detail,
    ) -> RuleOutcome {
        let tenant = self.tenant(id);
        let mut trace = Trace::new(detail);
        let copy = CopyParts::of(recipients);
        let facts = copy.facts(self, id, session, mail_from, headers);
        let mut out = RuleOutcome::default();

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
            out.hits.push(RuleHit { name: name.clone(), mode: rule.mode, actions: actions.clone() });
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
                out.scl = Some((s, name.clone()));
            }
            if let Some(h) = &a.set_header {
                out.set_headers.push(HeaderField { name: h.name.clone(), value: h.value.clone() });
            }
            if let Some(p) = &a.prepend_subject {
                out.prefix.insert_str(0, p);
            }
            out.redirect.extend(a.redirect_to.iter().cloned());
            out.quarantine |= a.quarantine;
            out.delete |= a.delete;
            if let Some(r) = &a.reject {
                out.reject = Some(Reply::rule_reject(r.enhanced_status_code, &r.text));
            }
            if stop {
                break;
            }
        }
        out.trace = trace;
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn tenant_copy(
        &self,
        session: &Session,
        mail_from: &ReversePath,
        id: TenantId,
        recipients: &[&AcceptedRecipient],
        headers: &MessageHeaders,
        filter: &FilterFacts,
        detail: Detail,
    ) -> TenantCopy {
        let tenant = self.tenant(id);
        let copy = CopyParts::of(recipients);
        let rules = self.copy_rules(session, mail_from, id, recipients, headers, detail);
        let plan = self.copy_plan(session, id, copy.connector.as_ref(), &rules, headers);
        let RuleOutcome {
            scl: rule_scl,
            reject,
            delete,
            quarantine,
            redirect,
            mut set_headers,
            mut prefix,
            hits,
            mut trace,
        } = rules;
        let mut scl: Option<(Scl, SclSource)> = rule_scl.as_ref().map(|(s, _)| (*s, SclSource::Rule));
        match &rule_scl {
            Some((s, by)) => trace.step(Check::Scl, Outcome::Pass, || format!("SCL {s}, set by rule {by:?}")),
            None => trace.step(Check::Scl, Outcome::Skip, || "no rule set an SCL".to_string()),
        }

        // Authentication: the copy's verdict, and what the sender's DMARC policy asks for.
        let server = &self.config().server;
        let mut auth_reject: Option<(Reply, &str)> = None;
        let (mut auth_quarantine, mut auth_junk) = (false, false);
        let mut authentication = None;
        match (&plan.exemption, &plan.subject) {
            (Some(why), _) => trace.step(Check::Authentication, Outcome::Skip, || {
                format!("{why}: neither authentication nor the spam filter judges this copy")
            }),
            (None, None) => trace.step(Check::Authentication, Outcome::Skip, || {
                "authentication is off ([server.authentication] enabled = false)".to_string()
            }),
            (None, Some(subject)) => match filter.for_subject(subject) {
                None => trace.step(Check::Authentication, Outcome::Skip, || {
                    format!("no authentication results for {} were given (explain: pass --message)", subject.ip)
                }),
                Some(a) => {
                    let compauth = a.compauth(&tenant.config.trusted_arc_sealers);
                    let at = a.judged.ip;
                    let judged = match (&a.judged.by_arc, subject.hops_skipped, &plan.subject_note) {
                        (Some(sealer), _, _) => {
                            format!("judged at {at}, the client trusted ARC sealer {sealer} recorded")
                        }
                        (None, 0, None) => format!("judged at the connecting client {at}"),
                        (None, 0, Some(note)) => format!("judged at {at}: {note}"),
                        (None, n, _) => format!("judged at {at} (enhanced filtering skipped {n} hop(s))"),
                    };
                    trace.step(Check::Authentication, Outcome::Pass, || {
                        format!(
                            "spf={} dkim={} arc={} dmarc={} (p={}) header.from={}; compauth={compauth}; {judged}",
                            a.spf_mail_from.result,
                            a.dkim_summary(),
                            a.arc.result,
                            a.dmarc.result,
                            a.dmarc.policy.name(),
                            a.dmarc.from_domain,
                        )
                    });
                    if a.judged.ip != session.client_ip
                        && let Some(DnsblHit::Listed { zone, .. }) = dnsbl_hit(&server.dnsbl_zones, &a.dnsbl)
                    {
                        let reply = trace.refuse(Check::Dnsbl, Reply::dnsbl_listed(at, zone.as_str()), || {
                            format!("the original client {at} is listed on {zone}")
                        });
                        auth_reject = Some((reply, "rejected: the original client is on a DNS block list"));
                    }
                    if compauth.result == CompAuthResult::Fail && compauth.reason == reason::EXPLICIT_FAIL {
                        match (a.dmarc.policy, tenant.config.dmarc_reject_action) {
                            (DmarcPolicy::Reject, DmarcRejectAction::Reject) => {
                                auth_reject.get_or_insert_with(|| {
                                    (
                                        Reply::dmarc_reject(&a.dmarc.from_domain),
                                        "rejected: the sender's DMARC policy is reject",
                                    )
                                });
                            }
                            (DmarcPolicy::Reject, DmarcRejectAction::Quarantine) => auth_quarantine = true,
                            _ => auth_junk = true,
                        }
                    }
                    // Setting it replaces every field of that name, so none can be forged.
                    set_headers.retain(|h| !h.name.eq_ignore_ascii_case(AUTH_RESULTS_HEADER));
                    set_headers.push(HeaderField {
                        name: AUTH_RESULTS_HEADER.into(),
                        value: a.header_value(&server.hostname, compauth),
                    });
                    authentication = Some(CopyAuthentication {
                        compauth,
                        spf: a.spf_mail_from.result,
                        dkim: a.dkim_summary(),
                        dmarc: a.dmarc.result,
                        dmarc_policy: a.dmarc.policy,
                        judged_ip: at,
                        hops_skipped: subject.hops_skipped,
                    });
                }
            },
        }
        if auth_junk {
            let junk = Scl((tenant.config.scl_junk_threshold.0 + 1).min(9));
            if scl.is_none_or(|(s, _)| s < junk) {
                scl = Some((junk, SclSource::Authentication));
            }
        }

        // The spam filter.
        let mut spam_action = None;
        let mut spam = None;
        if plan.exemption.is_none() {
            match (&filter.spam, plan.scan) {
                (_, false) if server.spam_filter.is_none() => {
                    trace.step(Check::SpamFilter, Outcome::Skip, || "no spam filter is configured".to_string())
                }
                (_, false) => trace.step(Check::SpamFilter, Outcome::Skip, || {
                    "not scanned: a rule set the SCL or disposed of the copy".to_string()
                }),
                (SpamOutcome::Scanned(v), true) => {
                    let s = v.action.scl();
                    let policy = &tenant.config.anti_spam;
                    let action = if s >= policy.high_confidence_scl {
                        Some(policy.high_confidence_spam_action)
                    } else if s >= policy.spam_scl {
                        Some(policy.spam_action)
                    } else {
                        None
                    };
                    trace.step(Check::SpamFilter, Outcome::Pass, || {
                        let verdict = match action {
                            Some(a) => format!("anti-spam policy: {}", a.name()),
                            None => "not spam".to_string(),
                        };
                        format!(
                            "rspamd: {} (score {:.2} of {:.2}{}); SCL {s}; {verdict}",
                            v.action.name(),
                            v.score,
                            v.required_score,
                            if v.symbols.is_empty() { String::new() } else { format!(", {}", v.symbols.join(" ")) }
                        )
                    });
                    if scl.is_none_or(|(old, _)| old < s) {
                        scl = Some((s, SclSource::SpamFilter));
                    }
                    spam_action = action;
                    spam = Some(v.clone());
                }
                (SpamOutcome::Failed { why }, true) => trace.step(Check::SpamFilter, Outcome::Skip, || {
                    format!("the spam filter did not answer ({why}): accepted unscanned (on_failure = \"accept\")")
                }),
                (SpamOutcome::NotAsked, true) => trace.step(Check::SpamFilter, Outcome::Skip, || {
                    "not scanned: no scan result was given (explain: pass --message)".to_string()
                }),
            }
        }
        let mut inbox = false;
        match spam_action {
            Some(SpamAction::AddHeader) => {
                let h = &tenant.config.anti_spam.add_header;
                set_headers.push(HeaderField { name: h.name.clone(), value: h.value.clone() });
                inbox = true;
            }
            Some(SpamAction::PrependSubject) => {
                prefix.insert_str(0, &tenant.config.anti_spam.prepend_subject);
                inbox = true;
            }
            _ => {}
        }

        let mut rejected_by = "rejected by a transport rule";
        let mut junk_why = String::new();
        let disposition = if let Some(reply) = reject {
            Disposition::Reject { reply }
        } else if delete {
            Disposition::Delete
        } else if quarantine {
            Disposition::Quarantine
        } else if !redirect.is_empty() {
            Disposition::Redirect { to: redirect }
        } else if let Some((reply, by)) = auth_reject {
            rejected_by = by;
            Disposition::Reject { reply }
        } else if auth_quarantine || spam_action == Some(SpamAction::Quarantine) {
            Disposition::Quarantine
        } else if spam_action == Some(SpamAction::Delete) {
            Disposition::Delete
        } else if spam_action == Some(SpamAction::MoveToJunk) {
            junk_why = "junk: the anti-spam policy moves this verdict to the Junk Email folder".into();
            Disposition::Junk
        } else if auth_junk {
            junk_why = "junk: the sender's DMARC policy is quarantine, so the Junk Email folder".into();
            Disposition::Junk
        } else if !inbox && scl.as_ref().is_some_and(|(s, _)| *s > tenant.config.scl_junk_threshold) {
            junk_why = format!(
                "junk: the SCL is above the tenant's scl_junk_threshold ({}), so the Junk Email folder",
                tenant.config.scl_junk_threshold
            );
            Disposition::Junk
        } else {
            Disposition::Deliver
        };
        match &disposition {
            Disposition::Reject { reply } => {
                trace.refuse(Check::Disposition, reply.clone(), || rejected_by.to_string());
            }
            d => trace.step(Check::Disposition, Outcome::Pass, || match d {
                Disposition::Redirect { to } => {
                    format!("redirect to {}", to.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(", "))
                }
                Disposition::Junk => junk_why.clone(),
                d => d.name().to_string(),
            }),
        }

        // RFC 8601 §5: a field claiming our authserv-id that we did not write is removed,
        // also from a copy that was not authenticated (replaced by one that says so).
        if authentication.is_none() && forged_results(headers, &server.hostname) {
            set_headers.retain(|h| !h.name.eq_ignore_ascii_case(AUTH_RESULTS_HEADER));
            set_headers
                .push(HeaderField { name: AUTH_RESULTS_HEADER.into(), value: format!("{}; none", server.hostname) });
        }
        let scl_source = scl.map(|(_, src)| src);
        let scl = scl.map(|(s, _)| s);
        let CopyParts { mailboxes, connector } = copy;
        let enforced: Vec<&str> =
            hits.iter().filter(|h| h.mode == RuleMode::Enforce).map(|h| h.name.as_str()).collect();
        // Ours come last, so a rule cannot set them, nor a client forge them.
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
            scl_source,
            disposition,
            rules_hit: hits,
            set_headers,
            subject_prefix: (!prefix.is_empty()).then_some(prefix),
            authentication,
            spam,
            filtering: Filtering { authenticated: plan.subject.is_some(), spam_filtered: plan.scan },
            exemption: plan.exemption,
            trace,
        }
    }
}

/// Whether the message carries an `Authentication-Results` field in `host`'s name.
fn forged_results(headers: &MessageHeaders, host: &str) -> bool {
    headers.values("authentication-results").any(|v| {
        let id = v.trim_start().split([';', ' ', '\t', '\r', '\n']).next().unwrap_or("");
        id.eq_ignore_ascii_case(host)
    })
}

/// What the rules did to one copy, before authentication and the spam filter.
#[derive(Default)]
pub(crate) struct RuleOutcome {
    /// The SCL and the rule that set it.
    pub scl: Option<(Scl, String)>,
    pub reject: Option<Reply>,
    pub delete: bool,
    pub quarantine: bool,
    pub redirect: Vec<Mailbox>,
    pub set_headers: Vec<HeaderField>,
    pub prefix: String,
    pub hits: Vec<RuleHit>,
    pub trace: Trace,
}

impl RuleOutcome {
    /// A rule already decided where the copy goes.
    pub fn disposes(&self) -> bool {
        self.reject.is_some() || self.delete || self.quarantine || !self.redirect.is_empty()
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
