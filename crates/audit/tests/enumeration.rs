//! No rule condition can escape the audit: for every kind of condition and exception a
//! transport rule can have (and every place `sender_domain_is` looks), the audit cuts the
//! sender space where the rule starts and stops holding. A rule with that one predicate, as
//! a condition and as an exception, deletes some classes and lets others through; sessions
//! on either side get from the audit exactly what the engine decides.
//!
//! The kinds are listed by taking the config's `Predicates` apart without `..`, so a new
//! kind of condition does not compile here until it has a case.

use std::net::IpAddr;
use std::path::Path;

use doorman_audit::predict::{Classes, Prediction};
use doorman_audit::{Audit, DispositionKind};
use doorman_config::{Predicates, SenderAddressLocation};
use doorman_policy::{ClientCertificate, Detail, MessageHeaders, Policy, TlsInfo, Transaction};

/// A session as a client makes it.
#[derive(Clone, Copy)]
struct Client {
    ip: &'static str,
    cert: Option<&'static str>,
    mail_from: &'static str,
    rcpt: &'static str,
    from: &'static str,
    subject: &'static str,
}

/// A stranger's plain message to alice: what no case's predicate holds for.
const STRANGER: Client = Client {
    ip: "203.0.113.9",
    cert: None,
    mail_from: "<s@example.net>",
    rcpt: "alice@contoso.com",
    from: "s@example.net",
    subject: "hello",
};

impl Client {
    fn transaction(&self) -> Transaction {
        let ip: IpAddr = self.ip.parse().unwrap();
        let mut tx = Transaction::new(ip, self.mail_from, &[self.rcpt]);
        if let Some(name) = self.cert {
            let cert = ClientCertificate::Verified { names: vec![name.to_string()] };
            tx.session = tx.session.with_tls(TlsInfo::new("TLSv1.3", "TLS13_AES_256_GCM_SHA384", cert));
        }
        tx.headers = MessageHeaders::from_pairs([("From", self.from), ("Subject", self.subject)]);
        tx
    }
}

/// One predicate: its TOML (under `conditions.` or `exceptions.`), the rule's
/// `sender_address_location`, a session it holds for, and one it does not hold for.
struct Case {
    what: String,
    toml: &'static str,
    location: SenderAddressLocation,
    holds: Client,
    fails: Client,
}

fn cases() -> Vec<Case> {
    // Every field, so that a new one needs a case below.
    let Predicates {
        sender_ip_ranges: _,
        inbound_connector: _,
        tls_certificate_name: _,
        sender_domain_is: _,
        recipient_domain_is: _,
        from_scope: _,
        header_contains: _,
    } = Predicates::default();
    let case = |what: &str, toml, holds, fails| Case {
        what: what.to_string(),
        toml,
        location: SenderAddressLocation::Header,
        holds,
        fails,
    };
    let mut all = vec![
        case(
            "sender_ip_ranges",
            "sender_ip_ranges = [\"198.51.100.0/24\"]",
            Client { ip: "198.51.100.7", ..STRANGER },
            STRANGER,
        ),
        case(
            "inbound_connector",
            "inbound_connector = [\"Gateway\"]",
            Client { ip: "80.66.20.5", ..STRANGER },
            // Gateway covers every sender domain, so a stranger is attributed to it too.
            Client { ip: "10.1.2.3", mail_from: "<carol@contoso.com>", from: "carol@contoso.com", ..STRANGER },
        ),
        case(
            "tls_certificate_name",
            "tls_certificate_name = [\"*.relay.test\"]",
            Client { cert: Some("a.relay.test"), ..STRANGER },
            Client { cert: Some("relay.test"), ..STRANGER },
        ),
        case(
            "recipient_domain_is",
            "recipient_domain_is = [\"eu.contoso.com\"]",
            Client { rcpt: "bob@eu.contoso.com", ..STRANGER },
            STRANGER,
        ),
        case(
            "from_scope in_organization",
            "from_scope = \"in_organization\"",
            Client { ip: "10.1.2.3", mail_from: "<carol@contoso.com>", from: "carol@contoso.com", ..STRANGER },
            Client { mail_from: "<carol@contoso.com>", from: "carol@contoso.com", ..STRANGER },
        ),
        case(
            "from_scope not_in_organization",
            "from_scope = \"not_in_organization\"",
            STRANGER,
            Client { ip: "10.1.2.3", mail_from: "<carol@contoso.com>", from: "carol@contoso.com", ..STRANGER },
        ),
        case(
            "header_contains",
            "header_contains = [{ header = \"Subject\", words = [\"[bulk]\"] }]",
            Client { subject: "[BULK] offer", ..STRANGER },
            STRANGER,
        ),
    ];
    let partner_in_header = Client { from: "s@partner.test", ..STRANGER };
    let partner_in_envelope = Client { mail_from: "<s@partner.test>", ..STRANGER };
    for (location, holds, fails) in [
        (SenderAddressLocation::Header, partner_in_header, partner_in_envelope),
        (SenderAddressLocation::Envelope, partner_in_envelope, partner_in_header),
        (SenderAddressLocation::HeaderOrEnvelope, partner_in_envelope, STRANGER),
        (SenderAddressLocation::HeaderOrEnvelope, partner_in_header, STRANGER),
    ] {
        all.push(Case {
            what: format!("sender_domain_is ({location:?})"),
            toml: "sender_domain_is = [\"partner.test\"]",
            location,
            holds,
            fails,
        });
    }
    all
}

