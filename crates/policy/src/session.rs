//! What the engine is told about a session. The caller (the edge, `explain`, the analyzer)
//! fills it in; the engine never looks anything up itself.

use std::net::IpAddr;

use doorman_config::net::canonical_ip;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Session {
    /// The client, after a trusted PROXY header; IPv4-mapped IPv6 is folded into IPv4.
    pub client_ip: IpAddr,
    pub tls: Option<TlsInfo>,
    pub helo: Option<String>,
    /// DNSBL answers for the configured zones; a zone without an answer counts as not listed.
    pub dnsbl: Vec<DnsblAnswer>,
}

impl Session {
    pub fn new(client_ip: IpAddr) -> Session {
        Session { client_ip: canonical_ip(client_ip), tls: None, helo: None, dnsbl: Vec::new() }
    }

    pub fn with_tls(mut self, tls: TlsInfo) -> Session {
        self.tls = Some(tls);
        self
    }

    pub fn with_helo(mut self, helo: impl Into<String>) -> Session {
        self.helo = Some(helo.into());
        self
    }

    /// Names on a client certificate that verified; empty without one.
    pub fn verified_names(&self) -> &[String] {
        match &self.tls {
            Some(TlsInfo { client_certificate: ClientCertificate::Verified { names }, .. }) => names,
            _ => &[],
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TlsInfo {
    /// e.g. `TLSv1.3`.
    pub version: String,
    /// e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher: String,
    pub client_certificate: ClientCertificate,
}

/// `TLSv1.3 TLS13_AES_256_GCM_SHA384`, as the tracking log and the spool write it.
impl std::fmt::Display for TlsInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.version, self.cipher)
    }
}

impl TlsInfo {
    pub fn new(
        version: impl Into<String>,
        cipher: impl Into<String>,
        client_certificate: ClientCertificate,
    ) -> TlsInfo {
        TlsInfo { version: version.into(), cipher: cipher.into(), client_certificate }
    }
}

/// Only a verified certificate's names can match a connector: an unverifiable certificate is
/// worth exactly as much as none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ClientCertificate {
    None,
    Unverified,
    /// Subject CN and DNS subject alternative names.
    Verified {
        names: Vec<String>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DnsblAnswer {
    pub zone: String,
    #[serde(flatten)]
    pub result: DnsblResult,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "result", content = "detail", rename_all = "snake_case")]
pub enum DnsblResult {
    /// Listed; the A record returned, e.g. `127.0.0.2`.
    Listed(String),
    NotListed,
    /// No answer (timeout, SERVFAIL); the reason.
    Failed(String),
}
