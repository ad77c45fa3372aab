//! What happens to accepted mail before the engine decides its copies: sender
//! authentication (SPF, DKIM, ARC and DMARC with `mail-auth`), enhanced filtering's DNSBL
//! checks of the original client, and the rspamd scan.
//!
//! The engine says what a message needs ([`FilterPlan`]); [`Filter::gather`] finds it out
//! and hands back facts ([`FilterFacts`]). The edge and `doorman explain --message` both call
//! it, so what `explain` shows is what the edge does.

pub mod auth;
pub mod rspamd;

use doorman_config::Config;
use doorman_dns::dnsbl::Dnsbl;
use doorman_policy::filtering::spam::SpamOutcome;
use doorman_policy::{FilterFacts, FilterPlan, Session};

pub use auth::{Authenticator, Envelope};
pub use rspamd::{Rspamd, ScanEnvelope};

/// Authentication and the spam filter as one config sets them up.
pub struct Filter {
    authenticator: Option<Authenticator>,
    rspamd: Option<Rspamd>,
}

/// One message as the filter sees it (its envelope is the plan's).
pub struct Message<'a> {
    pub session: &'a Session,
    /// The id rspamd logs the scan under.
    pub queue_id: &'a str,
    /// The message as received, before doorman adds any header.
    pub bytes: &'a [u8],
}

impl Filter {
    /// The filter `config` sets up, asking DNS through `dnsbl`'s resolver (one cache for all),
    /// sharing `previous`'s spam-filter slots where it can (see [`Rspamd::new`]).
    pub fn new(config: &Config, dnsbl: &Dnsbl, previous: Option<&Filter>) -> Filter {
        let server = &config.server;
        let authenticator = server.authentication.enabled.then(|| {
            let zones = server.dnsbl_zones.iter().map(|z| z.to_string()).collect();
            Authenticator::new(dnsbl.resolver().clone(), dnsbl.clone(), zones, server.dns.timeout.0, &server.hostname)
        });
        let last = previous.and_then(|p| p.rspamd.as_ref());
        Filter { authenticator, rspamd: server.spam_filter.as_ref().map(|f| Rspamd::new(f, last)) }
    }

    /// A filter that finds nothing out.
    pub fn off() -> Filter {
        Filter { authenticator: None, rspamd: None }
    }

    /// Finds out what `plan` asks for: each subject authenticated once, and one scan when any
    /// copy needs it (authentication and the scan run at the same time).
    pub async fn gather(&self, plan: &FilterPlan, message: &Message<'_>) -> FilterFacts {
        let envelope = Envelope { mail_from: &plan.mail_from };
        let authenticate = async {
            let mut out = Vec::new();
            if let Some(a) = &self.authenticator {
                for subject in plan.subjects() {
                    out.push(a.authenticate(subject, &envelope, message.bytes).await);
                }
            }
            out
        };
        let scan = async {
            match (&self.rspamd, plan.needs_scan()) {
                (Some(r), true) => {
                    let (ip, helo) = match plan.scan_subject() {
                        Some(s) => (s.ip, s.helo.as_deref()),
                        None => (message.session.client_ip, message.session.helo.as_deref()),
                    };
                    let e = ScanEnvelope {
                        ip,
                        helo,
                        mail_from: &plan.mail_from,
                        recipients: &plan.recipients,
                        queue_id: message.queue_id,
                    };
                    r.scan(&e, message.bytes).await
                }
                _ => SpamOutcome::NotAsked,
            }
        };
        let (authentication, spam) = tokio::join!(authenticate, scan);
        FilterFacts { authentication, spam }
    }
}
