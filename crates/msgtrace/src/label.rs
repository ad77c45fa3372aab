//! Which door a traced message took. The engine attributes the row's client, sender and
//! recipient as it would at RCPT (tenant, connector); the audit's [`Gateway::front`] then
//! says front or side door, so a row gets the door the audit gives its class of sender.

use doorman_audit::Gateway;
use doorman_policy::{ClientCertificate, Detail, Policy, TlsInfo, Transaction};
use serde::Serialize;

use crate::read::{Direction, Message};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Door {
    /// Through the gateway the MX names, or a connector matched by IP or certificate.
    Front,
    /// Around the gateway.
    Side,
    /// Sent by the tenant's own users.
    Internal,
    /// The row lacks what the question needs (the client IP), or no tenant has the recipient.
    Unknown,
}

impl Door {
    pub fn label(self) -> &'static str {
        match self {
            Door::Front => "front door",
            Door::Side => "side door",
            Door::Internal => "internal",
            Door::Unknown => "unknown",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Labelled {
    pub door: Door,
    pub tenant: Option<String>,
    pub reason: String,
}

/// The door `m` took into `policy`'s tenants (judged by its first recipient).
pub fn label(policy: &Policy, m: &Message) -> Labelled {
    if m.direction == Some(Direction::Originating) {
        return Labelled {
            door: Door::Internal,
            tenant: None,
            reason: "the trace says it was sent by the tenant (Originating)".into(),
        };
    }
    let Some(client) = m.client_ip.or(m.original_client_ip) else {
        return Labelled { door: Door::Unknown, tenant: None, reason: "the row has no client IP".into() };
    };
    let Some(rcpt) = m.recipients.first() else {
        return Labelled { door: Door::Unknown, tenant: None, reason: "the row has no recipient".into() };
    };
    let mut tx = Transaction::new(client, m.sender.clone(), &[rcpt.as_str()]);
    // A trace does not say whether the session used TLS; that the message came in says the
    // connector's TLS requirement, if any, was met. A certificate name counts only where the
    // trace gives one.
    let certificate = match &m.certificate_name {
        Some(name) => ClientCertificate::Verified { names: vec![name.clone()] },
        None => ClientCertificate::None,
    };
    tx.session.tls = Some(TlsInfo::new("TLSv1.3", "TLS13_AES_256_GCM_SHA384", certificate));
    let e = policy.evaluate(&tx, Detail::Brief);
    let Some(decision) = e.recipients.first().map(|r| &r.decision) else {
        return Labelled {
            door: Door::Unknown,
            tenant: None,
            reason: format!("the session from {client} ends before RCPT: {}", e.connect.reply),
        };
    };
    let Some(tenant) = decision.tenant.map(|t| policy.tenant(t)) else {
        return Labelled { door: Door::Unknown, tenant: None, reason: format!("no tenant has {rcpt}") };
    };
    let name = Some(tenant.name().to_string());
    let gateway = Gateway::of(tenant.config);
    let connector = decision.connector.as_ref();
    let now = format!("the config in force answers {}", decision.reply);
    if gateway.front(client, connector) {
        let how = match connector {
            Some(c) if c.by.is_authenticated() => format!("through connector {:?}", c.name.as_ref()),
            _ if gateway.mx_self => "doorman is the MX".to_string(),
            _ => format!("{client} is the gateway's"),
        };
        return Labelled { door: Door::Front, tenant: name, reason: format!("{how}; {now}") };
    }
    // The trace names a connector that admits by certificate: the gateway's certificate was
    // checked when the message came, which the trace does not repeat.
    if let Some(named) = m.connector.as_deref()
        && let Some(c) = tenant
            .config
            .inbound_connectors
            .iter()
            .find(|c| c.enabled && c.name.eq_ignore_ascii_case(named) && c.tls_sender_certificate_name.is_some())
    {
        return Labelled {
            door: Door::Front,
            tenant: name,
            reason: format!("the trace names connector {:?}, which admits by the gateway's certificate", c.name),
        };
    }
    // A sender of the tenant's own domains from outside the gateway is either its own users'
    // mail or direct send; a message trace does not tell which.
    let own = m.sender.rsplit_once('@').is_some_and(|(_, d)| policy.is_own_domain(tenant.id, &d.to_ascii_lowercase()));
    if own && connector.is_none() {
        return Labelled {
            door: Door::Unknown,
            tenant: name,
            reason: format!(
                "the sender is the tenant's own domain, from {client} outside the gateway: internal mail or direct send, which this trace cannot tell apart (the summary report's directionality can); {now}"
            ),
        };
    }
    Labelled {
        door: Door::Side,
        tenant: name,
        reason: format!("{client} is not the gateway's, and no connector vouches for it; {now}"),
    }
}
