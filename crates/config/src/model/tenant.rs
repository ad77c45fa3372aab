//! `[[tenants]]`: accepted domains, the directory, inbound connectors, the connection filter.

use std::fmt;
use std::path::PathBuf;

use serde::de::Deserializer;
use serde::{Deserialize, Serialize};

use crate::address::Mailbox;
use crate::names::{CertNamePattern, DomainName, SenderDomainPattern};
use crate::net::IpEntry;

use super::*;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    pub name: String,
    /// The hosts the tenant's public MX names: `"self"` when it is doorman, else the gateway's
    /// host names, optionally with the addresses it sends from. The analyzer uses it to tell
    /// the front door from a side door.
    #[serde(default)]
    pub mx: Vec<MxHost>,
    #[serde(default)]
    pub accepted_domains: Vec<AcceptedDomain>,
    /// The directory, inline.
    #[serde(default)]
    pub recipients: Vec<Mailbox>,
    /// The directory, one address per line (`#` comments); relative to the config file.
    pub recipients_file: Option<PathBuf>,
    /// Filled by the loader from `recipients_file`, with each address's line number.
    #[serde(skip)]
    pub recipients_from_file: Vec<(Mailbox, usize)>,
    #[serde(default)]
    pub inbound_connectors: Vec<InboundConnector>,
    #[serde(default)]
    pub connection_filter: ConnectionFilter,
    #[serde(default)]
    pub transport_rules: Vec<TransportRule>,
    /// `Set-OrganizationConfig -RejectDirectSend`: anonymous mail from the tenant's own domains.
    #[serde(default)]
    pub reject_direct_send: bool,
    /// `Set-OrganizationConfig -SCLJunkThreshold`: a copy delivered with an SCL above it goes
    /// to the recipients' Junk Email folder. Exchange's default is 4, so SCL 5 and up.
    #[serde(default = "default_scl_junk_threshold")]
    pub scl_junk_threshold: Scl,
    /// What the spam filter's SCL leads to.
    #[serde(default)]
    pub anti_spam: AntiSpamPolicy,
    /// A copy failing DMARC under the sender's `p=reject`: refused after DATA, or quarantined.
    #[serde(default)]
    pub dmarc_reject_action: DmarcRejectAction,
    /// `Set-ArcConfig -ArcTrustedSealers`: forwarders (mailing lists, gateways) whose ARC
    /// seal is believed, so their authentication results stand in for a DMARC failure that
    /// forwarding caused.
    #[serde(default)]
    pub trusted_arc_sealers: Vec<DomainName>,
    pub routing: Option<Routing>,
}

fn default_scl_junk_threshold() -> Scl {
    Scl(4)
}

impl Tenant {
    /// Every directory entry, inline and from the file.
    pub fn directory(&self) -> impl Iterator<Item = &Mailbox> {
        self.recipients.iter().chain(self.recipients_from_file.iter().map(|(m, _)| m))
    }

    /// Whether the tenant's MX is doorman itself (`mx = ["self"]`).
    pub fn mx_is_self(&self) -> bool {
        self.mx.iter().any(|h| h.host.eq_ignore_ascii_case("self"))
    }
}

/// An MX host: `"mx.gateway.example"`, or `{ host = "mx.gateway.example", addresses =
/// ["80.66.20.0/28"] }` with the networks the gateway delivers from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MxHost {
    pub host: String,
    pub addresses: Vec<IpEntry>,
}

/// A host alone when no addresses are given, as it is most often written.
impl Serialize for MxHost {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        if self.addresses.is_empty() {
            return s.serialize_str(&self.host);
        }
        let mut t = s.serialize_struct("MxHost", 2)?;
        t.serialize_field("host", &self.host)?;
        t.serialize_field("addresses", &self.addresses)?;
        t.end()
    }
}

impl<'de> Deserialize<'de> for MxHost {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Host(String),
            Table {
                host: String,
                #[serde(default)]
                addresses: Vec<IpEntry>,
            },
        }
        Ok(match Form::deserialize(d)? {
            Form::Host(host) => MxHost { host, addresses: Vec::new() },
            Form::Table { host, addresses } => MxHost { host, addresses },
        })
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptedDomain {
    pub domain: DomainName,
    #[serde(rename = "type", default)]
    pub kind: DomainType,
    #[serde(default)]
    pub match_subdomains: bool,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DomainType {
    /// Every recipient must exist in the directory.
    #[default]
    Authoritative,
    /// Unknown recipients are passed on to the next hop.
    InternalRelay,
}

impl fmt::Display for DomainType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DomainType::Authoritative => "authoritative",
            DomainType::InternalRelay => "internal_relay",
        })
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InboundConnector {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ConnectorType,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "any_sender")]
    pub sender_domains: Vec<SenderDomainPattern>,
    #[serde(default)]
    pub sender_ip_addresses: Vec<IpEntry>,
    pub tls_sender_certificate_name: Option<CertNamePattern>,
    #[serde(default)]
    pub restrict_domains_to_ip_addresses: bool,
    #[serde(default)]
    pub restrict_domains_to_certificate: bool,
    #[serde(default)]
    pub require_tls: bool,
    /// Enhanced filtering for connectors: judge the client before the skipped hops.
    pub enhanced_filtering: Option<EnhancedFiltering>,
    pub comment: Option<String>,
}

impl InboundConnector {
    pub fn restricts(&self) -> bool {
        self.restrict_domains_to_ip_addresses || self.restrict_domains_to_certificate
    }
}

pub(super) fn yes() -> bool {
    true
}
pub(super) fn any_sender() -> Vec<SenderDomainPattern> {
    vec![SenderDomainPattern::Any]
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorType {
    Partner,
    OnPremises,
}

impl fmt::Display for ConnectorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectorType::Partner => "partner",
            ConnectorType::OnPremises => "on_premises",
        })
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionFilter {
    /// Allow beats block, as in Exchange Online; allow-listed clients also skip DNSBLs.
    #[serde(default)]
    pub ip_allow_list: Vec<IpEntry>,
    #[serde(default)]
    pub ip_block_list: Vec<IpEntry>,
}
