//! `[server]`: listeners, TLS, limits, DNS, the spool and tracking log, the queue, and the
//! checked duration type they use.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use super::{Authentication, SpamFilter};
use crate::names::DomainName;
use crate::net::IpEntry;

#[derive(Clone, Debug, Deserialize, Serialize)]
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
    /// How a spool commit makes copies durable.
    #[serde(default)]
    pub spool_sync: SpoolSync,
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
    /// SPF, DKIM, DMARC and ARC on accepted mail.
    #[serde(default)]
    pub authentication: Authentication,
    /// The rspamd daemon; no spam filtering without it.
    pub spam_filter: Option<SpamFilter>,
    /// Lets a reload take away every tenant or every accepted domain. Off, such a config is
    /// refused: it is far more often a file emptied or cut short than a real intention.
    #[serde(default)]
    pub allow_empty: bool,
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
            spool_sync: SpoolSync::default(),
            tracking_log: default_tracking_log(),
            dnsbl_zones: Vec::new(),
            dns: Dns::default(),
            metrics_listener: None,
            queue: Queue::default(),
            authentication: Authentication::default(),
            spam_filter: None,
            allow_empty: false,
        }
    }
}

pub(super) fn default_hostname() -> String {
    "doorman.localdomain".into()
}
pub(super) fn default_listeners() -> Vec<Listener> {
    vec![Listener { address: SocketAddr::from(([127, 0, 0, 1], 2525)), tls: ListenerTls::Starttls }]
}
pub(super) fn default_spool_dir() -> PathBuf {
    "var/spool".into()
}
pub(super) fn default_tracking_log() -> PathBuf {
    "var/log/tracking.jsonl".into()
}

#[derive(Clone, Debug, Deserialize, Serialize)]
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

#[derive(Clone, Debug, Deserialize, Serialize)]
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

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    pub address: SocketAddr,
    #[serde(default)]
    pub tls: ListenerTls,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, Serialize)]
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

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTls {
    /// PEM certificate chain. Without it the edge makes a self-signed certificate at start.
    pub certificate: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// PEM CA bundle that client certificates are verified against; the system roots when unset.
    pub client_ca: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Bytes; Exchange Online's default receive limit is 36 MB.
    pub max_message_size: u64,
    pub max_recipients: u32,
    /// In all. Exchange's receive connectors take 5000 (`MaxInboundConnection`): an idle
    /// session costs about 10 KiB, and slots are what slow clients take.
    pub max_connections: u32,
    /// Per client address (Exchange's `MaxInboundConnectionPerSource`).
    pub max_connections_per_ip: u32,
    /// Connections from one client network ([`Limits::network_prefix_v4`], `_v6`): a
    /// client with many addresses is still one client.
    pub max_connections_per_network: u32,
    /// The prefix length that makes an IPv4 client network.
    pub network_prefix_v4: u8,
    /// The prefix length that makes an IPv6 client network (a /64 is usually one site).
    pub network_prefix_v6: u8,
    /// Errors in one session before `421` and disconnect.
    pub max_errors: u32,
    /// A whole command line must arrive within this time (a deadline, not an idle timer: a
    /// byte now and then does not extend it). Writes to the client have as long.
    pub command_timeout: Seconds,
    /// A whole DATA or BDAT transfer must arrive within this time.
    pub data_timeout: Seconds,
    /// Bytes per second a client must keep up during DATA (checked after its first 30 s).
    pub min_data_rate: u64,
    /// A whole session, however busy, ends after this time (Exchange's ConnectionTimeout).
    pub session_timeout: Seconds,
    /// Above this share of `max_connections` open (percent), the edge is under stress and
    /// uses `stress_command_timeout`, as Postfix's stress mode does.
    pub stress_threshold: u8,
    pub stress_command_timeout: Seconds,
    /// Message data sent before the `354` is refused with `554 5.5.0` (Postfix's
    /// `smtpd_forbid_unauth_pipelining`): RFC 2920 has the client wait for it.
    pub forbid_unauth_pipelining: bool,
    /// On SIGTERM, how long open sessions may go on before they are told `421`.
    pub shutdown_grace: Seconds,
}

