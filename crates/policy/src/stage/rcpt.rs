//! RCPT TO, decided per recipient: SMTPUTF8 and the recipient limit, then tenant, block list,
//! connector, TLS, direct send, directory and DNSBL, in that order. The first check that refuses gives the reply; the trace holds every check up to it.

use doorman_config::address::{Mailbox, ReversePath, parse_mailbox};
use doorman_config::names::DomainName;
use doorman_config::{ConnectorType, DomainType};
use serde::Serialize;

use crate::connector::{Attribution, ConnectorMatch, attribute_with, describe_match, describe_restriction, kind_name};
use crate::reply::Reply;
use crate::session::{DnsblAnswer, DnsblResult, Session};
use crate::snapshot::{Policy, TenantId, TenantView};
use crate::stage::mail::smtputf8_check;
use crate::trace::{Check, Detail, Outcome, Trace};

/// The transaction a recipient is decided in.
#[derive(Clone, Copy, Debug)]
pub struct RcptContext<'a> {
    pub sender: &'a ReversePath,
    /// MAIL FROM gave the SMTPUTF8 parameter.
    pub smtputf8: bool,
    /// Distinct recipients accepted so far in the transaction (see [`add_accepted`]).
    pub accepted: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct RcptDecision {
    /// The recipient as the client wrote it.
    pub recipient: String,
    pub reply: Reply,
    /// The tenant the recipient was attributed to; [`Policy::tenant`] gives its name.
    #[serde(skip)]
    pub tenant: Option<TenantId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connector: Option<ConnectorMatch>,
    #[serde(skip)]
    pub accepted: Option<AcceptedRecipient>,
    pub trace: Trace,
}

impl RcptDecision {
    pub fn is_accepted(&self) -> bool {
        self.accepted.is_some()
    }
}

/// Adds a recipient to the transaction's accepted list unless it is there already: a repeated
/// RCPT TO is answered again but counts once, towards the limit and for delivery.
pub fn add_accepted(accepted: &mut Vec<AcceptedRecipient>, recipient: AcceptedRecipient) {
    if !accepted.iter().any(|a| a.mailbox == recipient.mailbox) {
        accepted.push(recipient);
    }
}

/// What DATA needs to know about an accepted recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptedRecipient {
    pub mailbox: Mailbox,
    pub tenant: TenantId,
    pub connector: Option<ConnectorMatch>,
    /// The client is on the tenant's IP allow list.
    pub allow_listed: bool,
    /// False for an unknown recipient of an internal_relay domain.
    pub in_directory: bool,
}

impl Policy {
    pub fn rcpt(&self, session: &Session, cx: &RcptContext<'_>, recipient: &str, detail: Detail) -> RcptDecision {
        let mut trace = Trace::new(detail);
        let mut decision = RcptDecision {
            recipient: recipient.to_string(),
            reply: Reply::recipient_ok(),
            tenant: None,
            connector: None,
            accepted: None,
            trace: Trace::default(),
        };
        match self.rcpt_checks(session, cx, recipient, &mut trace, &mut decision) {
            Ok(accepted) => decision.accepted = Some(accepted),
            Err(reply) => decision.reply = reply,
        }
        decision.trace = trace;
        decision
    }

