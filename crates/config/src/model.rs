//! The configuration schema, in Exchange Online's vocabulary written in snake_case
//! as Exchange Online's cmdlets name them. Every struct denies unknown keys: a misspelt `restrict_domains_to_ip`
//! must be an error, not a silently open side door.
//!
//! Values are validated as they are read (IP entries, domains, addresses, SCL, status codes),
//! so such errors point at the value's own line and column. Checks that span several values
//! live in `check.rs`.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use crate::address::Mailbox;
use crate::names::{CertNamePattern, DomainName, SenderDomainPattern, string_form};
use crate::net::IpEntry;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: Server,
    #[serde(default)]
    pub tenants: Vec<Tenant>,
}

// ---------------------------------------------------------------------------------------------
// server

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// The name in the banner, in EHLO and in `Received`.
    #[serde(default = "default_hostname")]
    pub hostname: String,
    #[serde(default = "default_listeners")]
    pub listeners: Vec<Listener>,
    #[serde(default)]
    pub tls: ServerTls,
    /// The only peers whose PROXY protocol header is believed.
    #[serde(default)]
    pub trusted_proxies: Vec<IpEntry>,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default = "default_spool_dir")]
    pub spool_dir: PathBuf,
    #[serde(default = "default_tracking_log")]
    pub tracking_log: PathBuf,
    /// DNS block lists, queried for clients that are neither allow-listed nor connector-matched.
    #[serde(default)]
    pub dnsbl_zones: Vec<DomainName>,
    /// The resolver for DNSBL lookups.
    #[serde(default)]
    pub dns: Dns,
    /// Where the Prometheus text endpoint listens (`GET /metrics`); off when unset.
    pub metrics_listener: Option<SocketAddr>,
    /// Delivery out of the spool.
    #[serde(default)]
    pub queue: Queue,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            hostname: default_hostname(),
            listeners: default_listeners(),
            tls: ServerTls::default(),
            trusted_proxies: Vec::new(),
            limits: Limits::default(),
            spool_dir: default_spool_dir(),
            tracking_log: default_tracking_log(),
            dnsbl_zones: Vec::new(),
            dns: Dns::default(),
            metrics_listener: None,
            queue: Queue::default(),
        }
    }
}

