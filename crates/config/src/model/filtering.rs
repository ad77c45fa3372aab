//! What happens to accepted mail, in Exchange Online Protection's words: sender
//! authentication (`[server.authentication]`), the spam filter (`[server.spam_filter]`), a
//! tenant's anti-spam policy and DMARC handling, and enhanced filtering on a connector.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use super::{Scl, Seconds, SetHeader};
use crate::net::IpEntry;

/// SPF, DKIM, DMARC and ARC on every message, with the resolver of `[server.dns]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Authentication {
    /// Off, no `Authentication-Results` is added and no DMARC policy is applied.
    pub enabled: bool,
}

/// The rspamd daemon every copy that is not exempt is scanned by.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SpamFilter {
    /// rspamd's normal worker: `127.0.0.1:11333`, or a Unix socket as `unix:/run/rspamd/normal.sock`.
    pub address: SpamFilterAddress,
    /// One scan may take this long; past it, the scan has failed.
    #[serde(default = "default_scan_timeout")]
    pub timeout: Seconds,
    /// Scans at once. A message that finds none free within `timeout` is treated as a failed
    /// scan: clients wait for a bounded time, never in an unbounded queue.
    #[serde(default = "default_max_concurrent_scans")]
    pub max_concurrent_scans: u32,
    #[serde(default)]
    pub on_failure: ScanFailure,
}

fn default_scan_timeout() -> Seconds {
    Seconds(Duration::from_secs(15))
}
fn default_max_concurrent_scans() -> u32 {
    32
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpamFilterAddress {
    Tcp(String),
    Unix(PathBuf),
}

impl fmt::Display for SpamFilterAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpamFilterAddress::Tcp(a) => f.write_str(a),
            SpamFilterAddress::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

impl Serialize for SpamFilterAddress {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SpamFilterAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(de::Error::custom("unix: needs the socket's path, as unix:/run/rspamd/normal.sock"));
            }
            return Ok(SpamFilterAddress::Unix(path.into()));
        }
        match s.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(SpamFilterAddress::Tcp(s)),
            _ => Err(de::Error::custom(format!(
                "{s:?} is not an address: write host:port (127.0.0.1:11333) or unix:/path/to/socket"
            ))),
        }
    }
}

/// What a message gets when the spam filter cannot answer.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ScanFailure {
    /// `451 4.7.0`: the client keeps the message and tries again, so nothing is lost and
    /// nothing goes unscanned.
    #[default]
    Tempfail,
    /// Accepted unscanned, with no SCL from the filter.
    Accept,
}

/// `Set-HostedContentFilterPolicy`: what a copy's SCL from the spam filter leads to.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AntiSpamPolicy {
    /// From this SCL up a copy is spam (EOP: 5 and 6).
    pub spam_scl: Scl,
    /// From this SCL up it is high confidence spam (EOP: 7 to 9).
    pub high_confidence_scl: Scl,
    /// `-SpamAction`.
    pub spam_action: SpamAction,
    /// `-HighConfidenceSpamAction`.
    pub high_confidence_spam_action: SpamAction,
    /// The header `add_header` sets (`-AddXHeaderValue`).
    pub add_header: SetHeader,
    /// What `prepend_subject` puts before the subject (`-ModifySubjectValue`).
    pub prepend_subject: String,
}

impl Default for AntiSpamPolicy {
    fn default() -> Self {
        AntiSpamPolicy {
            spam_scl: Scl(5),
            high_confidence_scl: Scl(7),
            spam_action: SpamAction::MoveToJunk,
            high_confidence_spam_action: SpamAction::Quarantine,
            add_header: SetHeader { name: "X-This-Is-Spam".into(), value: "This message appears to be spam.".into() },
            prepend_subject: "[SPAM] ".into(),
        }
    }
}

/// An anti-spam policy's action for a verdict.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SpamAction {
    /// The Junk Email folder (`MoveToJmf`).
    MoveToJunk,
    Quarantine,
    Delete,
    /// Delivered to the inbox with the policy's `add_header`.
    AddHeader,
    /// Delivered to the inbox with the policy's `prepend_subject`.
    PrependSubject,
}

impl SpamAction {
    pub fn name(self) -> &'static str {
        match self {
            SpamAction::MoveToJunk => "move_to_junk",
            SpamAction::Quarantine => "quarantine",
            SpamAction::Delete => "delete",
            SpamAction::AddHeader => "add_header",
            SpamAction::PrependSubject => "prepend_subject",
        }
    }
}

/// What a copy that fails DMARC under the sender's `p=reject` gets.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DmarcRejectAction {
    /// `550 5.7.509` after DATA (EOP's `-DmarcRejectAction Reject`).
    #[default]
    Reject,
    Quarantine,
}

/// `Set-InboundConnector -EFSkipIPs -EFSkipLastIP -EFTestMode`: behind a gateway, SPF, DMARC
/// and the DNSBLs judge the client that delivered to the gateway, read from the `Received`
/// fields the skipped hops wrote.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnhancedFiltering {
    /// Hops from these addresses are skipped.
    pub skip_ips: Vec<IpEntry>,
    /// The hop that connected to doorman is skipped, whatever its address.
    pub skip_last_ip: bool,
    /// Only recorded: the trace says which client would be judged, the connecting one is.
    pub test_mode: bool,
}
