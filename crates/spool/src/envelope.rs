//! What the delivering side needs to know about a tenant copy, besides its bytes.

use serde::{Deserialize, Serialize};

/// Version tag of the envelope line.
pub const SCHEMA: &str = "doorman.spool/1";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub schema: String,
    pub queue_id: String,
    /// RFC 3339, UTC.
    pub received_at: String,
    /// The edge session that received it; the tracking log's `session`.
    pub session: String,
    pub client_ip: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helo: Option<String>,
    /// `TLSv1.3 TLS13_AES_256_GCM_SHA384`; absent without TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<String>,
    /// Names of the verified client certificate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificate_names: Vec<String>,
    /// The envelope sender; empty for the null sender.
    pub mail_from: String,
    /// As declared by MAIL FROM's BODY parameter.
    pub body: BodyType,
    pub smtputf8: bool,
    pub recipients: Vec<Recipient>,
    pub tenant: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scl: Option<i8>,
    pub disposition: Disposition,
    /// Transport rules enforced on this copy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// Bytes of the message that follows the envelope line.
    pub size: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    pub address: String,
    /// False for an unknown recipient of an internal_relay domain: the next hop decides.
    pub in_directory: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Disposition {
    Deliver,
    Quarantine,
    /// Deliver to these addresses instead of the recipients.
    Redirect {
        to: Vec<String>,
    },
    /// Refused by a transport rule while other tenants' copies were accepted: the recipients
    /// are owed a DSN carrying this reply.
    Reject {
        reply: String,
    },
    /// Deliver to the recipients' Junk Email folder (the SCL is above the tenant's junk
    /// threshold). A next hop gets it like any other copy, with the SCL in its report header.
    Junk,
}

/// MAIL FROM's BODY parameter, in the envelope as `7bit` or `8bitmime`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BodyType {
    #[serde(rename = "7bit")]
    SevenBit,
    #[serde(rename = "8bitmime")]
    EightBitMime,
}
