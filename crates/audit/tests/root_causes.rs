//! One fixture per way the audit's classes can disagree with the engine: mapped IPv6, own
//! subdomains, colliding pattern representatives, rule conditions, dispositions, and tenants
//! with nothing to audit. Each compares what the audit says of a session (the class that
//! holds it) with what the engine decides for that very session, and checks the verdict and
//! findings such a disagreement would falsify.

use std::net::IpAddr;
use std::path::Path;

use doorman_audit::predict::{Classes, Prediction};
use doorman_audit::{Audit, DispositionKind, Verdict};
use doorman_policy::{ClientCertificate, Detail, MessageHeaders, Policy, TlsInfo, Transaction};

fn load(toml: &str) -> Policy {
    let loaded = doorman_config::load_str("fixture.toml", toml, Path::new(".")).unwrap_or_else(|d| panic!("{d}"));
    Policy::new(loaded.config)
}

fn run(policy: &Policy) -> Audit {
    doorman_audit::audit(policy).expect("the audit runs")
}

/// A session as a client would make it: `cert` names on a verified certificate (TLS with no
/// certificate when empty and `tls`), the envelope, and a `From:` header when given.
fn session(ip: &str, tls: bool, cert: &[&str], mail_from: &str, rcpt: &str, from: Option<&str>) -> Transaction {
    let ip: IpAddr = ip.parse().unwrap();
    let mut tx = Transaction::new(ip, mail_from, &[rcpt]);
    if tls || !cert.is_empty() {
        let c = if cert.is_empty() {
            ClientCertificate::None
        } else {
            ClientCertificate::Verified { names: cert.iter().map(|n| n.to_string()).collect() }
        };
        tx.session = tx.session.with_tls(TlsInfo::new("TLSv1.3", "TLS13_AES_256_GCM_SHA384", c));
    }
    if let Some(f) = from {
        tx.headers = MessageHeaders::from_pairs([("From", f)]);
    }
    tx
}

/// The audit's class for `tx` predicts exactly what the engine decides for it.
#[track_caller]
fn assert_predicts(policy: &Policy, tx: &Transaction) -> Prediction {
    let classes = Classes::of(policy);
    let engine = Prediction::observed(policy, &policy.evaluate(tx, Detail::Brief));
    assert_eq!(
        classes.predict(tx).expect("the session has a class"),
        engine,
        "the audit's class disagrees with the engine for {tx:#?}"
    );
    engine
}

fn codes(a: &Audit) -> Vec<(&'static str, Option<String>)> {
    a.tenants[0].findings.iter().map(|f| (f.code.as_str(), f.subject.clone())).collect()
}

const GATEWAY_MX: &str = r#"mx = [{ host = "mx.contoso-gateway.net", addresses = ["80.66.20.0/28"] }]"#;

#[test]
fn mapped_ipv6_is_ipv4_so_global_ipv6_is_judged_as_ipv6() {
    let policy = load(&format!(
        r#"
[[tenants]]
name = "contoso"
{GATEWAY_MX}
reject_direct_send = true
recipients = ["alice@contoso.com"]
accepted_domains = [{{ domain = "contoso.com" }}]
[tenants.connection_filter]
ip_block_list = ["0.0.0.0/0", "::-::fffe:ffff:ffff"]
ip_allow_list = ["80.66.20.0/28"]
"#
    ));
    for ip in
        ["2001:db8::25", "::1:0:0:0", "::fffe:ffff:ffff", "::ffff:203.0.113.9", "::ffff:80.66.20.1", "203.0.113.9"]
    {
        assert_predicts(&policy, &session(ip, false, &[], "<s@example.net>", "alice@contoso.com", None));
    }
    let a = run(&policy);
    let t = &a.tenants[0];
    assert_eq!(t.verdict, Verdict::SideDoorOpen, "every global IPv6 address reaches the mailboxes");
    assert!(!t.side_doors.is_empty());
    for d in &t.side_doors {
        assert!(!d.networks.is_empty(), "a door always names its networks: {d:?}");
        assert!(d.networks.iter().all(|n| n.contains(':') && !n.contains('.')), "IPv6 only: {:?}", d.networks);
        assert!(d.networks.iter().any(|n| n == "2000::/3"), "{:?}", d.networks);
        for n in &d.networks {
            let net: ipnet::Ipv6Net = n.parse().unwrap();
            let mapped: ipnet::Ipv6Net = "::ffff:0:0/96".parse().unwrap();
            assert!(!net.contains(&mapped) && !mapped.contains(&net), "{n} overlaps ::ffff:0:0/96");
        }
    }
}

