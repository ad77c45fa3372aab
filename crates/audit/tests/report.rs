//! What the report says of each class: its disposition, and whether it depends on what the
//! message says; checked against the engine for sessions of those classes.

use std::net::IpAddr;
use std::path::Path;

use doorman_audit::predict::{Classes, Prediction};
use doorman_audit::{Audit, DispositionKind, Verdict};
use doorman_policy::{Detail, MessageHeaders, Policy, Transaction};

fn load(toml: &str) -> Policy {
    let loaded = doorman_config::load_str("report.toml", toml, Path::new(".")).unwrap_or_else(|d| panic!("{d}"));
    Policy::new(loaded.config)
}

fn session(ip: &str, headers: &[(&str, &str)]) -> Transaction {
    let ip: IpAddr = ip.parse().unwrap();
    let mut tx = Transaction::new(ip, "<s@example.net>", &["alice@contoso.com"]);
    tx.headers = MessageHeaders::from_pairs(headers.iter().copied());
    tx
}

#[track_caller]
fn assert_predicts(policy: &Policy, tx: &Transaction) -> Prediction {
    let engine = Prediction::observed(policy, &policy.evaluate(tx, Detail::Brief));
    assert_eq!(Classes::of(policy).predict(tx).expect("a class"), engine, "{tx:#?}");
    engine
}

fn run(policy: &Policy) -> Audit {
    doorman_audit::audit(policy).expect("the audit runs")
}

const GATEWAY: &str = r#"
[[tenants]]
name = "contoso"
mx = [{ host = "mx.contoso-gateway.net", addresses = ["80.66.20.0/28"] }]
reject_direct_send = true
recipients = ["alice@contoso.com", "boss@contoso.com"]
accepted_domains = [{ domain = "contoso.com" }]
"#;

#[test]
fn a_door_that_message_content_opens_is_a_side_door_that_names_its_rule() {
    // Everything not from the gateway is deleted, unless it carries a header anyone can write.
    let policy = load(&format!(
        r#"{GATEWAY}
[[tenants.transport_rules]]
name = "Only the gateway"
exceptions.sender_ip_ranges = ["80.66.20.0/28"]
exceptions.header_contains = [{{ header = "X-Relay-Token", words = ["s3cret"] }}]
actions.delete = true
"#
    ));
    let with = assert_predicts(&policy, &session("203.0.113.9", &[("X-Relay-Token", "S3CRET")]));
    assert_eq!(with.copies[0].disposition, DispositionKind::Deliver);
    let without = assert_predicts(&policy, &session("203.0.113.9", &[("Subject", "hello")]));
    assert_eq!(without.copies[0].disposition, DispositionKind::Delete);

    let a = run(&policy);
    let t = &a.tenants[0];
    assert_eq!(t.verdict, Verdict::SideDoorOpen, "never locked by omission");
    let door = t.side_doors.iter().find(|d| d.summary == "all IPv4 except 80.66.20.0/28; all IPv6").expect("the door");
    assert_eq!(door.content, ["Only the gateway"]);
    assert_eq!(door.disposition, DispositionKind::Deliver);
    let example = door.session.as_ref().unwrap();
    assert!(example.headers.iter().any(|(n, v)| n == "x-relay-token" && v == "s3cret"), "{example:?}");
    assert!(t.deleted.iter().any(|d| d.content == ["Only the gateway"] && d.rules == ["Only the gateway"]));
    let text = doorman_audit::render::text(&a);
    assert!(text.contains("depends on message content (rules \"Only the gateway\")"), "{text}");
    assert!(t.findings.iter().any(|f| f.code == "depends_on_content" && f.message.contains("\"Only the gateway\"")));
}

