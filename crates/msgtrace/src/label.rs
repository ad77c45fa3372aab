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
    let Some(client) = m.client_ip else {
        return Labelled { door: Door::Unknown, tenant: None, reason: "the row has no client IP".into() };
    };
    let Some(rcpt) = m.recipients.first() else {
        return Labelled { door: Door::Unknown, tenant: None, reason: "the row has no recipient".into() };
    };
    let mut tx = Transaction::new(client, m.sender.clone(), &[rcpt.as_str()]);
    // A trace does not say whether the session used TLS; that the message came in says the
    // connector's TLS requirement, if any, was met. No certificate name is assumed.
    tx.session.tls = Some(TlsInfo::new("TLSv1.3", "TLS13_AES_256_GCM_SHA384", ClientCertificate::None));
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
    let gateway = Gateway::of(tenant.config);
    let connector = decision.connector.as_ref();
    let now = format!("the config in force answers {}", decision.reply);
    let (door, reason) = if gateway.front(client, connector) {
        let how = match connector {
            Some(c) if c.by.is_authenticated() => format!("through connector {:?}", c.name.as_ref()),
            _ if gateway.mx_self => "doorman is the MX".to_string(),
            _ => format!("{client} is the gateway's"),
        };
        (Door::Front, format!("{how}; {now}"))
    } else {
        (Door::Side, format!("{client} is not the gateway's, and no connector vouches for it; {now}"))
    };
    Labelled { door, tenant: Some(tenant.name().to_string()), reason }
}
