//! The shape of one tracking line. Every field but `time` and `event` is optional, because
//! a decision at connect knows no sender and a reject at RCPT knows no queue id.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A connection was answered (greeting or refusal).
    Connect,
    /// A command, recipient or message was refused; `reply` holds what the client saw.
    Reject,
    /// A tenant copy is durable in the spool.
    Receive,
    Deliver,
    Defer,
    Fail,
    /// Accepted and discarded by a transport rule.
    Drop,
    Quarantine,
    Dsn,
    /// An administrator removed a queued copy (`doorman queue remove`): no delivery, no DSN.
    AdminRemove,
    /// An administrator released a quarantined copy for delivery.
    AdminRelease,
    /// An administrator deleted a quarantined copy.
    AdminDelete,
    /// An administrator made a queued copy due now (`queue retry`, `queue flush`).
    AdminRetry,
    /// An administrator put a queued copy on hold (`queue hold`).
    AdminHold,
    /// An administrator put a held copy back in the queue (`queue release`).
    AdminHoldRelease,
    /// A copy that could not be read whole was set aside in the spool's `corrupt/`; `reply`
    /// says why. Nothing more happens to it until an administrator acts.
    SetAside,
}

impl Event {
    pub const ALL: [Event; 16] = [
        Event::Connect,
        Event::Reject,
        Event::Receive,
        Event::Deliver,
        Event::Defer,
        Event::Fail,
        Event::Drop,
        Event::Quarantine,
        Event::Dsn,
        Event::AdminRemove,
        Event::AdminRelease,
        Event::AdminDelete,
        Event::AdminRetry,
        Event::AdminHold,
        Event::AdminHoldRelease,
        Event::SetAside,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Event::Connect => "connect",
            Event::Reject => "reject",
            Event::Receive => "receive",
            Event::Deliver => "deliver",
            Event::Defer => "defer",
            Event::Fail => "fail",
            Event::Drop => "drop",
            Event::Quarantine => "quarantine",
            Event::Dsn => "dsn",
            Event::AdminRemove => "admin_remove",
            Event::AdminRelease => "admin_release",
            Event::AdminDelete => "admin_delete",
            Event::AdminRetry => "admin_retry",
            Event::AdminHold => "admin_hold",
            Event::AdminHoldRelease => "admin_hold_release",
            Event::SetAside => "set_aside",
        }
    }

    pub fn from_name(name: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.name().eq_ignore_ascii_case(name))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// RFC 3339, UTC, milliseconds: sorts as text.
    pub time: String,
    pub event: Event,
    /// Ties together the lines of one connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helo: Option<String>,
    /// `TLSv1.3 TLS13_AES_256_GCM_SHA384`; absent without TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<String>,
    /// The first name of a verified client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_name: Option<String>,
    /// The envelope sender; empty for the null sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rcpt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector: Option<String>,
    /// The SMTP stage that decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    /// The reply sent, e.g. `550 5.7.51 TenantInboundAttribution; …`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scl: Option<i8>,
    /// Who set the SCL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scl_source: Option<SclSource>,
    /// rspamd's score, when the copy was scanned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spam_score: Option<f64>,
    /// EOP's composite authentication, `fail reason=000`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compauth: Option<String>,
    /// The DMARC result and the policy the sender publishes, `fail p=reject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dmarc: Option<String>,
    /// The client authentication judged, when enhanced filtering skipped hops to reach it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_client_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Who ran an administrative action (`admin_*` events): the Unix user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// The cluster node that logged it, when read from the cluster's trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl Record {
    /// A copy set aside in the spool's `corrupt/`, and why.
    pub fn set_aside(queue_id: &str, why: &str) -> Record {
        let mut r = Record::now(Event::SetAside);
        r.queue_id = Some(queue_id.to_string());
        r.reply = Some(format!("set aside in corrupt/: {why}"));
        r
    }

    /// A record stamped now.
    pub fn now(event: Event) -> Record {
        Record {
            time: crate::time::now_rfc3339(),
            event,
            session: None,
            queue_id: None,
            client_ip: None,
            helo: None,
            tls: None,
            cert_name: None,
            mail_from: None,
            rcpt: None,
            tenant: None,
            connector: None,
            stage: None,
            reply: None,
            rules: Vec::new(),
            scl: None,
            scl_source: None,
            spam_score: None,
            compauth: None,
            dmarc: None,
            original_client_ip: None,
            size: None,
            uid: None,
            node: None,
        }
    }
}

/// Who set a copy's SCL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SclSource {
    /// A transport rule (`set_scl`).
    Rule,
    /// rspamd's verdict.
    SpamFilter,
    /// The sender's DMARC policy (`p=quarantine`).
    Authentication,
}

/// The SMTP stage that decided, in the log as `connect`, `starttls`, `helo`, `mail`, `rcpt`
/// or `data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Connect,
    Starttls,
    Helo,
    Mail,
    Rcpt,
    Data,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Connect => "connect",
            Stage::Starttls => "starttls",
            Stage::Helo => "helo",
            Stage::Mail => "mail",
            Stage::Rcpt => "rcpt",
            Stage::Data => "data",
        }
    }
}