#[test]
fn senders_in_subdomains_of_own_domains_are_direct_send() {
    let policy = load(&format!(
        r#"
[[tenants]]
name = "contoso"
{GATEWAY_MX}
reject_direct_send = true
recipients = ["alice@contoso.com"]
accepted_domains = [{{ domain = "contoso.com", match_subdomains = true }}]
"#
    ));
    for from in ["<s@deep.sub.contoso.com>", "<s@sub.contoso.com>", "<s@contoso.com>", "<s@notcontoso.com>"] {
        assert_predicts(&policy, &session("203.0.113.9", false, &[], from, "alice@contoso.com", None));
    }
    let p = assert_predicts(
        &policy,
        &session("203.0.113.9", false, &[], "<s@deep.sub.contoso.com>", "alice@contoso.com", None),
    );
    assert_eq!(p.recipients[0].reply.to_string(), "550 5.7.68");
}

#[test]
fn pattern_representatives_match_exactly_their_region() {
    // `*.partner.test` is not `mail.partner.test`, and `*.relay.test` is not `mx.relay.test`.
    let policy = load(&format!(
        r#"
[[tenants]]
name = "contoso"
{GATEWAY_MX}
recipients = ["alice@contoso.com"]
accepted_domains = [{{ domain = "contoso.com" }}]

[[tenants.inbound_connectors]]
name = "Partner mail host"
type = "partner"
sender_domains = ["mail.partner.test"]
sender_ip_addresses = ["192.0.2.0/24"]
restrict_domains_to_ip_addresses = true

[[tenants.inbound_connectors]]
name = "Partner subdomains"
type = "partner"
sender_domains = ["*.partner.test"]
sender_ip_addresses = ["198.51.100.0/24"]

[[tenants.inbound_connectors]]
name = "Relay host"
type = "on_premises"
tls_sender_certificate_name = "mx.relay.test"

[[tenants.inbound_connectors]]
name = "Relay certificates"
type = "partner"
tls_sender_certificate_name = "*.relay.test"
restrict_domains_to_certificate = true
sender_domains = ["relay.test"]

[[tenants.transport_rules]]
name = "Trust the partner connector"
conditions.inbound_connector = ["Partner subdomains"]
actions.set_scl = -1
"#
    ));
    let stranger = |from: &str, cert: &[&str]| session("203.0.113.9", true, cert, from, "alice@contoso.com", None);
    for tx in [
        stranger("<a@other.partner.test>", &[]),
        stranger("<a@mail.partner.test>", &[]),
        stranger("<a@relay.test>", &["a.relay.test"]),
        stranger("<a@relay.test>", &["mx.relay.test"]),
        stranger("<a@relay.test>", &[]),
    ] {
        assert_predicts(&policy, &tx);
    }
    let a = run(&policy);
    let f = codes(&a);
    // Any sender in a subdomain of partner.test other than mail.partner.test gets SCL -1 from anywhere.
    assert!(f.iter().any(|(c, _)| *c == "side_door_skips_spam_filtering"), "{f:?}");
    // A certificate for a.relay.test is attributed to "Relay certificates".
    assert!(!f.contains(&("connector_shadowed", Some("Relay certificates".into()))), "{f:?}");
}

#[test]
fn rule_conditions_on_certificates_and_domains_are_enumerated() {
    let policy = load(&format!(
        r#"
[[tenants]]
name = "contoso"
{GATEWAY_MX}
recipients = ["alice@contoso.com", "alice@eu.contoso.com"]
accepted_domains = [{{ domain = "contoso.com", match_subdomains = true }}]

[[tenants.transport_rules]]
name = "Trust the relay certificate"
conditions.tls_certificate_name = ["relay.partner.test"]
actions.set_scl = -1

[[tenants.transport_rules]]
name = "Mark partner mail"
conditions.sender_domain_is = ["partner.test"]
actions.prepend_subject = "[partner] "

[[tenants.transport_rules]]
name = "EU office"
conditions.recipient_domain_is = ["eu.contoso.com"]
actions.set_header = {{ name = "X-Office", value = "EU" }}
"#
    ));
    for tx in [
        session("203.0.113.9", true, &["relay.partner.test"], "<s@example.net>", "alice@contoso.com", None),
        session("203.0.113.9", false, &[], "<s@example.net>", "alice@contoso.com", Some("s@partner.test")),
        session("203.0.113.9", false, &[], "<s@example.net>", "alice@contoso.com", Some("s@eu.partner.test")),
        session("203.0.113.9", false, &[], "<s@example.net>", "alice@eu.contoso.com", None),
    ] {
        let p = assert_predicts(&policy, &tx);
        assert_eq!(p.copies[0].rules.len(), 1, "each session triggers one rule: {p:?}");
    }
    let a = run(&policy);
    let f = codes(&a);
    assert!(!f.iter().any(|(c, _)| *c == "rule_never_matches"), "every rule matches some session: {f:?}");
    assert!(f.iter().any(|(c, _)| *c == "side_door_skips_spam_filtering"), "{f:?}");
}

