//! RCPT TO, table-driven: every RCPT check and the field report's scenarios, with the exact
//! reply a client would read.

mod common;

use common::*;
use doorman_policy::{Check, Detail, DnsblAnswer, DnsblResult, Outcome, Policy};

struct Row {
    name: &'static str,
    ip: &'static str,
    tls: Tls,
    from: &'static str,
    rcpt: &'static str,
    want: String,
}

fn row(
    name: &'static str,
    ip: &'static str,
    tls: Tls,
    from: &'static str,
    rcpt: &'static str,
    want: impl Into<String>,
) -> Row {
    Row { name, ip, tls, from, rcpt, want: want.into() }
}

fn run(policy: &Policy, rows: &[Row]) {
    let mut failures = Vec::new();
    for r in rows {
        let got = rcpt_reply(policy, &session(r.ip, r.tls), r.from, r.rcpt);
        if got != r.want {
            failures.push(format!("{}:\n   got  {got}\n   want {}", r.name, r.want));
        }
    }
    assert!(failures.is_empty(), "{} of {} rows failed:\n{}", failures.len(), rows.len(), failures.join("\n"));
}

/// The field report's fix: a Partner connector for `*`, restricted to the gateway's range.
#[test]
fn ip_restriction_closes_the_side_door() {
    run(
        &example(),
        &[
            row("the gateway, over TLS", "80.66.20.13", Tls::Plain, "news@example.net", "alice@contoso.com", OK),
            row("the whole /28 is the gateway", "80.66.20.1", Tls::Plain, "news@example.net", "bob@contoso.com", OK),
            row(
                "IPv4-mapped IPv6 is the same address",
                "::ffff:80.66.20.13",
                Tls::Plain,
                "news@example.net",
                "alice@contoso.com",
                OK,
            ),
            row(
                "a spammer straight to the edge",
                "203.0.113.9",
                Tls::None,
                "spam@example.net",
                "alice@contoso.com",
                PARTNER_RESTRICTED,
            ),
            row(
                "a spammer with TLS",
                "203.0.113.9",
                Tls::Plain,
                "spam@example.net",
                "alice@contoso.com",
                PARTNER_RESTRICTED,
            ),
            row(
                "just past the /28",
                "80.66.20.16",
                Tls::Plain,
                "spam@example.net",
                "alice@contoso.com",
                PARTNER_RESTRICTED,
            ),
            row("over IPv6", "2001:db8::9", Tls::Plain, "spam@example.net", "alice@contoso.com", PARTNER_RESTRICTED),
            row(
                "bounces cannot use the side door",
                "203.0.113.9",
                Tls::None,
                "<>",
                "alice@contoso.com",
                PARTNER_RESTRICTED,
            ),
            row(
                "the tenant's own domain, from outside",
                "203.0.113.9",
                Tls::None,
                "ceo@contoso.com",
                "alice@contoso.com",
                PARTNER_RESTRICTED,
            ),
            row(
                "require_tls on the gateway connector",
                "80.66.20.13",
                Tls::None,
                "news@example.net",
                "alice@contoso.com",
                STARTTLS_FIRST,
            ),
            row(
                "a restriction is checked before the directory",
                "203.0.113.9",
                Tls::None,
                "spam@example.net",
                "nobody@contoso.com",
                PARTNER_RESTRICTED,
            ),
            row(
                "the gateway, unknown user",
                "80.66.20.13",
                Tls::Plain,
                "news@example.net",
                "nobody@contoso.com",
                ACCESS_DENIED,
            ),
        ],
    );
}

const CERT: &str = r#"
[[tenants]]
name = "contoso"
mx = ["mx.contoso-gateway.net"]
recipients = ["alice@contoso.com"]
[[tenants.accepted_domains]]
domain = "contoso.com"
[[tenants.inbound_connectors]]
name = "Gateway by certificate"
type = "partner"
sender_domains = ["*"]
tls_sender_certificate_name = "mail.contoso-gateway.net"
restrict_domains_to_certificate = true

