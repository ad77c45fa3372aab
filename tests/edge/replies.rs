//! Every RCPT reply of the policy on the wire: from real source addresses, and again with the
//! client named by a PROXY v2 header from a trusted proxy. Then the policy's other replies:
//! the empty EHLO, SMTPUTF8 and the hop count.

use serde_json::{Value, json};

use crate::support::{Dns, Edge, code, test_dir, text};
use crate::{MESSAGE, TENANTS};

const LISTED_DIRECT: &str = "127.0.0.5";
const LISTED_PROXIED: &str = "192.0.2.99";

fn server_keys(dns_port: u16) -> String {
    format!(
        r#"trusted_proxies = ["127.0.0.9"]
dnsbl_zones = ["bl.test"]
[server.dns]
servers = ["127.0.0.1:{dns_port}"]
timeout = "2s""#
    )
}

/// (client, use TLS, sender, recipient, expected reply start).
fn cases(direct: bool) -> Vec<(&'static str, bool, &'static str, &'static str, &'static str)> {
    let (gateway, stranger, blocked, listed) = if direct {
        ("127.0.0.2", "127.0.0.3", "127.0.0.4", LISTED_DIRECT)
    } else {
        ("80.66.20.13", "203.0.113.9", "198.51.100.66", LISTED_PROXIED)
    };
    let leak_blocked: &'static str = Box::leak(
        format!(
            "550 5.7.513 Service unavailable, Client host [{blocked}] blocked by contoso.com using Customer Block list"
        )
        .into_boxed_str(),
    );
    let leak_listed: &'static str = Box::leak(
        format!("550 5.7.1 Service unavailable, Client host [{listed}] blocked using bl.test").into_boxed_str(),
    );
    vec![
        (
            stranger,
            false,
            "x@example.net",
            "nobody@unknown.example",
            "550 5.7.64 TenantAttribution; Relay Access Denied",
        ),
        (blocked, false, "x@example.net", "alice@contoso.com", leak_blocked),
        (
            stranger,
            true,
            "x@example.net",
            "alice@contoso.com",
            "550 5.7.51 TenantInboundAttribution; There is a partner connector configured that matched the message's recipient domain. The connector had either the RestrictDomainsToIPAddresses or RestrictDomainsToCertificate set",
        ),
        (gateway, false, "x@example.net", "alice@contoso.com", "530 5.7.0 Must issue a STARTTLS command first"),
        (
            stranger,
            false,
            "ceo@fabrikam.com",
            "carol@fabrikam.com",
            "550 5.7.68 TenantInboundAttribution; Direct Send not allowed for this organization from unauthorized sources",
        ),
        (
            stranger,
            false,
            "x@example.net",
            "nobody@fabrikam.com",
            "550 5.4.1 Recipient address rejected: Access denied",
        ),
        (listed, false, "x@example.net", "carol@fabrikam.com", leak_listed),
        (gateway, true, "x@example.net", "alice@contoso.com", "250 2.1.5 Recipient OK"),
        (stranger, false, "x@example.net", "carol@fabrikam.com", "250 2.1.5 Recipient OK"),
    ]
}

fn run(edge: &Edge, direct: bool) {
    let cases = cases(direct);
    let sessions: Vec<Value> = cases
        .iter()
        .map(|(client, tls, from, to, _)| {
            let mut s = json!({
                "starttls": tls,
                "transactions": [{"mail_from": from, "rcpts": [to], "message": MESSAGE}]
            });
            if direct {
                s["source"] = json!(client);
            } else {
                s["source"] = json!("127.0.0.9");
                s["proxy"] = json!({"client": client});
            }
            s
        })
        .collect();
    let out = edge.smtplib(Value::Array(sessions));
    for ((client, _, from, to, want), got) in cases.iter().zip(&out) {
        let rcpt = &got["transactions"][0]["rcpts"][0];
        assert_eq!(&text(rcpt), want, "{client} {from} -> {to}: {got}");
        let data = &got["transactions"][0]["data"];
        if want.starts_with("250") {
            assert_eq!(code(data), 250, "{client} -> {to}: {got}");
        } else {
            assert_eq!(code(data), 554, "no valid recipients, so no message: {got}");
            let line = edge.wait_tracking(|l| l["event"] == "reject" && l["client_ip"] == *client && l["rcpt"] == *to);
            assert_eq!(line["reply"], *want, "the tracking log holds the reply sent");
            assert_eq!(line["stage"], "rcpt");
        }
    }
    // Only the two accepted sessions reached the spool; the gateway's copy carries SCL -1.
    let spool = edge.spool();
    let gateway_copy = spool.iter().find(|c| c.envelope.tenant == "contoso").expect("the gateway's message");
    assert_eq!(gateway_copy.envelope.scl, Some(-1));
    assert_eq!(gateway_copy.envelope.connector.as_deref(), Some("Inbound only from Antispamrelay"));
    assert_eq!(gateway_copy.envelope.client_ip, cases[7].0);
}

