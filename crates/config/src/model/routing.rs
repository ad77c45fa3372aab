//! `[tenants.routing]`: where a tenant's accepted mail goes.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where a tenant's accepted mail goes: `type = "relay"` or `type = "maildir"`, each with
/// only the keys it takes.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Routing {
    Relay(Relay),
    Maildir(MaildirRoute),
}

/// Relay to next hops over SMTP.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Relay {
    /// The next hops, lowest priority first.
    #[serde(default)]
    pub next_hops: Vec<NextHop>,
    #[serde(default)]
    pub tls: RelayTls,
    /// A PEM certificate chain the edge presents to the next hop, so that an on-premises
    /// server can match it to a connector (the hybrid case).
    pub tls_client_certificate: Option<PathBuf>,
    pub tls_client_key: Option<PathBuf>,
    /// PEM CA bundle next hops are verified against; the system roots when unset.
    pub tls_ca: Option<PathBuf>,
}

/// One Maildir per recipient.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MaildirRoute {
    /// The directory holding the Maildirs, relative to the config file's folder.
    pub path: PathBuf,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NextHop {
    pub host: String,
    #[serde(default = "smtp_port")]
    pub port: u16,
    #[serde(default)]
    pub priority: u32,
}

pub(super) fn smtp_port() -> u16 {
    25
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RelayTls {
    #[default]
    Opportunistic,
    /// TLS with the next hop's certificate verified against its host name.
    Required,
}