[[tenants]]
name = "wild"
mx = ["mx.wingtip-gateway.net"]
recipients = ["alice@wingtip.com"]
[[tenants.accepted_domains]]
domain = "wingtip.com"
[[tenants.inbound_connectors]]
name = "Any wingtip gateway"
type = "partner"
sender_domains = ["*"]
tls_sender_certificate_name = "*.wingtip-gateway.net"
restrict_domains_to_certificate = true
"#;

#[test]
fn certificate_restriction() {
    run(
        &policy(CERT),
        &[
            row("no TLS", "203.0.113.9", Tls::None, "a@example.net", "alice@contoso.com", PARTNER_RESTRICTED),
            row(
                "TLS without a certificate",
                "203.0.113.9",
                Tls::Plain,
                "a@example.net",
                "alice@contoso.com",
                PARTNER_RESTRICTED,
            ),
            row(
                "a certificate that does not verify",
                "203.0.113.9",
                Tls::Unverified,
                "a@example.net",
                "alice@contoso.com",
                PARTNER_RESTRICTED,
            ),
            row(
                "another certificate name",
                "203.0.113.9",
                Tls::Cert("mail.evil.example"),
                "a@example.net",
                "alice@contoso.com",
                PARTNER_RESTRICTED,
            ),
            row(
                "a look-alike name",
                "203.0.113.9",
                Tls::Cert("mail.contoso-gateway.net.evil.example"),
                "a@example.net",
                "alice@contoso.com",
                PARTNER_RESTRICTED,
            ),
            row(
                "the matching name, from any IP",
                "198.18.7.7",
                Tls::Cert("mail.contoso-gateway.net"),
                "a@example.net",
                "alice@contoso.com",
                OK,
            ),
            row(
                "the matching name, in upper case",
                "198.18.7.7",
                Tls::Cert("MAIL.Contoso-Gateway.NET"),
                "a@example.net",
                "alice@contoso.com",
                OK,
            ),
            row(
                "wildcard: one label",
                "198.18.7.7",
                Tls::Cert("mx1.wingtip-gateway.net"),
                "a@example.net",
                "alice@wingtip.com",
                OK,
            ),
            row(
                "wildcard: not two labels",
                "198.18.7.7",
                Tls::Cert("a.b.wingtip-gateway.net"),
                "a@example.net",
                "alice@wingtip.com",
                PARTNER_RESTRICTED,
            ),
            row(
                "wildcard: not the bare domain",
                "198.18.7.7",
                Tls::Cert("wingtip-gateway.net"),
                "a@example.net",
                "alice@wingtip.com",
                PARTNER_RESTRICTED,
            ),
            row(
                "a certificate of the other tenant's gateway",
                "198.18.7.7",
                Tls::Cert("mx1.wingtip-gateway.net"),
                "a@example.net",
                "alice@contoso.com",
                PARTNER_RESTRICTED,
            ),
        ],
    );
}

const FILTER: &str = r#"
[server]
dnsbl_zones = ["zen.spamhaus.org"]

[[tenants]]
name = "fabrikam"
mx = ["self"]
recipients = ["carol@fabrikam.com"]
[[tenants.accepted_domains]]
domain = "fabrikam.com"
[tenants.connection_filter]
ip_allow_list = [
  "203.0.113.9",
  { ip = "10.0.5.5", name = "partner relay" },
  "2001:db8:bad::25",
  "172.16.4.0/30",
]
ip_block_list = [
  { ip = "203.0.113.9", name = "both lists" },
  { ip = "10.0.0.0/16", comment = "wider than EOP's /24" },
  "2001:db8:bad::/48",
  "172.16.0.0/12",
  "198.51.100.0-198.51.100.10",
]
"#;