/// Only rules that read content are named as what the outcome depends on: a later rule
/// that matches every message runs only when the content rule did not delete it, yet the
/// sender decides that only through the first.
#[test]
fn only_rules_on_content_are_named_when_content_decides() {
    let policy = load(&format!(
        r#"{GATEWAY}
[[tenants.transport_rules]]
name = "Drop all but invoices"
exceptions.header_contains = [{{ header = "Subject", words = ["invoice"] }}]
actions.delete = true

[[tenants.transport_rules]]
name = "Mark the rest"
actions.set_scl = 1
"#
    ));
    let invoice = assert_predicts(&policy, &session("203.0.113.9", &[("Subject", "Invoice 42")]));
    assert_eq!(invoice.copies[0].rules, ["Mark the rest"]);
    let other = assert_predicts(&policy, &session("203.0.113.9", &[("Subject", "hello")]));
    assert_eq!(other.copies[0].rules, ["Drop all but invoices"]);

    let a = run(&policy);
    let t = &a.tenants[0];
    let door = t.side_doors.first().expect("invoices come in by a side door");
    assert_eq!(door.content, ["Drop all but invoices"]);
    assert!(t.deleted.iter().all(|d| d.content == ["Drop all but invoices"]), "{:?}", t.deleted);
    let finding = t.findings.iter().find(|f| f.code == "depends_on_content").expect("the finding");
    assert!(!finding.message.contains("Mark the rest"), "{}", finding.message);
}

#[test]
fn content_that_only_refuses_leaves_a_locked_tenant_locked() {
    let policy = load(&format!(
        r#"{GATEWAY}
[[tenants.inbound_connectors]]
name = "Inbound only from Antispamrelay"
type = "partner"
sender_ip_addresses = ["80.66.20.0/28"]
restrict_domains_to_ip_addresses = true

[[tenants.transport_rules]]
name = "No spam"
conditions.header_contains = [{{ header = "Subject", words = ["[SPAM]"] }}]
actions.reject = {{ enhanced_status_code = "5.7.1", text = "Spam refused" }}
"#
    ));
    let p = assert_predicts(&policy, &session("80.66.20.1", &[("Subject", "[spam] buy now")]));
    assert_eq!(p.data.map(|c| c.to_string()).as_deref(), Some("550 5.7.1"));
    let a = run(&policy);
    let t = &a.tenants[0];
    assert_eq!(t.verdict, Verdict::Locked);
    let refused =
        t.refused.iter().find(|r| r.stage == doorman_audit::report::RefusedAt::Data).expect("refused after DATA");
    assert_eq!(
        (refused.reply.as_str(), refused.content.as_slice()),
        ("550 5.7.1 Spam refused", &["No spam".to_string()][..])
    );
    assert!(t.front_doors.iter().all(|d| d.content == ["No spam"]), "the gateway's mail depends on its subject");
}

