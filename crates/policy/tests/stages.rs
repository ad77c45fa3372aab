//! Server-wide decisions: connect (PROXY trust, connection limits), EHLO, MAIL FROM
//! (SMTPUTF8, syntax, SIZE), and the limits at RCPT and DATA. Each through its stage function
//! and through `Policy::evaluate`, which `doorman explain` runs.

mod common;

use std::net::IpAddr;

use common::*;
use doorman_policy::{
    Check, ConnectInfo, Detail, Evaluation, FilterFacts, MailParams, MessageHeaders, Outcome, Policy, ProxyHeader,
    RcptContext, Step, Trace, Transaction,
};

const SERVER: &str = r#"
[server]
hostname = "edge.example.net"
trusted_proxies = ["10.9.0.0/24", "fd00::1"]
[server.limits]
max_connections = 3
max_connections_per_ip = 2
max_message_size = 1000
max_recipients = 2

[[tenants]]
name = "fabrikam"
mx = ["self"]
recipients = ["carol@fabrikam.com", "dave@fabrikam.com", "erin@fabrikam.com", "jörg@fabrikam.com"]
[[tenants.accepted_domains]]
domain = "fabrikam.com"
"#;

const UNTRUSTED_PROXY: &str =
    "421 4.7.0 PROXY protocol header from a peer that is not a trusted proxy, closing connection";
const SMTPUTF8_REQUIRED: &str = "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter";
const TOO_MANY_RECIPIENTS: &str = "452 4.5.3 Too many recipients";
const TOO_BIG: &str = "552 5.3.4 Message size exceeds fixed maximum message size";
const TOO_MANY_HOPS: &str = "554 5.4.6 Too many hops: Received header count exceeded, possible mail loop";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn info(peer: &str, proxied: Option<&str>, total: u32, from_client: u32) -> ConnectInfo {
    with_header(peer, proxied.map(|p| ProxyHeader::Client(ip(p))), total, from_client)
}

fn with_header(peer: &str, proxy: Option<ProxyHeader>, total: u32, from_client: u32) -> ConnectInfo {
    ConnectInfo {
        peer_ip: ip(peer),
        proxy,
        connections_total: total,
        connections_from_client: from_client,
        connections_from_network: from_client,
    }
}

/// The step of `trace` for `check`.
fn step(trace: &Trace, check: Check) -> &Step {
    trace.steps.iter().find(|s| s.check == check).unwrap_or_else(|| panic!("no {check:?} step in {trace:?}"))
}

fn refused_by(trace: &Trace, check: Check, outcome: Outcome) {
    let last = trace.last().expect("a step");
    assert_eq!((last.check, last.outcome), (check, outcome), "{trace:?}");
}

fn evaluate(p: &Policy, tx: &Transaction) -> Evaluation {
    p.evaluate(tx, Detail::Explained)
}