#[test]
fn allow_beats_block() {
    run(
        &policy(FILTER),
        &[
            row("on both lists", "203.0.113.9", Tls::None, "a@example.net", "carol@fabrikam.com", OK),
            row(
                "inside a blocked /16",
                "10.0.1.1",
                Tls::None,
                "a@example.net",
                "carol@fabrikam.com",
                blocked("10.0.1.1", "fabrikam.com"),
            ),
            row("the allowed /32 inside the /16", "10.0.5.5", Tls::None, "a@example.net", "carol@fabrikam.com", OK),
            row(
                "IPv6 block",
                "2001:db8:bad::1",
                Tls::None,
                "a@example.net",
                "carol@fabrikam.com",
                blocked("2001:db8:bad::1", "fabrikam.com"),
            ),
            row("IPv6 allow inside it", "2001:db8:bad::25", Tls::None, "a@example.net", "carol@fabrikam.com", OK),
            row(
                "a /12, outside EOP's /24-/32",
                "172.31.9.9",
                Tls::None,
                "a@example.net",
                "carol@fabrikam.com",
                blocked("172.31.9.9", "fabrikam.com"),
            ),
            row("a /30 allow inside the /12", "172.16.4.3", Tls::None, "a@example.net", "carol@fabrikam.com", OK),
            row(
                "a range a-b",
                "198.51.100.7",
                Tls::None,
                "a@example.net",
                "carol@fabrikam.com",
                blocked("198.51.100.7", "fabrikam.com"),
            ),
            row("just past the range", "198.51.100.11", Tls::None, "a@example.net", "carol@fabrikam.com", OK),
            row(
                "block beats the directory check",
                "10.0.1.1",
                Tls::None,
                "a@example.net",
                "nobody@fabrikam.com",
                blocked("10.0.1.1", "fabrikam.com"),
            ),
            row(
                "mapped IPv6 hits the IPv4 block",
                "::ffff:10.0.1.1",
                Tls::None,
                "a@example.net",
                "carol@fabrikam.com",
                blocked("10.0.1.1", "fabrikam.com"),
            ),
        ],
    );
}

#[test]
fn unknown_recipient_domains_and_relay_tricks() {
    run(
        &example(),
        &[
            row(
                "another domain, even from the gateway",
                "80.66.20.13",
                Tls::Plain,
                "a@example.net",
                "user@other.com",
                RELAY_DENIED,
            ),
            row(
                "another domain, from a stranger",
                "203.0.113.9",
                Tls::None,
                "a@example.net",
                "user@other.com",
                RELAY_DENIED,
            ),
            row("percent hack", "80.66.20.13", Tls::Plain, "a@example.net", "user%other.com@contoso.com", RELAY_DENIED),
            row("bang path", "80.66.20.13", Tls::Plain, "a@example.net", "other.com!user@contoso.com", RELAY_DENIED),
            row(
                "source route to a foreign mailbox",
                "80.66.20.13",
                Tls::Plain,
                "a@example.net",
                "<@contoso.com:user@other.com>",
                RELAY_DENIED,
            ),
            row(
                "source route to our own mailbox",
                "80.66.20.13",
                Tls::Plain,
                "a@example.net",
                "<@relay.example:alice@contoso.com>",
                OK,
            ),
            row(
                "quoted local part holding a foreign address",
                "80.66.20.13",
                Tls::Plain,
                "a@example.net",
                "<\"user@other.com\"@contoso.com>",
                ACCESS_DENIED,
            ),
            row(
                "quotes that change nothing",
                "80.66.20.13",
                Tls::Plain,
                "a@example.net",
                "<\"alice\"@contoso.com>",
                OK,
            ),
            row("IPv4 literal", "80.66.20.13", Tls::Plain, "a@example.net", "alice@[80.66.20.1]", RELAY_DENIED),
            row("IPv6 literal", "80.66.20.13", Tls::Plain, "a@example.net", "alice@[IPv6:2001:db8::1]", RELAY_DENIED),
            row("a trailing dot", "80.66.20.13", Tls::Plain, "a@example.net", "alice@contoso.com.", OK),
            row("upper case", "80.66.20.13", Tls::Plain, "a@example.net", "ALICE@CONTOSO.COM", OK),
            row(
                "our domain as a prefix of another",
                "80.66.20.13",
                Tls::Plain,
                "a@example.net",
                "alice@contoso.com.evil.example",
                RELAY_DENIED,
            ),
            row(
                "a subdomain without match_subdomains",
                "80.66.20.13",
                Tls::Plain,
                "a@example.net",
                "alice@mail.contoso.com",
                RELAY_DENIED,
            ),
            row(
                "the tenant check comes before the connector",
                "203.0.113.9",
                Tls::None,
                "a@example.net",
                "user@other.com",
                RELAY_DENIED,
            ),
        ],
    );
}