#[test]
fn deleted_copies_are_no_door_and_quarantined_ones_are_reported() {
    let config = |action: &str| {
        format!(
            r#"
[[tenants]]
name = "contoso"
{GATEWAY_MX}
reject_direct_send = true
recipients = ["alice@contoso.com"]
accepted_domains = [{{ domain = "contoso.com" }}]

[[tenants.transport_rules]]
name = "Only the gateway"
exceptions.sender_ip_ranges = ["80.66.20.0/28"]
actions.{action} = true
"#
        )
    };
    let stranger = session("203.0.113.9", false, &[], "<s@example.net>", "alice@contoso.com", None);

    let deleting = load(&config("delete"));
    let p = assert_predicts(&deleting, &stranger);
    assert_eq!((p.copies[0].disposition, p.copies[0].door), (DispositionKind::Delete, None));
    let a = run(&deleting);
    assert_eq!(a.tenants[0].verdict, Verdict::Locked, "deleted mail reaches no mailbox: {:?}", codes(&a));

    let quarantining = load(&config("quarantine"));
    let p = assert_predicts(&quarantining, &stranger);
    assert_eq!(p.copies[0].disposition, DispositionKind::Quarantine);
    assert_eq!(run(&quarantining).tenants[0].verdict, Verdict::SideDoorOpen, "an administrator can release it");
}

#[test]
fn a_tenant_with_nothing_to_audit_is_never_locked() {
    let policy = load(&format!(
        r#"
[[tenants]]
name = "empty"
{GATEWAY_MX}

[[tenants]]
name = "contoso"
{GATEWAY_MX}
recipients = ["alice@contoso.com"]
accepted_domains = [{{ domain = "contoso.com" }}]
"#
    ));
    let a = run(&policy);
    assert_eq!(a.tenants[0].tenant, "empty");
    assert_not_audited(&a, "empty", "no accepted domain");
    assert_eq!(a.tenants[1].verdict, Verdict::SideDoorOpen, "the other tenant is audited");
    assert!(!a.is_clean());
}

/// `tenant` is NOT AUDITED, says why, and carries the finding that says so.
#[track_caller]
fn assert_not_audited(a: &Audit, tenant: &str, why: &str) {
    let t = a.tenants.iter().find(|t| t.tenant == tenant).expect("every tenant is in the report");
    assert_eq!(t.verdict, Verdict::NotAudited, "{tenant}");
    assert!(t.not_audited.as_deref().is_some_and(|w| w.contains(why)), "{tenant}: {:?}", t.not_audited);
    assert!(t.findings.iter().any(|f| f.code.as_str() == "not_audited" && f.message.contains(why)), "{:?}", t.findings);
    assert!(t.front_doors.is_empty() && t.side_doors.is_empty(), "no door is claimed for {tenant}");
    assert!(!a.is_clean());
}

#[test]
fn a_tenant_without_mx_or_too_large_to_enumerate_is_not_audited() {
    let no_mx = load(
        r#"
[[tenants]]
name = "contoso"
recipients = ["alice@contoso.com"]
accepted_domains = [{ domain = "contoso.com" }]
"#,
    );
    assert_not_audited(&run(&no_mx), "contoso", "mx is not set");

    // Eleven certificate names that no name matches two of: 2^11 kinds of certificate.
    let mut many_certificates = format!(
        "[[tenants]]\nname = \"contoso\"\n{GATEWAY_MX}\nrecipients = [\"alice@contoso.com\"]\n\
         accepted_domains = [{{ domain = \"contoso.com\" }}]\n"
    );
    for n in 0..11 {
        many_certificates.push_str(&format!(
            "[[tenants.inbound_connectors]]\nname = \"c{n}\"\ntype = \"partner\"\nsender_domains = [\"*\"]\n\
             tls_sender_certificate_name = \"relay{n}.partner.test\"\nrestrict_domains_to_certificate = true\n"
        ));
    }
    assert_not_audited(&run(&load(&many_certificates)), "contoso", "kinds of certificate");

    // Thirteen header conditions that can change one class's outcome.
    let mut many_words = format!(
        "[[tenants]]\nname = \"contoso\"\n{GATEWAY_MX}\nrecipients = [\"alice@contoso.com\"]\n\
         accepted_domains = [{{ domain = \"contoso.com\" }}]\n"
    );
    for n in 0..13 {
        many_words.push_str(&format!(
            "[[tenants.transport_rules]]\nname = \"r{n}\"\n\
             conditions.header_contains = [{{ header = \"Subject\", words = [\"w{n}\"] }}]\nactions.set_scl = {}\n",
            n % 9
        ));
    }
    assert_not_audited(&run(&load(&many_words)), "contoso", "header_contains conditions");
}