fn rcpt_replies(e: &Evaluation) -> Vec<String> {
    e.recipients.iter().map(|r| r.decision.reply.to_string()).collect()
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

/// A client with many addresses is one client: its network (/24, /64 by default) has a
/// limit of its own.
#[test]
fn connections_count_per_client_network() {
    let p = policy(&SERVER.replace(
        "max_connections = 3",
        "max_connections = 1000\nmax_connections_per_network = 5\nnetwork_prefix_v6 = 48",
    ));
    assert_eq!(p.client_network(ip("203.0.113.9")).to_string(), "203.0.113.0/24");
    assert_eq!(p.client_network(ip("::ffff:203.0.113.9")).to_string(), "203.0.113.0/24");
    assert_eq!(p.client_network(ip("2001:db8:1:2::9")).to_string(), "2001:db8:1::/48");
    let mut at = info("203.0.113.9", None, 10, 1);
    at.connections_from_network = 5;
    assert_eq!(p.connect(&at, Detail::Brief).reply.code, 220);
    at.connections_from_network = 6;
    let d = p.connect(&at, Detail::Explained);
    assert_eq!(
        d.reply.to_string(),
        "421 4.3.2 Too many concurrent connections from network 203.0.113.0/24, closing transmission channel"
    );
    assert_eq!(step(&d.trace, Check::ConnectionLimit).detail, "6 connections open from 203.0.113.0/24, the limit is 5");
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
    assert_eq!(d.reply.to_string(), UNTRUSTED_PROXY);
    assert_eq!((d.trace.steps[0].check, d.trace.steps[0].outcome), (Check::ProxyTrust, Outcome::Defer));
    assert_eq!(d.client, ip("198.51.100.1"), "the header of an untrusted peer is not believed");
}

#[test]
fn any_proxy_header_from_an_untrusted_peer_is_refused() {
    let p = policy(SERVER);
    for header in [
        ProxyHeader::Client(ip("80.66.20.13")),
        ProxyHeader::Local,
        ProxyHeader::Malformed("v1 header: invalid address".into()),
    ] {
        let d = p.connect(&with_header("203.0.113.9", Some(header.clone()), 1, 1), Detail::Explained);
        assert_eq!(d.reply.to_string(), UNTRUSTED_PROXY, "{header:?}");
        assert_eq!(d.trace.steps[0].detail, "203.0.113.9 sent a PROXY header but is not in server.trusted_proxies");
        refused_by(&d.trace, Check::ProxyTrust, Outcome::Defer);
    }
}

#[test]
fn a_trusted_proxy_must_send_a_well_formed_header() {
    let p = policy(SERVER);
    let malformed = ProxyHeader::Malformed("the connection did not start with a PROXY protocol header".into());
    let d = p.connect(&with_header("10.9.0.7", Some(malformed), 1, 1), Detail::Explained);
    assert_eq!(
        d.reply.to_string(),
        "421 4.7.0 Malformed PROXY protocol header from a trusted proxy: the connection did not start with a PROXY protocol header; closing connection"
    );
    refused_by(&d.trace, Check::ProxyTrust, Outcome::Defer);
    assert_eq!(
        d.trace.steps[0].detail,
        "10.9.0.7 is a trusted proxy (10.9.0.0/24), but its PROXY header is malformed: the connection did not start with a PROXY protocol header"
    );
    // What came from the wire cannot break the reply line.
    let d = p.connect(&with_header("10.9.0.7", Some(ProxyHeader::Malformed("a\r\nb".into())), 1, 1), Detail::Brief);
    assert!(!d.reply.text.contains(['\r', '\n']), "{}", d.reply);

    let d = p.connect(&with_header("fd00::1", None, 1, 1), Detail::Explained);
    assert_eq!(d.reply.to_string(), "421 4.7.0 A trusted proxy must send a PROXY protocol header, closing connection");
    refused_by(&d.trace, Check::ProxyTrust, Outcome::Defer);
}

#[test]
fn local_means_the_proxy_itself_and_a_mapped_client_is_ipv4() {
    let p = policy(SERVER);
    let d = p.connect(&with_header("10.9.0.7", Some(ProxyHeader::Local), 1, 1), Detail::Explained);
    assert_eq!(d.reply.to_string(), "220 edge.example.net ESMTP doorman ready");
    assert_eq!(d.client, ip("10.9.0.7"));
    assert_eq!(
        d.trace.steps[0].detail,
        "10.9.0.7 is a trusted proxy (10.9.0.0/24) speaking for itself (LOCAL); the client is 10.9.0.7"
    );

    let d = p.connect(&info("::ffff:10.9.0.7", Some("::ffff:203.0.113.9"), 1, 1), Detail::Explained);
    assert_eq!(d.reply.code, 220);
    assert_eq!(d.client, ip("203.0.113.9"));
    assert_eq!(p.connecting_client(ip("10.9.0.7"), Some(&ProxyHeader::Client(ip("::ffff:203.0.113.9")))), d.client);
}

#[test]
fn proxy_trust_through_evaluate() {
    let p = policy(SERVER);
    let mut tx = Transaction::new(ip("203.0.113.9"), "a@example.net", &["carol@fabrikam.com"]);
    assert_eq!(evaluate(&p, &tx).connect.reply.code, 220);

    tx.proxy_peer = Some(ip("198.51.100.1"));
    let e = evaluate(&p, &tx);
    assert_eq!(e.connect.reply.to_string(), UNTRUSTED_PROXY);
    assert!(e.mail.is_none() && e.recipients.is_empty());
    assert_eq!(e.verdict.rejected, ["carol@fabrikam.com"]);

    tx.proxy_peer = Some(ip("10.9.0.7"));
    let e = evaluate(&p, &tx);
    assert_eq!(e.connect.reply.code, 220);
    assert_eq!(e.connect.client, ip("203.0.113.9"));
    assert!(e.verdict.all_accepted);

    // A trusted proxy's own address without a header: the edge would find none.
    let tx = Transaction::new(ip("10.9.0.7"), "a@example.net", &["carol@fabrikam.com"]);
    let e = evaluate(&p, &tx);
    assert_eq!(
        e.connect.reply.to_string(),
        "421 4.7.0 A trusted proxy must send a PROXY protocol header, closing connection"
    );
    assert!(!e.verdict.all_accepted);
}

#[test]
fn ehlo_needs_a_name_and_records_it() {
    let p = policy(SERVER);
    let s = session("203.0.113.9", Tls::None);
    assert_eq!(
        p.helo(&s, "mx.example.org", true, Detail::Brief).reply.to_string(),
        "250 edge.example.net Hello [203.0.113.9]"
    );
    let empty = p.helo(&s, "", true, Detail::Explained);
    assert_eq!(empty.reply.to_string(), "501 5.5.4 Syntax: EHLO hostname");
    refused_by(&empty.trace, Check::Helo, Outcome::Reject);
    assert_eq!(empty.trace.steps[0].detail, "EHLO without a name");
    assert_eq!(p.helo(&s, "  ", false, Detail::Brief).reply.to_string(), "501 5.5.4 Syntax: HELO hostname");
    let odd = p.helo(&s, "my laptop", true, Detail::Explained);
    assert_eq!(odd.reply.code, 250);
    assert_eq!(odd.trace.steps[0].detail, "\"my laptop\" is not a valid host name; accepted and recorded");
}

#[test]
fn an_empty_ehlo_through_evaluate_stops_the_session() {
    let p = policy(SERVER);
    let mut tx = Transaction::new(ip("203.0.113.9"), "a@example.net", &["carol@fabrikam.com"]);
    tx.session.helo = Some(String::new());
    let e = evaluate(&p, &tx);
    assert_eq!(e.helo.as_ref().unwrap().reply.to_string(), "501 5.5.4 Syntax: EHLO hostname");
    assert!(e.mail.is_none());
    assert_eq!(e.verdict.rejected, ["carol@fabrikam.com"]);
}

#[test]
fn mail_from_checks_syntax_and_declared_size() {
    let p = policy(SERVER);
    let size = |n| MailParams { size: n, smtputf8: false };
    assert_eq!(
        p.mail_from("<a@example.net>", &size(Some(999)), Detail::Brief).reply.to_string(),
        "250 2.1.0 Sender OK"
    );
    assert_eq!(p.mail_from("<>", &size(None), Detail::Brief).reply.to_string(), "250 2.1.0 Sender OK");
    assert_eq!(p.mail_from("<a@example.net>", &size(Some(1001)), Detail::Brief).reply.to_string(), TOO_BIG);
    let bad = p.mail_from("<a@@example.net>", &size(None), Detail::Brief);
    assert!(bad.reply.to_string().starts_with("501 5.1.7 Bad sender address syntax: "), "{}", bad.reply);
    assert!(bad.sender.is_none());
}

#[test]
fn a_non_ascii_sender_needs_smtputf8() {
    let p = policy(SERVER);
    let d = p.mail_from("<jörg@example.net>", &MailParams::default(), Detail::Explained);
    assert_eq!(d.reply.to_string(), SMTPUTF8_REQUIRED);
    assert!(d.sender.is_none());
    refused_by(&d.trace, Check::Smtputf8, Outcome::Reject);
    assert_eq!(d.trace.steps.len(), 1, "SMTPUTF8 is checked before syntax");
    // Before syntax: a bad non-ASCII path gets the SMTPUTF8 reply.
    assert_eq!(
        p.mail_from("<jörg@@example.net>", &MailParams::default(), Detail::Brief).reply.to_string(),
        SMTPUTF8_REQUIRED
    );

    let utf8 = MailParams { size: None, smtputf8: true };
    let d = p.mail_from("<jörg@example.net>", &utf8, Detail::Explained);
    assert_eq!(d.reply.to_string(), "250 2.1.0 Sender OK");
    assert_eq!(step(&d.trace, Check::Smtputf8).outcome, Outcome::Pass);

    let mut tx = Transaction::new(ip("203.0.113.9"), "jörg@example.net", &["carol@fabrikam.com"]);
    let e = evaluate(&p, &tx);
    assert_eq!(e.mail.as_ref().unwrap().reply.to_string(), SMTPUTF8_REQUIRED);
    assert!(e.recipients.is_empty() && !e.verdict.all_accepted);
    tx.smtputf8 = true;
    assert!(evaluate(&p, &tx).verdict.all_accepted);
}

#[test]
fn a_non_ascii_recipient_needs_smtputf8() {
    let p = policy(SERVER);
    let s = session("203.0.113.9", Tls::None);
    let sender = sender(&p, "a@example.net");
    let d = p.rcpt(&s, &first(&sender), "jörg@fabrikam.com", Detail::Explained);
    assert_eq!(d.reply.to_string(), SMTPUTF8_REQUIRED);
    assert!(!d.is_accepted());
    refused_by(&d.trace, Check::Smtputf8, Outcome::Reject);
    assert_eq!(d.trace.steps.len(), 1, "the first RCPT check");

    let cx = RcptContext { sender: &sender, smtputf8: true, accepted: 0 };
    let d = p.rcpt(&s, &cx, "jörg@fabrikam.com", Detail::Explained);
    assert_eq!(d.reply.to_string(), OK);
    assert_eq!(
        step(&d.trace, Check::Smtputf8).detail,
        "jörg@fabrikam.com is not ASCII, which the SMTPUTF8 parameter allows"
    );

    let mut tx = Transaction::new(ip("203.0.113.9"), "a@example.net", &["carol@fabrikam.com", "jörg@fabrikam.com"]);
    let e = evaluate(&p, &tx);
    assert_eq!(rcpt_replies(&e), [OK, SMTPUTF8_REQUIRED]);
    assert_eq!(e.verdict.rejected, ["jörg@fabrikam.com"]);
    tx.smtputf8 = true;
    assert!(evaluate(&p, &tx).verdict.all_accepted);
}

#[test]
fn the_recipient_limit_counts_distinct_accepted_recipients() {
    let p = policy(SERVER);
    let s = session("203.0.113.9", Tls::None);
    let sender = sender(&p, "a@example.net");
    let cx = |accepted| RcptContext { sender: &sender, smtputf8: false, accepted };
    assert_eq!(p.rcpt(&s, &cx(1), "erin@fabrikam.com", Detail::Brief).reply.to_string(), OK);
    let d = p.rcpt(&s, &cx(2), "erin@fabrikam.com", Detail::Explained);
    assert_eq!(d.reply.to_string(), TOO_MANY_RECIPIENTS);
    refused_by(&d.trace, Check::RecipientLimit, Outcome::Defer);
    assert_eq!(d.trace.steps[1].detail, "2 recipient(s) already accepted, the limit is 2");
    assert_eq!(
        d.trace.steps.iter().map(|s| s.check).collect::<Vec<_>>(),
        Check::RCPT_ORDER[..2],
        "SMTPUTF8, then the limit, before the tenant's checks"
    );

    // max_recipients = 2: the third distinct recipient is one too many.
    let tx = Transaction::new(
        ip("203.0.113.9"),
        "a@example.net",
        &["carol@fabrikam.com", "dave@fabrikam.com", "erin@fabrikam.com"],
    );
    let e = evaluate(&p, &tx);
    assert_eq!(rcpt_replies(&e), [OK, OK, TOO_MANY_RECIPIENTS]);
    assert_eq!(e.verdict.rejected, ["erin@fabrikam.com"]);
    assert_eq!(e.data.as_ref().unwrap().copies[0].recipients.len(), 2);

    // A repeated recipient is answered again but counts once.
    let tx = Transaction::new(
        ip("203.0.113.9"),
        "a@example.net",
        &["carol@fabrikam.com", "carol@fabrikam.com", "dave@fabrikam.com", "erin@fabrikam.com"],
    );
    let e = evaluate(&p, &tx);
    assert_eq!(rcpt_replies(&e), [OK, OK, OK, TOO_MANY_RECIPIENTS]);
    // Refused recipients do not count either.
    let tx = Transaction::new(
        ip("203.0.113.9"),
        "a@example.net",
        &["nobody@fabrikam.com", "carol@fabrikam.com", "dave@fabrikam.com"],
    );
    let e = evaluate(&p, &tx);
    assert_eq!(rcpt_replies(&e), [ACCESS_DENIED, OK, OK]);
}

#[test]
fn data_needs_an_accepted_recipient() {
    let p = policy(SERVER);
    assert_eq!(p.data_start(0).unwrap_err().to_string(), "554 5.5.1 No valid recipients");
    assert_eq!(p.data_start(1), Ok(()));
    let e = evaluate(&p, &Transaction::new(ip("203.0.113.9"), "a@example.net", &["nobody@fabrikam.com"]));
    assert!(e.data.is_none(), "no message follows");
}

#[test]
fn the_message_size_is_checked_at_data() {
    let p = policy(SERVER);
    assert_eq!(p.message_size_refusal(1000), None);
    assert_eq!(p.message_size_refusal(1001).unwrap().to_string(), TOO_BIG);

    let mut tx = Transaction::new(ip("203.0.113.9"), "a@example.net", &["carol@fabrikam.com"]);
    tx.message_size = Some(1000);
    let e = evaluate(&p, &tx);
    let d = e.data.as_ref().unwrap();
    assert_eq!((d.reply.as_ref(), d.copies.len()), (None, 1));
    assert_eq!(step(&d.trace, Check::MessageSize).detail, "the message is 1000 bytes, the limit is 1000 bytes");
    assert!(e.verdict.all_accepted);

    tx.message_size = Some(1001);
    let e = evaluate(&p, &tx);
    let d = e.data.as_ref().unwrap();
    assert_eq!(d.reply.as_ref().unwrap().to_string(), TOO_BIG);
    assert!(d.copies.is_empty() && d.is_message_refused());
    refused_by(&d.trace, Check::MessageSize, Outcome::Reject);
    assert_eq!(d.trace.steps[0].detail, "the message is 1001 bytes, over the limit of 1000 bytes");
    assert_eq!(rcpt_replies(&e), [OK], "accepted at RCPT");
    assert_eq!(e.verdict.rejected, ["carol@fabrikam.com"], "but the message is refused");

    // Without a size, the headers are the message.
    tx.message_size = None;
    tx.headers = MessageHeaders::from_pairs([("Subject", "x".repeat(1000).as_str())]);
    assert_eq!(evaluate(&p, &tx).data.unwrap().reply.unwrap().to_string(), TOO_BIG);
}

#[test]
fn fifty_received_fields_are_a_loop() {
    let p = policy(SERVER);
    let received = |n: usize| {
        let pairs = vec![("Received", "from a.example by b.example"); n];
        MessageHeaders::from_pairs(pairs)
    };
    let sender = sender(&p, "a@example.net");
    let s = session("203.0.113.9", Tls::None);
    let accepted = p.rcpt(&s, &first(&sender), "carol@fabrikam.com", Detail::Brief).accepted.unwrap();

    let d = p.data(
        &s,
        &sender,
        std::slice::from_ref(&accepted),
        &received(49),
        900,
        &FilterFacts::none(),
        Detail::Explained,
    );
    assert_eq!((d.reply.as_ref(), d.copies.len()), (None, 1));
    assert_eq!(step(&d.trace, Check::HopCount).outcome, Outcome::Pass);

    let d = p.data(
        &s,
        &sender,
        std::slice::from_ref(&accepted),
        &received(50),
        900,
        &FilterFacts::none(),
        Detail::Explained,
    );
    assert_eq!(d.reply.as_ref().unwrap().to_string(), TOO_MANY_HOPS);
    assert!(d.copies.is_empty());
    refused_by(&d.trace, Check::HopCount, Outcome::Reject);
    assert_eq!(d.trace.steps[1].detail, "50 Received fields; 50 or more mean a mail loop");

    // The size comes first.
    let d =
        p.data(&s, &sender, std::slice::from_ref(&accepted), &received(50), 1001, &FilterFacts::none(), Detail::Brief);
    assert_eq!(d.reply.unwrap().to_string(), TOO_BIG);

    let mut tx = Transaction::new(ip("203.0.113.9"), "a@example.net", &["carol@fabrikam.com"]);
    tx.headers = received(50);
    tx.message_size = Some(900);
    let e = evaluate(&p, &tx);
    assert_eq!(e.data.unwrap().reply.unwrap().to_string(), TOO_MANY_HOPS);
    assert!(!e.verdict.all_accepted);
}