impl Default for Limits {
    fn default() -> Self {
        let s = |n| Seconds(Duration::from_secs(n));
        Limits {
            max_message_size: 36 * 1024 * 1024,
            max_recipients: 500,
            max_connections: 5000,
            max_connections_per_ip: 20,
            max_connections_per_network: 100,
            network_prefix_v4: 24,
            network_prefix_v6: 64,
            max_errors: 10,
            command_timeout: s(300),
            data_timeout: s(600),
            min_data_rate: 500,
            session_timeout: s(1800),
            stress_threshold: 80,
            stress_command_timeout: s(10),
            forbid_unauth_pipelining: true,
            shutdown_grace: s(30),
        }
    }
}

impl Limits {
    /// Whether `open` connections put the edge under stress.
    pub fn under_stress(&self, open: u32) -> bool {
        u64::from(open) * 100 > u64::from(self.max_connections) * u64::from(self.stress_threshold)
    }

    /// The command deadline with `open` connections: shorter under stress.
    pub fn command_timeout_at(&self, open: u32) -> Duration {
        if self.under_stress(open) {
            self.stress_command_timeout.0.min(self.command_timeout.0)
        } else {
            self.command_timeout.0
        }
    }

    /// The network `ip` counts in for `max_connections_per_network`.
    pub fn client_network(&self, ip: std::net::IpAddr) -> ipnet::IpNet {
        let prefix = if ip.is_ipv4() { self.network_prefix_v4.min(32) } else { self.network_prefix_v6.min(128) };
        ipnet::IpNet::new(ip, prefix).map(|n| n.trunc()).unwrap_or_else(|_| ipnet::IpNet::from(ip))
    }
}

/// A duration written as `30s`, `5m`, `1h`, `2d`, or a number of seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seconds(pub Duration);

/// The longest duration doorman takes: a hundred years, which no timer needs and every
/// clock computation can add to a time without overflowing.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86_400);

/// A duration is not written as one, or is longer than doorman takes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("{0:?} is not a duration such as 30s, 5m, 1h or 2d")]
    Number(String),
    #[error("{0:?} is not a duration (use s, m, h or d)")]
    Unit(String),
    #[error("{0:?} is longer than doorman takes (at most {days} days)", days = MAX_DURATION.as_secs() / 86_400)]
    TooLong(String),
}

/// A duration as `30s`, `5m`, `1h`, `2d`, or a bare number of seconds: the one parser for
/// config values and command-line ages. Checked: a value beyond [`MAX_DURATION`] is an error,
/// never a wrapped number.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let v = text.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: u64 = num.parse().map_err(|_| DurationError::Number(v.to_string()))?;
    let mult = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(DurationError::Unit(v.to_string())),
    };
    n.checked_mul(mult)
        .map(Duration::from_secs)
        .filter(|d| *d <= MAX_DURATION)
        .ok_or_else(|| DurationError::TooLong(v.to_string()))
}

/// Written back in the largest unit that holds it whole: `"90s"`, `"5m"`, `"1h"`, `"5d"`.
impl Serialize for Seconds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let secs = self.0.as_secs();
        let text = match secs {
            0 => "0s".to_string(),
            n if n % 86_400 == 0 => format!("{}d", n / 86_400),
            n if n % 3600 == 0 => format!("{}h", n / 3600),
            n if n % 60 == 0 => format!("{}m", n / 60),
            n => format!("{n}s"),
        };
        s.serialize_str(&text)
    }
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

/// How a spool commit makes its copies durable. Either way, `250` comes only after it.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpoolSync {
    /// One `syncfs` of the spool's filesystem covers every copy written before it (and
    /// anything else dirty on that filesystem): the fastest on a filesystem of its own.
    #[default]
    Filesystem,
    /// Each copy's `fdatasync`, then one fsync of `incoming/` for all of them: for a spool on
    /// a filesystem shared with busy writers.
    PerCopy,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Postfix's stress mode: above the threshold the command deadline is the short one.
    #[test]
    fn stress_starts_above_the_threshold() {
        let l = Limits::default();
        assert!(!l.under_stress(4000));
        assert!(l.under_stress(4001));
        assert_eq!(l.command_timeout_at(4000), Duration::from_secs(300));
        assert_eq!(l.command_timeout_at(4001), Duration::from_secs(10));
        let zero = Limits { stress_threshold: 0, ..Limits::default() };
        assert!(zero.under_stress(1));
    }
}