    fn rcpt_checks(
        &self,
        session: &Session,
        cx: &RcptContext<'_>,
        recipient: &str,
        trace: &mut Trace,
        out: &mut RcptDecision,
    ) -> Result<AcceptedRecipient, Reply> {
        let ip = session.client_ip;
        let mail_from = cx.sender;

        smtputf8_check(recipient, cx.smtputf8, trace)?;

        let max = self.config().server.limits.max_recipients as usize;
        if cx.accepted >= max {
            return Err(trace.refuse(Check::RecipientLimit, Reply::too_many_recipients(), || {
                format!("{} recipient(s) already accepted, the limit is {max}", cx.accepted)
            }));
        }
        trace.step(Check::RecipientLimit, Outcome::Pass, || {
            format!("{} recipient(s) accepted so far, the limit is {max}", cx.accepted)
        });

        let mailbox = match parse_mailbox(recipient) {
            Ok(m) => m,
            Err(why) => {
                return Err(trace.refuse(Check::RecipientSyntax, Reply::bad_recipient_syntax(&why), || {
                    format!("{recipient:?}: {why}")
                }));
            }
        };
        trace.step(Check::RecipientSyntax, Outcome::Pass, || format!("{mailbox} is a valid address"));

        // 1. Tenant attribution through accepted domains.
        let Some(domain) = mailbox.domain_name() else {
            return Err(trace.refuse(Check::TenantAttribution, Reply::relay_denied(), || {
                format!("{} is an address literal, never an accepted domain", mailbox.domain())
            }));
        };
        if mailbox.has_route_syntax() {
            return Err(trace.refuse(Check::TenantAttribution, Reply::relay_denied(), || {
                format!(
                    "the local part {:?} holds % or !, which a next hop may route to another domain (percent hack, bang path)",
                    mailbox.local()
                )
            }));
        }
        let Some((owner, in_directory)) = self.attribute_recipient(&mailbox) else {
            return Err(trace.refuse(Check::TenantAttribution, Reply::relay_denied(), || {
                format!("{domain} is not an accepted domain of any tenant")
            }));
        };
        let tenant = self.tenant(owner.tenant);
        out.tenant = Some(tenant.id);
        trace.step(Check::TenantAttribution, Outcome::Pass, || {
            let accepted = &tenant.config.accepted_domains[owner.index as usize].domain;
            let via =
                if accepted.as_str() == domain { String::new() } else { format!(" as a subdomain of {accepted}") };
            format!("{domain} is an accepted domain of tenant {:?}{via} ({})", tenant.name(), owner.kind)
        });

        // 2. IP block list, unless the allow list also holds the client.
        let hits = tenant.ip_hits(ip);
        let filter = &tenant.config.connection_filter;
        match (hits.block, hits.allow) {
            (Some(b), None) => {
                return Err(trace.refuse(Check::IpBlockList, Reply::customer_block_list(ip, domain), || {
                    format!("{ip} is on the block list (entry {}) and not on the allow list", filter.ip_block_list[b].label())
                }));
            }
            (Some(b), Some(a)) => trace.step(Check::IpBlockList, Outcome::Pass, || {
                format!(
                    "{ip} is on the block list (entry {}), but the allow list holds it too (entry {}): allow beats block",
                    filter.ip_block_list[b].label(),
                    filter.ip_allow_list[a].label()
                )
            }),
            (None, Some(a)) => trace.step(Check::IpBlockList, Outcome::Pass, || {
                format!("{ip} is on the allow list (entry {})", filter.ip_allow_list[a].label())
            }),
            (None, None) => trace.step(Check::IpBlockList, Outcome::Pass, || {
                format!("{ip} is on neither the allow nor the block list")
            }),
        }
        let allow_listed = hits.allow.is_some();

        // 3. Connector attribution.
        let sender_domain = mail_from.domain();
        let connector = match attribute_with(tenant, session, sender_domain, &hits.connectors) {
            Attribution::Restricted { index } => {
                let c = &tenant.config.inbound_connectors[index];
                return Err(trace.refuse(Check::ConnectorAttribution, Reply::partner_connector_restricted(), || {
                    describe_restriction(c, session, sender_domain)
                }));
            }
            Attribution::Matched(m) => {
                trace.step(Check::ConnectorAttribution, Outcome::Pass, || describe_match(&m, session, sender_domain));
                Some(m)
            }
            Attribution::Anonymous => {
                trace.step(Check::ConnectorAttribution, Outcome::Pass, || {
                    "no connector matched: the message is anonymous, from the internet".to_string()
                });
                None
            }
        };
        out.connector = connector.clone();
        let authenticated = connector.as_ref().is_some_and(|m| m.by.is_authenticated());

        // 4. require_tls on the matched connector.
        match &connector {
            Some(m) if tenant.index.connectors[m.index].require_tls => match &session.tls {
                None => {
                    return Err(trace.refuse(Check::RequireTls, Reply::must_issue_starttls(), || {
                        format!("connector {:?} requires TLS and the session has none", m.name)
                    }));
                }
                Some(tls) => trace.step(Check::RequireTls, Outcome::Pass, || {
                    format!("connector {:?} requires TLS; the session uses {}", m.name, tls.version)
                }),
            },
            Some(m) => {
                trace.step(Check::RequireTls, Outcome::Skip, || format!("connector {:?} does not require TLS", m.name))
            }
            None => trace.step(Check::RequireTls, Outcome::Skip, || "no connector, so no TLS requirement".to_string()),
        }

        // 5. reject_direct_send: anonymous mail claiming one of the tenant's own domains.
        if !tenant.index.summary.reject_direct_send {
            trace.step(Check::RejectDirectSend, Outcome::Skip, || "reject_direct_send is off".to_string());
        } else {
            match sender_domain.filter(|d| self.is_own_domain(tenant.id, d)) {
                None => trace.step(Check::RejectDirectSend, Outcome::Pass, || {
                    format!(
                        "sender domain {} is not one of the tenant's accepted domains",
                        sender_domain.unwrap_or("<> (null sender)")
                    )
                }),
                Some(d) if authenticated => trace.step(Check::RejectDirectSend, Outcome::Pass, || {
                    format!(
                        "sender domain {d} is the tenant's own, and the message came through a connector matched by IP or certificate"
                    )
                }),
                Some(d) => {
                    return Err(trace.refuse(Check::RejectDirectSend, Reply::direct_send_not_allowed(), || {
                        format!(
                            "sender domain {d} is the tenant's own, and no connector matched by IP or certificate: direct send"
                        )
                    }));
                }
            }
        }

        // 6. Directory.
        let accepted_domain = || &tenant.config.accepted_domains[owner.index as usize].domain;
        match (owner.kind, in_directory) {
            (_, true) => trace
                .step(Check::Directory, Outcome::Pass, || format!("{} is in the directory", mailbox.directory_key())),
            (DomainType::InternalRelay, false) => trace.step(Check::Directory, Outcome::Pass, || {
                format!(
                    "{} is not in the directory; {} is internal_relay, so it goes on to the next hop",
                    mailbox.directory_key(),
                    accepted_domain()
                )
            }),
            (DomainType::Authoritative, false) => {
                return Err(trace.refuse(Check::Directory, Reply::recipient_access_denied(), || {
                    format!(
                        "{} is not in the directory of the authoritative domain {}",
                        mailbox.directory_key(),
                        accepted_domain()
                    )
                }));
            }
        }

        // 7. DNSBLs, skipped for allow-listed and connector-matched clients.
        self.dnsbl_check(session, tenant, allow_listed, connector.as_ref().filter(|m| m.by.is_authenticated()), trace)?;

        Ok(AcceptedRecipient { mailbox, tenant: tenant.id, connector, allow_listed, in_directory })
    }