fn location_toml(l: SenderAddressLocation) -> &'static str {
    match l {
        SenderAddressLocation::Header => "header",
        SenderAddressLocation::Envelope => "envelope",
        SenderAddressLocation::HeaderOrEnvelope => "header_or_envelope",
    }
}

/// contoso behind its gateway, with an on-premises connector, and one rule "R" that deletes
/// what `predicate` (as a condition, or as its only exception) lets it match.
fn config(c: &Case, exception: bool) -> Policy {
    let (section, toml) = if exception { ("exceptions", c.toml) } else { ("conditions", c.toml) };
    let text = format!(
        r#"
[[tenants]]
name = "contoso"
mx = [{{ host = "mx.contoso-gateway.net", addresses = ["80.66.20.0/28"] }}]
recipients = ["alice@contoso.com", "bob@eu.contoso.com", "carol@contoso.com"]
accepted_domains = [{{ domain = "contoso.com", match_subdomains = true }}]

[[tenants.inbound_connectors]]
name = "Gateway"
type = "partner"
sender_domains = ["*"]
sender_ip_addresses = ["80.66.20.0/28"]

[[tenants.inbound_connectors]]
name = "On-premises"
type = "on_premises"
sender_domains = ["contoso.com"]
sender_ip_addresses = ["10.1.0.0/16"]

[[tenants.transport_rules]]
name = "R"
sender_address_location = "{location}"
{section}.{toml}
actions.delete = true
"#,
        location = location_toml(c.location),
    );
    let loaded = doorman_config::load_str("enumeration.toml", &text, Path::new("."))
        .unwrap_or_else(|d| panic!("{}: {d}\n{text}", c.what));
    Policy::new(loaded.config)
}

/// The audit's class for the client's session predicts the engine's decision, and says
/// whether the rule deleted the copy.
#[track_caller]
fn deleted_by_r(policy: &Policy, client: &Client, what: &str) -> bool {
    let tx = client.transaction();
    let engine = Prediction::observed(policy, &policy.evaluate(&tx, Detail::Brief));
    let audit =
        Classes::of(policy).predict(&tx).unwrap_or_else(|u| panic!("{what}: no class holds the session: {}", u.0));
    assert_eq!(audit, engine, "{what}: the audit's class disagrees with the engine");
    let copy = engine.copies.first().unwrap_or_else(|| panic!("{what}: the session is accepted: {engine:?}"));
    let by_r = copy.rules == ["R"];
    assert_eq!(by_r, copy.disposition == DispositionKind::Delete, "{what}: {copy:?}");
    assert!(by_r || copy.rules.is_empty(), "{what}: {copy:?}");
    by_r
}

fn report(policy: &Policy) -> Audit {
    doorman_audit::audit(policy).expect("the audit runs")
}

#[test]
fn every_rule_condition_and_exception_is_enumerated_by_the_audit() {
    let cases = cases();
    for c in &cases {
        for exception in [false, true] {
            let what = format!("{} as {}", c.what, if exception { "an exception" } else { "a condition" });
            let policy = config(c, exception);
            // A condition makes the rule match where the predicate holds; an exception, where
            // it does not.
            assert_eq!(deleted_by_r(&policy, &c.holds, &what), !exception, "{what}: a session it holds for");
            assert_eq!(deleted_by_r(&policy, &c.fails, &what), exception, "{what}: a session it does not hold for");
            let a = report(&policy);
            let t = &a.tenants[0];
            assert!(
                !t.findings.iter().any(|f| f.code.as_str() == "rule_never_matches"),
                "{what}: the rule matches, yet: {:?}",
                t.findings
            );
            assert!(t.deleted.iter().any(|d| d.rules == ["R"]), "{what}: no class is deleted by R");
            assert!(
                !t.front_doors.is_empty() || !t.side_doors.is_empty(),
                "{what}: every class is deleted, so the audit did not cut where R stops holding"
            );
        }
    }
}