#[test]
fn relay_syntax_errors_are_501() {
    let p = example();
    let s = session("80.66.20.13", Tls::Plain);
    for bad in ["alice", "alice@", "<alice@contoso.com", "a@b@contoso.com", "\"open@contoso.com"] {
        let got = rcpt_reply(&p, &s, "a@example.net", bad);
        assert!(got.starts_with("501 5.1.3 Bad recipient address syntax: "), "{bad:?}: {got}");
    }
}

const DIRECT: &str = r#"
[[tenants]]
name = "fabrikam"
mx = ["self"]
reject_direct_send = true
recipients = ["carol@fabrikam.com"]
[[tenants.accepted_domains]]
domain = "fabrikam.com"
match_subdomains = true
[[tenants.inbound_connectors]]
name = "On-premises"
type = "on_premises"
sender_ip_addresses = ["198.51.100.25", "2001:db8:fab::25"]
[[tenants.inbound_connectors]]
name = "Certificate"
type = "on_premises"
tls_sender_certificate_name = "mail.fabrikam.com"
[[tenants.inbound_connectors]]
name = "Newsletter partner"
type = "partner"
sender_domains = ["news.example", "*.fabrikam.com"]

[[tenants]]
name = "open"
mx = ["self"]
recipients = ["dan@tailspin.com"]
[[tenants.accepted_domains]]
domain = "tailspin.com"
"#;

#[test]
fn direct_send() {
    run(
        &policy(DIRECT),
        &[
            row(
                "own domain from an unmatched IP",
                "203.0.113.9",
                Tls::None,
                "ceo@fabrikam.com",
                "carol@fabrikam.com",
                DIRECT_SEND,
            ),
            row(
                "own subdomain (match_subdomains)",
                "203.0.113.9",
                Tls::None,
                "ceo@eu.fabrikam.com",
                "carol@fabrikam.com",
                DIRECT_SEND,
            ),
            row(
                "from the on-premises connector's IP",
                "198.51.100.25",
                Tls::None,
                "ceo@fabrikam.com",
                "carol@fabrikam.com",
                OK,
            ),
            row("from its IPv6", "2001:db8:fab::25", Tls::None, "ceo@fabrikam.com", "carol@fabrikam.com", OK),
            row(
                "by certificate",
                "203.0.113.50",
                Tls::Cert("mail.fabrikam.com"),
                "ceo@fabrikam.com",
                "carol@fabrikam.com",
                OK,
            ),
            row(
                "an external sender is not affected",
                "203.0.113.9",
                Tls::None,
                "friend@example.net",
                "carol@fabrikam.com",
                OK,
            ),
            row("the null sender is not direct send", "203.0.113.9", Tls::None, "<>", "carol@fabrikam.com", OK),
            row(
                "a partner connector matched by domain only does not count",
                "203.0.113.9",
                Tls::None,
                "ceo@eu.fabrikam.com",
                "carol@fabrikam.com",
                DIRECT_SEND,
            ),
            row("reject_direct_send off", "203.0.113.9", Tls::None, "ceo@tailspin.com", "dan@tailspin.com", OK),
        ],
    );
    // The row above really was attributed by sender domain alone.
    let p = policy(DIRECT);
    let sender = sender(&p, "ceo@eu.fabrikam.com");
    let d = p.rcpt(&session("203.0.113.9", Tls::None), &first(&sender), "carol@fabrikam.com", Detail::Explained);
    assert_eq!(
        d.trace.steps[5].detail,
        "partner connector \"Newsletter partner\" matched by sender domain eu.fabrikam.com (pattern *.fabrikam.com) only, not by IP or certificate"
    );
    assert_eq!(
        d.trace.steps[7].detail,
        "sender domain eu.fabrikam.com is the tenant's own, and no connector matched by IP or certificate: direct send"
    );
}

