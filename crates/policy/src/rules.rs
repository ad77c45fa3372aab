//! Transport rule predicates: each condition or exception is checked against the facts of one
//! tenant copy and explains what it found.

use doorman_config::address::{Mailbox, ReversePath};
use doorman_config::{Actions, FromScope, Predicates, SenderAddressLocation};

use crate::connector::ConnectorMatch;
use crate::headers::MessageHeaders;
use crate::session::Session;

/// Everything a predicate may look at.
pub(crate) struct Facts<'a> {
    pub session: &'a Session,
    pub mail_from: &'a ReversePath,
    pub recipients: &'a [Mailbox],
    pub connector: Option<&'a ConnectorMatch>,
    pub in_organization: bool,
    pub headers: &'a MessageHeaders,
}

pub(crate) struct PredicateResult {
    pub name: &'static str,
    pub holds: bool,
    pub detail: String,
}

/// Evaluates every predicate that is set, in a fixed order.
pub(crate) fn evaluate(p: &Predicates, location: SenderAddressLocation, f: &Facts) -> Vec<PredicateResult> {
    let mut out = Vec::new();
    let mut push = |name, holds, detail: String| out.push(PredicateResult { name, holds, detail });
    let ip = f.session.client_ip;

    if !p.sender_ip_ranges.is_empty() {
        match p.sender_ip_ranges.iter().find(|e| e.contains(ip)) {
            Some(e) => push("sender_ip_ranges", true, format!("client {ip} is in {}", e.label())),
            None => push(
                "sender_ip_ranges",
                false,
                format!("client {ip} is in none of {}", list(p.sender_ip_ranges.iter().map(|e| e.label()))),
            ),
        }
    }
    if !p.inbound_connector.is_empty() {
        let name = f.connector.map(|c| &*c.name);
        let holds = name.is_some_and(|n| p.inbound_connector.iter().any(|want| want.eq_ignore_ascii_case(n)));
        let came = name.map_or("no connector".to_string(), |n| format!("connector {n:?}"));
        push(
            "inbound_connector",
            holds,
            format!(
                "the message came through {came}; the rule wants {}",
                list(p.inbound_connector.iter().map(|n| format!("{n:?}")))
            ),
        );
    }
    if !p.tls_certificate_name.is_empty() {
        let names = f.session.verified_names();
        let hit = names.iter().find(|n| p.tls_certificate_name.iter().any(|pat| pat.matches(n)));
        match hit {
            Some(n) => push("tls_certificate_name", true, format!("the verified certificate name {n} matches")),
            None if names.is_empty() => {
                push("tls_certificate_name", false, "the client presented no verified certificate".into())
            }
            None => push(
                "tls_certificate_name",
                false,
                format!(
                    "the certificate names {} match none of {}",
                    names.join(", "),
                    list(p.tls_certificate_name.iter())
                ),
            ),
        }
    }
    if !p.sender_domain_is.is_empty() {
        let mut looked = Vec::new();
        if matches!(location, SenderAddressLocation::Header | SenderAddressLocation::HeaderOrEnvelope) {
            looked.push(("From header", f.headers.from_domain()));
        }
        if matches!(location, SenderAddressLocation::Envelope | SenderAddressLocation::HeaderOrEnvelope) {
            looked.push(("envelope sender", f.mail_from.domain()));
        }
        let hit = looked
            .iter()
            .find_map(|(w, d)| d.filter(|d| p.sender_domain_is.iter().any(|want| want.covers(d))).map(|d| (w, d)));
        match hit {
            Some((w, d)) => push(
                "sender_domain_is",
                true,
                format!("the {w} domain {d} is one of {}", list(p.sender_domain_is.iter())),
            ),
            None => {
                let seen = list(looked.iter().map(|(w, d)| format!("{w} {}", d.unwrap_or("(none)"))));
                push("sender_domain_is", false, format!("{seen}: not one of {}", list(p.sender_domain_is.iter())))
            }
        }
    }
    if !p.recipient_domain_is.is_empty() {
        let hit = f
            .recipients
            .iter()
            .filter_map(|m| m.domain_name())
            .find(|d| p.recipient_domain_is.iter().any(|want| want.covers(d)));
        match hit {
            Some(d) => push(
                "recipient_domain_is",
                true,
                format!("recipient domain {d} is one of {}", list(p.recipient_domain_is.iter())),
            ),
            None => push(
                "recipient_domain_is",
                false,
                format!("no recipient domain is one of {}", list(p.recipient_domain_is.iter())),
            ),
        }
    }
    if let Some(scope) = p.from_scope {
        let holds = f.in_organization == (scope == FromScope::InOrganization);
        let is = if f.in_organization {
            "in the organization (own domain, on-premises connector)"
        } else {
            "not in the organization"
        };
        push("from_scope", holds, format!("the sender is {is}"));
    }
    for h in &p.header_contains {
        let words: Vec<String> = h.words.iter().map(|w| w.to_lowercase()).collect();
        let hit = f.headers.values(&h.header).find_map(|v| {
            let lower = v.to_lowercase();
            words.iter().position(|w| lower.contains(w.as_str()))
        });
        match hit {
            Some(i) => push("header_contains", true, format!("header {} contains {:?}", h.header, h.words[i])),
            None => push(
                "header_contains",
                false,
                format!("header {} contains none of {}", h.header, list(h.words.iter().map(|w| format!("{w:?}")))),
            ),
        }
    }
    out
}

/// The actions of a rule, each in a few words, for traces and the tracking log.
pub(crate) fn describe_actions(a: &Actions) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(scl) = a.set_scl {
        out.push(format!("set SCL {scl}"));
    }
    if let Some(h) = &a.set_header {
        out.push(format!("set header {}: {}", h.name, h.value));
    }
    if let Some(p) = &a.prepend_subject {
        out.push(format!("prepend {p:?} to the subject"));
    }
    if !a.redirect_to.is_empty() {
        out.push(format!("redirect to {}", list(a.redirect_to.iter())));
    }
    if a.quarantine {
        out.push("quarantine".into());
    }
    if a.delete {
        out.push("delete silently".into());
    }
    if let Some(r) = &a.reject {
        out.push(format!("reject with {} {}", r.enhanced_status_code, r.text));
    }
    out
}

fn list<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items.into_iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}