    fn dnsbl_check(
        &self,
        session: &Session,
        tenant: TenantView<'_>,
        allow_listed: bool,
        matched: Option<&ConnectorMatch>,
        trace: &mut Trace,
    ) -> Result<(), Reply> {
        let ip = session.client_ip;
        let zones = &self.config().server.dnsbl_zones;
        if allow_listed {
            trace.step(Check::Dnsbl, Outcome::Skip, || format!("{ip} is on tenant {:?}'s allow list", tenant.name()));
            return Ok(());
        }
        if let Some(m) = matched {
            trace.step(Check::Dnsbl, Outcome::Skip, || {
                format!("the message came through {} connector {:?}", kind_name(m.kind), m.name)
            });
            return Ok(());
        }
        if zones.is_empty() {
            trace.step(Check::Dnsbl, Outcome::Skip, || "no DNSBL zones are configured".to_string());
            return Ok(());
        }
        match dnsbl_hit(zones, &session.dnsbl) {
            Some(DnsblHit::Listed { zone, code }) => {
                return Err(trace.refuse(Check::Dnsbl, Reply::dnsbl_listed(ip, zone.as_str()), || {
                    format!("{ip} is listed in {zone} ({code})")
                }));
            }
            Some(DnsblHit::Failed { zone, why }) => {
                return Err(trace.refuse(Check::Dnsbl, Reply::dnsbl_unavailable(ip, zone.as_str()), || {
                    format!(
                        "{zone} could not be asked ({why}); deferring rather than accepting a client that may be listed"
                    )
                }));
            }
            None => {}
        }
        let answer = |zone: &str| session.dnsbl.iter().find(|a| a.zone.eq_ignore_ascii_case(zone)).map(|a| &a.result);
        trace.step(Check::Dnsbl, Outcome::Pass, || {
            let each: Vec<String> = zones
                .iter()
                .map(|zone| match answer(zone.as_str()) {
                    Some(_) => format!("not listed in {zone}"),
                    None => format!("no answer supplied for {zone}, counted as not listed"),
                })
                .collect();
            format!("{ip}: {}", each.join("; "))
        });
        Ok(())
    }
}

/// The DNSBL answer that refuses a client: the first zone, in the configured order, that
/// lists it or cannot be asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnsblHit<'a> {
    Listed { zone: &'a DomainName, code: &'a str },
    Failed { zone: &'a DomainName, why: &'a str },
}

pub fn dnsbl_hit<'a>(zones: &'a [DomainName], answers: &'a [DnsblAnswer]) -> Option<DnsblHit<'a>> {
    zones.iter().find_map(|zone| {
        match answers.iter().find(|a| a.zone.eq_ignore_ascii_case(zone.as_str())).map(|a| &a.result)? {
            DnsblResult::Listed(code) => Some(DnsblHit::Listed { zone, code }),
            DnsblResult::Failed(why) => Some(DnsblHit::Failed { zone, why }),
            DnsblResult::NotListed => None,
        }
    })
}

/// Whether the message counts as "in the organization" for `from_scope`: the envelope sender
/// is one of the tenant's domains and it came through an on-premises connector matched by IP
/// or certificate.
pub(crate) fn in_organization(
    policy: &Policy,
    tenant: TenantId,
    mail_from: &ReversePath,
    connector: Option<&ConnectorMatch>,
) -> bool {
    let own = mail_from.domain().is_some_and(|d| policy.is_own_domain(tenant, d));
    own && connector.is_some_and(|m| m.kind == ConnectorType::OnPremises && m.by.is_authenticated())
}
