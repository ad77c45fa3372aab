//! Helpers shared by the policy tests: configs, sessions and the exact replies.
#![allow(dead_code)]

use std::path::Path;

use doorman_config::address::ReversePath;
use doorman_config::{load_file, load_str};
use doorman_policy::{ClientCertificate, Detail, MailParams, Policy, RcptContext, Session, TlsInfo};

pub const OK: &str = "250 2.1.5 Recipient OK";
pub const RELAY_DENIED: &str = "550 5.7.64 TenantAttribution; Relay Access Denied";
pub const PARTNER_RESTRICTED: &str = "550 5.7.51 TenantInboundAttribution; There is a partner connector configured that matched the message's recipient domain. The connector had either the RestrictDomainsToIPAddresses or RestrictDomainsToCertificate set";
pub const STARTTLS_FIRST: &str = "530 5.7.0 Must issue a STARTTLS command first";
pub const DIRECT_SEND: &str =
    "550 5.7.68 TenantInboundAttribution; Direct Send not allowed for this organization from unauthorized sources";
pub const ACCESS_DENIED: &str = "550 5.4.1 Recipient address rejected: Access denied";

pub fn blocked(ip: &str, domain: &str) -> String {
    format!("550 5.7.513 Service unavailable, Client host [{ip}] blocked by {domain} using Customer Block list")
}

pub fn dnsbl(ip: &str, zone: &str) -> String {
    format!("550 5.7.1 Service unavailable, Client host [{ip}] blocked using {zone}")
}

/// The shipped example, the field report's set-up (docs/field-report.md).
pub fn example() -> Policy {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/contoso.toml");
    Policy::new(load_file(path).expect("the example loads").config)
}

pub fn policy(toml: &str) -> Policy {
    match load_str("test.toml", toml, Path::new(".")) {
        Ok(l) => Policy::new(l.config),
        Err(d) => panic!("test config does not load:\n{d}"),
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Tls {
    None,
    /// TLS without a client certificate.
    Plain,
    /// TLS with a certificate that did not verify.
    Unverified,
    /// TLS with a verified certificate carrying this name.
    Cert(&'static str),
}

pub fn session(ip: &str, tls: Tls) -> Session {
    let s = Session::new(ip.parse().expect("test IP"));
    let cert = match tls {
        Tls::None => return s,
        Tls::Plain => ClientCertificate::None,
        Tls::Unverified => ClientCertificate::Unverified,
        Tls::Cert(name) => ClientCertificate::Verified { names: vec![name.to_string()] },
    };
    s.with_tls(TlsInfo::new("TLSv1.3", "TLS13_AES_128_GCM_SHA256", cert))
}

/// The sender MAIL FROM accepts, without parameters.
pub fn sender(p: &Policy, from: &str) -> ReversePath {
    p.mail_from(from, &MailParams::default(), Detail::Brief).sender.expect("a valid test sender")
}

/// The first RCPT of a transaction without SMTPUTF8.
pub fn first(sender: &ReversePath) -> RcptContext<'_> {
    RcptContext { sender, smtputf8: false, accepted: 0 }
}

/// The reply RCPT TO gets, as the client would read it.
pub fn rcpt_reply(p: &Policy, s: &Session, from: &str, to: &str) -> String {
    let sender = sender(p, from);
    p.rcpt(s, &first(&sender), to, Detail::Brief).reply.to_string()
}