const RELAY: &str = r#"
[[tenants]]
name = "hybrid"
mx = ["self"]
recipients = ["carol@fabrikam.com"]
[[tenants.accepted_domains]]
domain = "fabrikam.com"
type = "authoritative"
[[tenants.accepted_domains]]
domain = "onprem.fabrikam.net"
type = "internal_relay"
"#;

#[test]
fn directory_check() {
    run(
        &policy(RELAY),
        &[
            row("known, authoritative", "203.0.113.9", Tls::None, "a@example.net", "carol@fabrikam.com", OK),
            row(
                "unknown, authoritative",
                "203.0.113.9",
                Tls::None,
                "a@example.net",
                "nobody@fabrikam.com",
                ACCESS_DENIED,
            ),
            row(
                "unknown, internal_relay goes to the next hop",
                "203.0.113.9",
                Tls::None,
                "a@example.net",
                "nobody@onprem.fabrikam.net",
                OK,
            ),
        ],
    );
}

#[test]
fn dnsbl_listing_and_exemptions() {
    let p = policy(FILTER);
    let listed = |ip: &str, result: DnsblResult| {
        let mut s = session(ip, Tls::None);
        s.dnsbl = vec![DnsblAnswer { zone: "zen.spamhaus.org".into(), result }];
        rcpt_reply(&p, &s, "a@example.net", "carol@fabrikam.com")
    };
    assert_eq!(listed("192.0.2.77", DnsblResult::Listed("127.0.0.2".into())), dnsbl("192.0.2.77", "zen.spamhaus.org"));
    assert_eq!(listed("192.0.2.77", DnsblResult::NotListed), OK);
    assert_eq!(listed("10.0.5.5", DnsblResult::Listed("127.0.0.2".into())), OK, "allow-listed clients skip DNSBLs");
    assert_eq!(
        listed("192.0.2.77", DnsblResult::Failed("timeout".into())),
        "451 4.4.3 Temporary failure checking client host [192.0.2.77] against zen.spamhaus.org, try again later",
        "a failed lookup defers: a listed client is never let in by a DNS outage"
    );

    // Connector-matched mail skips them too.
    let p = policy(&format!("{DIRECT}\n[server]\ndnsbl_zones = [\"zen.spamhaus.org\"]\n"));
    let mut s = session("198.51.100.25", Tls::None);
    s.dnsbl = vec![DnsblAnswer { zone: "zen.spamhaus.org".into(), result: DnsblResult::Listed("127.0.0.2".into()) }];
    assert_eq!(rcpt_reply(&p, &s, "ceo@fabrikam.com", "carol@fabrikam.com"), OK);
    let s2 = doorman_policy::Session { client_ip: "203.0.113.9".parse().unwrap(), ..s };
    assert_eq!(
        rcpt_reply(&p, &s2, "friend@example.net", "carol@fabrikam.com"),
        dnsbl("203.0.113.9", "zen.spamhaus.org")
    );
}