#[test]
fn spec_replies_from_real_source_addresses() {
    let dir = test_dir("replies-direct-dns");
    let dns = Dns::start(&dir, &[("5.0.0.127.bl.test", "127.0.0.2")]);
    let edge = Edge::start("replies-direct", &server_keys(dns.port), TENANTS);
    run(&edge, true);
    assert_eq!(edge.spool().len(), 2);
}

#[test]
fn spec_replies_with_the_client_from_a_trusted_proxy_header() {
    let dir = test_dir("replies-proxy-dns");
    let dns = Dns::start(&dir, &[("99.2.0.192.bl.test", "127.0.0.2")]);
    let edge = Edge::start("replies-proxy", &server_keys(dns.port), TENANTS);
    run(&edge, false);
    assert_eq!(edge.spool().len(), 2);
}

#[test]
fn a_dnsbl_that_cannot_be_asked_defers_instead_of_letting_the_client_in() {
    // Nothing answers on this port: every lookup times out.
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let keys = format!(
        "dnsbl_zones = [\"bl.test\"]\n[server.dns]\nservers = [\"127.0.0.1:{}\"]\ntimeout = \"1s\"",
        dead.local_addr().unwrap().port()
    );
    let edge = Edge::start("dnsbl-down", &keys, TENANTS);
    let out = edge.smtplib(json!([{
        "source": "127.0.0.3",
        "transactions": [{"mail_from": "x@example.net", "rcpts": ["carol@fabrikam.com"], "message": MESSAGE}]
    }]));
    assert_eq!(
        text(&out[0]["transactions"][0]["rcpts"][0]),
        "451 4.4.3 Temporary failure checking client host [127.0.0.3] against bl.test, try again later"
    );
    assert!(edge.spool().is_empty());
}

#[test]
fn an_empty_ehlo_smtputf8_and_the_hop_count_on_the_wire() {
    let edge = Edge::start("policy-replies", "", TENANTS);
    let mut c = edge.raw("127.0.0.3");
    assert!(c.reply().unwrap().starts_with("220 "));
    assert_eq!(c.cmd("EHLO"), "501 5.5.4 Syntax: EHLO hostname");
    assert_eq!(c.cmd("HELO "), "501 5.5.4 Syntax: HELO hostname");
    assert_eq!(c.cmd("MAIL FROM:<x@example.net>"), "503 5.5.1 Send EHLO or HELO first", "no name was recorded");
    assert!(c.cmd("EHLO client.example").starts_with("250-edge.test Hello [127.0.0.3]"));

    // A non-ASCII address needs the SMTPUTF8 parameter, at MAIL and at RCPT.
    let smtputf8 = "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter";
    assert_eq!(c.cmd("MAIL FROM:<jörg@example.net>"), smtputf8);
    assert_eq!(c.cmd("MAIL FROM:<x@example.net>"), "250 2.1.0 Sender OK");
    assert_eq!(c.cmd("RCPT TO:<jörg@fabrikam.com>"), smtputf8);
    assert_eq!(c.cmd("RSET"), "250 2.0.0 Reset state");
    assert_eq!(c.cmd("MAIL FROM:<jörg@example.net> SMTPUTF8"), "250 2.1.0 Sender OK");
    assert_eq!(c.cmd("RCPT TO:<jörg@fabrikam.com>"), "550 5.4.1 Recipient address rejected: Access denied");
    assert_eq!(c.cmd("RSET"), "250 2.0.0 Reset state");

    // 50 Received fields are a loop; 49 are not.
    let message = |hops: usize| {
        let received = "Received: from a.example by b.example; Mon, 1 Dec 2025 10:00:00 +0000\r\n".repeat(hops);
        format!("{received}Subject: loop\r\n\r\nbody\r\n.\r\n")
    };
    for (hops, want) in
        [(50, "554 5.4.6 Too many hops: Received header count exceeded, possible mail loop"), (49, "250 ")]
    {
        assert_eq!(c.cmd("MAIL FROM:<x@example.net>"), "250 2.1.0 Sender OK");
        assert_eq!(c.cmd("RCPT TO:<carol@fabrikam.com>"), "250 2.1.5 Recipient OK");
        assert_eq!(c.cmd("DATA"), "354 Start mail input; end with <CRLF>.<CRLF>");
        c.send(message(hops).as_bytes());
        let reply = c.reply().unwrap();
        assert!(reply.starts_with(want), "{hops} hops: {reply}");
    }
    assert_eq!(edge.spool().len(), 1);
    let line = edge.wait_tracking(|l| l["event"] == "reject" && l["stage"] == "data");
    assert_eq!(line["reply"], "554 5.4.6 Too many hops: Received header count exceeded, possible mail loop");
    assert_eq!(line["rcpt"], "carol@fabrikam.com");
    // Refusals by the policy are in the tracking log, SMTPUTF8 ones included.
    let line = edge.wait_tracking(|l| l["event"] == "reject" && l["stage"] == "rcpt");
    assert_eq!(line["reply"], smtputf8);
}