fn default_hostname() -> String {
    "doorman.localdomain".into()
}
fn default_listeners() -> Vec<Listener> {
    vec![Listener { address: SocketAddr::from(([127, 0, 0, 1], 2525)), tls: ListenerTls::Starttls }]
}
fn default_spool_dir() -> PathBuf {
    "var/spool".into()
}
fn default_tracking_log() -> PathBuf {
    "var/log/tracking.jsonl".into()
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dns {
    /// Name servers as `ip:port`; the system's (`/etc/resolv.conf`) when empty.
    pub servers: Vec<SocketAddr>,
    /// How long one DNSBL lookup may take before it counts as failed.
    pub timeout: Seconds,
}

impl Default for Dns {
    fn default() -> Self {
        Dns { servers: Vec::new(), timeout: Seconds(Duration::from_secs(5)) }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Queue {
    /// Waits between attempts after a 4xx or a failed connection; the last one repeats.
    pub retry_schedule: Vec<Seconds>,
    /// A copy not delivered within this time fails, and its sender gets a DSN.
    pub max_age: Seconds,
    /// Concurrent deliveries to one next hop, so a slow or dead one cannot hold up the rest.
    pub max_connections_per_hop: u32,
    /// At most this many DSNs a minute; the rest wait (never dropped).
    pub max_dsns_per_minute: u32,
    /// Deliver nothing: accepted mail stays in the spool (maintenance, or a next hop that must
    /// not be fed yet). Receiving goes on.
    pub hold: bool,
}

impl Default for Queue {
    fn default() -> Self {
        let m = |n| Seconds(Duration::from_secs(n));
        Queue {
            retry_schedule: vec![m(60), m(300), m(900), m(1800), m(3600)],
            max_age: m(2 * 86_400),
            max_connections_per_hop: 10,
            max_dsns_per_minute: 60,
            hold: false,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    pub address: SocketAddr,
    #[serde(default)]
    pub tls: ListenerTls,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ListenerTls {
    /// Plain text with STARTTLS offered, as on port 25.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465 style).
    Implicit,
    /// No TLS at all; for tests and for a listener behind a TLS-terminating proxy.
    None,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTls {
    /// PEM certificate chain. Without it the edge makes a self-signed certificate at start.
    pub certificate: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// PEM CA bundle that client certificates are verified against; the system roots when unset.
    pub client_ca: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Bytes; Exchange Online's default receive limit is 36 MB.
    pub max_message_size: u64,
    pub max_recipients: u32,
    pub max_connections: u32,
    pub max_connections_per_ip: u32,
    /// Errors in one session before `421` and disconnect.
    pub max_errors: u32,
    pub command_timeout: Seconds,
    pub data_timeout: Seconds,
    /// Bytes per second a client must keep up during DATA (checked after its first 30 s).
    pub min_data_rate: u64,
    /// On SIGTERM, how long open sessions may go on before they are told `421`.
    pub shutdown_grace: Seconds,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: 36 * 1024 * 1024,
            max_recipients: 500,
            max_connections: 1000,
            max_connections_per_ip: 20,
            max_errors: 10,
            command_timeout: Seconds(Duration::from_secs(300)),
            data_timeout: Seconds(Duration::from_secs(600)),
            min_data_rate: 500,
            shutdown_grace: Seconds(Duration::from_secs(30)),
        }
    }
}

/// A duration written as `30s`, `5m`, `1h`, `2d`, or a number of seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seconds(pub Duration);

/// The longest duration doorman takes: a hundred years, which no timer needs and every
/// clock computation can add to a time without overflowing.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86_400);

/// A duration as `30s`, `5m`, `1h`, `2d`, or a bare number of seconds: the one parser for
/// config values and command-line ages. Checked: a value beyond [`MAX_DURATION`] is an error,
/// never a wrapped number.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let v = text.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("{v:?} is not a duration such as 30s, 5m, 1h or 2d"))?;
    let mult = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{v:?} is not a duration (use s, m, h or d)")),
    };
    n.checked_mul(mult)
        .map(Duration::from_secs)
        .filter(|d| *d <= MAX_DURATION)
        .ok_or_else(|| format!("{v:?} is longer than doorman takes (at most {} days)", MAX_DURATION.as_secs() / 86_400))
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Seconds;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as \"30s\", \"5m\", \"1h\" or a number of seconds")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Seconds, E> {
                let secs = u64::try_from(v).map_err(|_| E::custom("a duration cannot be negative"))?;
                parse_duration(&secs.to_string()).map(Seconds).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Seconds, E> {
                parse_duration(v).map(Seconds).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------------------------
// tenant

#[derive(Clone, Debug, Deserialize)]
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
    pub routing: Option<Routing>,
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

#[derive(Clone, Debug, Deserialize)]
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

#[derive(Clone, Debug, Deserialize)]
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
    pub comment: Option<String>,
}

impl InboundConnector {
    pub fn restricts(&self) -> bool {
        self.restrict_domains_to_ip_addresses || self.restrict_domains_to_certificate
    }
}

fn yes() -> bool {
    true
}
fn any_sender() -> Vec<SenderDomainPattern> {
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

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionFilter {
    /// Allow beats block, as in Exchange Online; allow-listed clients also skip DNSBLs.
    #[serde(default)]
    pub ip_allow_list: Vec<IpEntry>,
    #[serde(default)]
    pub ip_block_list: Vec<IpEntry>,
}

// ---------------------------------------------------------------------------------------------
// transport rules

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransportRule {
    pub name: String,
    /// 0 runs first. Unset: after every rule with a priority, in file order.
    pub priority: Option<u32>,
    #[serde(default)]
    pub mode: RuleMode,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Where `sender_domain_is` looks, as Exchange's `-SenderAddressLocation`.
    #[serde(default)]
    pub sender_address_location: SenderAddressLocation,
    /// All conditions must hold; an empty set matches every message.
    #[serde(default)]
    pub conditions: Predicates,
    /// Any exception that holds stops the rule.
    #[serde(default)]
    pub exceptions: Predicates,
    pub actions: Actions,
    #[serde(default)]
    pub stop_processing: bool,
    pub comment: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RuleMode {
    #[default]
    Enforce,
    /// Evaluate and record in the trace and the log, but do not act.
    Audit,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SenderAddressLocation {
    /// The `From:` header (Exchange's default).
    #[default]
    Header,
    /// The envelope sender (`MAIL FROM`).
    Envelope,
    HeaderOrEnvelope,
}

/// Conditions or exceptions. Each set field is one predicate; within a field any value may
/// match.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Predicates {
    #[serde(default)]
    pub sender_ip_ranges: Vec<IpEntry>,
    /// Names of the tenant's inbound connectors.
    #[serde(default)]
    pub inbound_connector: Vec<String>,
    #[serde(default)]
    pub tls_certificate_name: Vec<CertNamePattern>,
    #[serde(default)]
    pub sender_domain_is: Vec<DomainName>,
    #[serde(default)]
    pub recipient_domain_is: Vec<DomainName>,
    pub from_scope: Option<FromScope>,
    #[serde(default)]
    pub header_contains: Vec<HeaderContains>,
}

impl Predicates {
    pub fn is_empty(&self) -> bool {
        self.sender_ip_ranges.is_empty()
            && self.inbound_connector.is_empty()
            && self.tls_certificate_name.is_empty()
            && self.sender_domain_is.is_empty()
            && self.recipient_domain_is.is_empty()
            && self.from_scope.is_none()
            && self.header_contains.is_empty()
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FromScope {
    /// The sender is one of the tenant's accepted domains and the message came through an
    /// on-premises connector matched by IP or certificate.
    InOrganization,
    NotInOrganization,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderContains {
    pub header: String,
    /// Case-insensitive substrings of the decoded header value; any one matches.
    pub words: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actions {
    pub set_scl: Option<Scl>,
    pub reject: Option<RejectAction>,
    #[serde(default)]
    pub delete: bool,
    #[serde(default)]
    pub quarantine: bool,
    #[serde(default)]
    pub redirect_to: Vec<Mailbox>,
    pub set_header: Option<SetHeader>,
    pub prepend_subject: Option<String>,
}

impl Actions {
    pub fn is_empty(&self) -> bool {
        self.set_scl.is_none()
            && self.reject.is_none()
            && !self.delete
            && !self.quarantine
            && self.redirect_to.is_empty()
            && self.set_header.is_none()
            && self.prepend_subject.is_none()
    }
}

/// Spam confidence level: -1 (skip spam filtering) to 9.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Scl(pub i8);

impl<'de> Deserialize<'de> for Scl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Scl;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an SCL from -1 to 9")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scl, E> {
                match v {
                    -1..=9 => Ok(Scl(v as i8)),
                    _ => Err(E::custom(format!("SCL {v} is out of range: it runs from -1 to 9"))),
                }
            }
        }
        d.deserialize_i64(V)
    }
}

impl fmt::Display for Scl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectAction {
    #[serde(default = "default_reject_code")]
    pub enhanced_status_code: EnhancedCode,
    #[serde(default = "default_reject_text")]
    pub text: String,
}

fn default_reject_code() -> EnhancedCode {
    EnhancedCode { class: 5, subject: 7, detail: 1 }
}
fn default_reject_text() -> String {
    "Delivery not authorized, message refused".into()
}

/// An RFC 3463 enhanced status code such as `5.7.1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EnhancedCode {
    pub class: u8,
    pub subject: u16,
    pub detail: u16,
}

impl EnhancedCode {
    pub fn parse(s: &str) -> Result<EnhancedCode, String> {
        let bad = || format!("{s:?} is not an enhanced status code such as 5.7.1");
        let mut it = s.trim().split('.');
        let (Some(c), Some(sub), Some(det), None) = (it.next(), it.next(), it.next(), it.next()) else {
            return Err(bad());
        };
        let class: u8 = c.parse().map_err(|_| bad())?;
        let subject: u16 = sub.parse().map_err(|_| bad())?;
        let detail: u16 = det.parse().map_err(|_| bad())?;
        if !matches!(class, 2 | 4 | 5) || subject > 999 || detail > 999 {
            return Err(bad());
        }
        Ok(EnhancedCode { class, subject, detail })
    }

    /// For a rule's reject: only permanent failures make sense after DATA.
    fn parse_permanent(s: &str) -> Result<EnhancedCode, String> {
        let code = EnhancedCode::parse(s)?;
        if code.class != 5 {
            return Err(format!("{s:?} is not a permanent failure: a reject code starts with 5"));
        }
        Ok(code)
    }
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

string_form!(EnhancedCode, EnhancedCode::parse_permanent, serialize);

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetHeader {
    pub name: String,
    pub value: String,
}

// ---------------------------------------------------------------------------------------------
// routing

/// Where a tenant's accepted mail goes: `type = "relay"` or `type = "maildir"`, each with
/// only the keys it takes.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Routing {
    Relay(Relay),
    Maildir(MaildirRoute),
}

/// Relay to next hops over SMTP.
#[derive(Clone, Debug, Deserialize)]
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
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaildirRoute {
    /// The directory holding the Maildirs, relative to the config file's folder.
    pub path: PathBuf,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NextHop {
    pub host: String,
    #[serde(default = "smtp_port")]
    pub port: u16,
    #[serde(default)]
    pub priority: u32,
}

fn smtp_port() -> u16 {
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