#[test]
fn two_tenants_in_one_transaction_are_decided_independently() {
    let p = example();
    let stranger = session("203.0.113.9", Tls::None);
    assert_eq!(rcpt_reply(&p, &stranger, "a@example.net", "alice@contoso.com"), PARTNER_RESTRICTED);
    assert_eq!(rcpt_reply(&p, &stranger, "a@example.net", "carol@fabrikam.com"), OK);

    let sender = sender(&p, "a@example.net");
    let gateway = session("80.66.20.13", Tls::Plain);
    let a = p.rcpt(&gateway, &first(&sender), "alice@contoso.com", Detail::Brief);
    let c = p.rcpt(&gateway, &first(&sender), "carol@fabrikam.com", Detail::Brief);
    assert_eq!(a.tenant.map(|t| p.tenant(t).name()), Some("contoso"));
    assert_eq!(a.connector.as_ref().map(|c| &*c.name), Some("Inbound only from Antispamrelay"));
    assert_eq!(c.tenant.map(|t| p.tenant(t).name()), Some("fabrikam"));
    assert_eq!(c.connector, None, "contoso's connector means nothing to fabrikam");
}

#[test]
fn the_trace_shows_every_step_in_spec_order() {
    let p = example();
    let sender = sender(&p, "news@example.net");
    let cx = first(&sender);
    let d = p.rcpt(&session("80.66.20.13", Tls::Plain), &cx, "alice@contoso.com", Detail::Explained);
    let checks: Vec<Check> = d.trace.steps.iter().map(|s| s.check).collect();
    assert_eq!(checks, Check::RCPT_ORDER);
    assert!(d.trace.steps.iter().all(|s| !s.detail.is_empty()));
    assert_eq!(
        d.trace.steps[5].detail,
        "partner connector \"Inbound only from Antispamrelay\" matched by client IP 80.66.20.13 in 80.66.20.0/28"
    );

    let d = p.rcpt(&session("203.0.113.9", Tls::None), &cx, "alice@contoso.com", Detail::Explained);
    let last = d.trace.last().unwrap();
    assert_eq!((last.check, last.outcome), (Check::ConnectorAttribution, Outcome::Reject));
    assert_eq!(last.reply.as_ref().unwrap().to_string(), PARTNER_RESTRICTED);
    assert_eq!(d.trace.steps.len(), 6, "nothing after the reject is evaluated");

    // A brief trace decides the same, without sentences.
    let brief = p.rcpt(&session("203.0.113.9", Tls::None), &cx, "alice@contoso.com", Detail::Brief);
    assert_eq!(brief.reply, d.reply);
    assert!(brief.trace.steps.iter().all(|s| s.detail.is_empty()));
}

/// A sender domain belongs to the tenant that recipient attribution would give it: the most
/// specific accepted domain, not any tenant whose `match_subdomains` also covers it.
#[test]
fn direct_send_uses_the_same_domain_attribution_as_recipients() {
    let p = policy(
        r#"
[[tenants]]
name = "parent"
mx = ["self"]
reject_direct_send = true
recipients = ["a@contoso.com"]
[[tenants.accepted_domains]]
domain = "contoso.com"
match_subdomains = true

[[tenants]]
name = "eu"
mx = ["self"]
recipients = ["b@eu.contoso.com"]
[[tenants.accepted_domains]]
domain = "eu.contoso.com"
"#,
    );
    let stranger = session("203.0.113.9", Tls::None);
    // eu.contoso.com is the eu tenant's domain, so for "parent" it is an outside sender.
    assert_eq!(rcpt_reply(&p, &stranger, "x@eu.contoso.com", "a@contoso.com"), OK);
    assert_eq!(rcpt_reply(&p, &stranger, "x@sales.contoso.com", "a@contoso.com"), DIRECT_SEND);
    assert_eq!(rcpt_reply(&p, &stranger, "x@contoso.com", "a@contoso.com"), DIRECT_SEND);
}