#[test]
fn each_class_reports_its_disposition() {
    let policy = load(
        r#"
[[tenants]]
name = "contoso"
mx = ["self"]
recipients = ["alice@contoso.com", "boss@contoso.com"]
accepted_domains = [{ domain = "contoso.com" }]

[[tenants.transport_rules]]
name = "Hold"
conditions.sender_ip_ranges = ["192.0.2.0/24"]
actions.quarantine = true

[[tenants.transport_rules]]
name = "Drop"
conditions.sender_ip_ranges = ["198.51.100.0/24"]
actions.delete = true

[[tenants.transport_rules]]
name = "To the boss"
conditions.sender_ip_ranges = ["203.0.113.0/24"]
actions.redirect_to = ["boss@contoso.com"]

[[tenants.transport_rules]]
name = "Refuse"
conditions.sender_ip_ranges = ["100.64.0.0/10"]
actions.reject = { enhanced_status_code = "5.7.1", text = "Not from you" }

[[tenants.transport_rules]]
name = "Bulk"
conditions.sender_ip_ranges = ["172.16.0.0/12"]
actions.set_scl = 6
"#,
    );
    for (ip, want) in [
        ("192.0.2.1", DispositionKind::Quarantine),
        ("198.51.100.1", DispositionKind::Delete),
        ("203.0.113.1", DispositionKind::Redirect),
        ("100.64.0.1", DispositionKind::Reject),
        ("172.16.0.1", DispositionKind::Junk),
        ("10.0.0.1", DispositionKind::Deliver),
    ] {
        assert_eq!(assert_predicts(&policy, &session(ip, &[])).copies[0].disposition, want, "{ip}");
    }
    let a = run(&policy);
    let t = &a.tenants[0];
    assert_eq!(t.verdict, Verdict::Locked, "doorman is the MX: every door is the front door");
    let door =
        |d: DispositionKind| t.front_doors.iter().filter(move |x| x.disposition == d).map(|x| x.summary.as_str());
    assert!(door(DispositionKind::Quarantine).any(|s| s == "192.0.2.0/24"));
    assert!(door(DispositionKind::Redirect).any(|s| s == "203.0.113.0/24"));
    // SCL 6 is above the default junk threshold: the Junk Email folder, a door the user reads.
    assert!(door(DispositionKind::Junk).any(|s| s == "172.16.0.0/12"));
    assert!(door(DispositionKind::Deliver).count() > 0);
    assert!(t.deleted.iter().any(|d| d.summary == "198.51.100.0/24" && d.rules == ["Drop"]));
    let refused =
        t.refused.iter().find(|r| r.stage == doorman_audit::report::RefusedAt::Data).expect("a rule's reject");
    assert_eq!((refused.summary.as_str(), refused.reply.as_str()), ("100.64.0.0/10", "550 5.7.1 Not from you"));
    let json = serde_json::to_value(&a).unwrap();
    let dispositions: Vec<&str> = json["tenants"][0]["front_doors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["disposition"].as_str().unwrap())
        .collect();
    for d in ["quarantine", "redirect", "junk", "deliver"] {
        assert!(dispositions.contains(&d), "{d}: {dispositions:?}");
    }
}

#[test]
fn directory_entries_the_edge_refuses_first_hide_no_door() {
    // The first directory entry is refused before the directory is read (a route; SMTPUTF8
    // for a client that does not give it); the others stand for their class all the same.
    for first in ["ops%team@contoso.com", "jörg@contoso.com"] {
        let policy = load(&GATEWAY.replace(
            "recipients = [\"alice@contoso.com\", \"boss@contoso.com\"]",
            &format!("recipients = [\"{first}\", \"alice@contoso.com\"]"),
        ));
        assert_predicts(&policy, &session("203.0.113.9", &[]));
        let a = run(&policy);
        assert_eq!(a.tenants[0].verdict, Verdict::SideDoorOpen, "{first}: strangers reach alice");
    }
    // An accepted domain that is not ASCII: its recipients need SMTPUTF8, which anyone gives.
    let policy = load(&GATEWAY.replace("contoso.com", "bücher.example"));
    let mut tx = session("203.0.113.9", &[]);
    tx.recipients = vec!["alice@bücher.example".into()];
    tx.smtputf8 = true;
    assert_eq!(assert_predicts(&policy, &tx).recipients[0].reply.code, 250);
    tx.smtputf8 = false;
    assert_eq!(assert_predicts(&policy, &tx).recipients[0].reply.to_string(), "553 5.6.7");
    let a = run(&policy);
    assert_eq!(a.tenants[0].verdict, Verdict::SideDoorOpen);
    assert!(!a.tenants[0].findings.iter().any(|f| f.code == "connector_shadowed" || f.code == "rule_never_matches"));
    let door = a.tenants[0].side_doors[0].session.as_ref().unwrap();
    assert!(door.smtputf8, "the example gives SMTPUTF8 for its non-ASCII recipient");
}

#[test]
fn a_from_header_is_one_field_that_rules_on_its_domain_and_its_words_both_read() {
    // Every From: in partner.test carries "partner.test": the SCL -1 of the first rule never
    // reaches anyone, since the second deletes all such mail.
    let policy = load(&format!(
        r#"{GATEWAY}
[[tenants.transport_rules]]
name = "Trust partner mail"
priority = 0
sender_address_location = "header"
conditions.sender_domain_is = ["partner.test"]
actions.set_scl = -1

[[tenants.transport_rules]]
name = "No partner mail"
priority = 1
conditions.header_contains = [{{ header = "From", words = ["partner.test"] }}]
actions.delete = true
"#
    ));
    let p = assert_predicts(&policy, &session("203.0.113.9", &[("From", "Partner <a@partner.test>")]));
    assert_eq!((p.copies[0].scl, p.copies[0].disposition), (Some(-1), DispositionKind::Delete));
    let a = run(&policy);
    let codes: Vec<&str> = a.tenants[0].findings.iter().map(|f| f.code.as_str()).collect();
    assert!(
        !codes.contains(&"scl_bypass_by_sender_domain") && !codes.contains(&"side_door_skips_spam_filtering"),
        "{codes:?}"
    );
    assert!(a.tenants[0].side_doors.iter().all(|d| d.scl != Some(-1)));
    assert!(a.tenants[0].deleted.iter().any(|d| d.from.as_deref() == Some("From: header in partner.test")));
}
