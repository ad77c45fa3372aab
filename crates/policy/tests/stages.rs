//! Connect, EHLO and MAIL FROM: server-wide decisions made before any tenant is known.

mod common;

use common::*;
use doorman_policy::{Check, ConnectInfo, Detail, Outcome};

const SERVER: &str = r#"
[server]
hostname = "edge.example.net"
trusted_proxies = ["10.9.0.0/24", "fd00::1"]
[server.limits]
max_connections = 3
max_connections_per_ip = 2
max_message_size = 1000
"#;

fn info(peer: &str, proxied: Option<&str>, total: u32, from_client: u32) -> ConnectInfo {
    ConnectInfo {
        peer_ip: peer.parse().unwrap(),
        proxied_client: proxied.map(|p| p.parse().unwrap()),
        connections_total: total,
        connections_from_client: from_client,
    }
}

#[test]
fn connect_greets_or_refuses() {
    let p = policy(SERVER);
    let d = p.connect(&info("203.0.113.9", None, 1, 1), Detail::Explained);
    assert_eq!(d.reply.to_string(), "220 edge.example.net ESMTP doorman ready");

    let d = p.connect(&info("203.0.113.9", None, 4, 1), Detail::Explained);
    assert_eq!(
        d.reply.to_string(),
        "421 4.3.2 The maximum number of concurrent server connections has exceeded a limit, closing transmission channel"
    );
    let d = p.connect(&info("203.0.113.9", None, 3, 3), Detail::Explained);
    assert_eq!(
        d.reply.to_string(),
        "421 4.3.2 Too many concurrent connections from [203.0.113.9], closing transmission channel"
    );
}

#[test]
fn proxy_headers_are_believed_only_from_trusted_proxies() {
    let p = policy(SERVER);
    assert!(p.is_trusted_proxy("10.9.0.7".parse().unwrap()));
    assert!(p.is_trusted_proxy("::ffff:10.9.0.7".parse().unwrap()));
    assert!(p.is_trusted_proxy("fd00::1".parse().unwrap()));
    assert!(!p.is_trusted_proxy("10.9.1.7".parse().unwrap()));

    let d = p.connect(&info("10.9.0.7", Some("203.0.113.9"), 1, 1), Detail::Explained);
    assert_eq!(d.reply.code, 220);
    assert_eq!(d.trace.steps[0].detail, "10.9.0.7 is a trusted proxy (10.9.0.0/24); the client is 203.0.113.9");
    // The per-IP limit counts the client the header names, not the proxy.
    let d = p.connect(&info("10.9.0.7", Some("203.0.113.9"), 3, 3), Detail::Explained);
    assert_eq!(
        d.reply.to_string(),
        "421 4.3.2 Too many concurrent connections from [203.0.113.9], closing transmission channel"
    );

    let d = p.connect(&info("198.51.100.1", Some("80.66.20.13"), 1, 1), Detail::Explained);
    assert_eq!(
        d.reply.to_string(),
        "421 4.7.0 PROXY protocol header from a peer that is not a trusted proxy, closing connection"
    );
    assert_eq!((d.trace.steps[0].check, d.trace.steps[0].outcome), (Check::ProxyTrust, Outcome::Defer));
}

#[test]
fn ehlo_needs_a_name_and_records_it() {
    let p = policy(SERVER);
    let s = session("203.0.113.9", Tls::None);
    assert_eq!(
        p.helo(&s, "mx.example.org", Detail::Brief).reply.to_string(),
        "250 edge.example.net Hello [203.0.113.9]"
    );
    assert_eq!(p.helo(&s, "  ", Detail::Brief).reply.to_string(), "501 5.5.4 Syntax: EHLO hostname");
    let odd = p.helo(&s, "my laptop", Detail::Explained);
    assert_eq!(odd.reply.code, 250);
    assert_eq!(odd.trace.steps[0].detail, "\"my laptop\" is not a valid host name; accepted and recorded");
}

#[test]
fn mail_from_checks_syntax_and_declared_size() {
    let p = policy(SERVER);
    assert_eq!(p.mail_from("<a@example.net>", Some(999), Detail::Brief).reply.to_string(), "250 2.1.0 Sender OK");
    assert_eq!(p.mail_from("<>", None, Detail::Brief).reply.to_string(), "250 2.1.0 Sender OK");
    assert_eq!(
        p.mail_from("<a@example.net>", Some(1001), Detail::Brief).reply.to_string(),
        "552 5.3.4 Message size exceeds fixed maximum message size"
    );
    let bad = p.mail_from("<a@@example.net>", None, Detail::Brief);
    assert!(bad.reply.to_string().starts_with("501 5.1.7 Bad sender address syntax: "), "{}", bad.reply);
    assert!(bad.sender.is_none());
}
