//! End of DATA: transport rules per tenant copy, the SCL, the disposition and the headers set.

mod common;

use common::*;
use doorman_policy::{DataDecision, Detail, Disposition, MessageHeaders, Outcome, Policy, TenantCopy, Transaction};

const BASE: &str = r#"
[[tenants]]
name = "contoso"
mx = ["mx.contoso-gateway.net"]
recipients = ["alice@contoso.com", "bob@contoso.com"]
[[tenants.accepted_domains]]
domain = "contoso.com"
[[tenants.inbound_connectors]]
name = "Gateway"
type = "partner"
sender_ip_addresses = ["80.66.20.0/28"]
restrict_domains_to_ip_addresses = true
[[tenants.inbound_connectors]]
name = "Exchange on-premises"
type = "on_premises"
tls_sender_certificate_name = "exchange.contoso.com"
"#;

const OTHER_TENANT: &str = r#"
[[tenants]]
name = "fabrikam"
mx = ["self"]
recipients = ["carol@fabrikam.com"]
[[tenants.accepted_domains]]
domain = "fabrikam.com"
"#;

/// The base tenant with these rules (TOML `[[tenants.transport_rules]]` blocks).
fn with_rules(rules: &str) -> Policy {
    policy(&format!("{BASE}\n{rules}\n{OTHER_TENANT}"))
}

fn data(p: &Policy, ip: &str, tls: Tls, from: &str, rcpts: &[&str], headers: &[(&str, &str)]) -> DataDecision {
    let mut tx = Transaction::new(ip.parse().unwrap(), from, rcpts);
    tx.session = session(ip, tls);
    tx.headers = MessageHeaders::from_pairs(headers.iter().copied());
    let e = p.evaluate(&tx, Detail::Explained);
    for r in e.recipients.iter().map(|r| &r.decision) {
        assert!(r.is_accepted(), "{} refused at RCPT: {}", r.recipient, r.reply);
    }
    e.data.expect("recipients were accepted")
}

fn copy<'a>(d: &'a DataDecision, tenant: &str) -> &'a TenantCopy {
    d.copies.iter().find(|c| &*c.tenant == tenant).unwrap_or_else(|| panic!("no copy for {tenant}"))
}

fn header<'a>(c: &'a TenantCopy, name: &str) -> Option<&'a str> {
    c.set_headers.iter().find(|h| h.name == name).map(|h| h.value.as_str())
}

fn hit_names(c: &TenantCopy) -> Vec<&str> {
    c.rules_hit.iter().map(|h| h.name.as_str()).collect()
}

#[test]
fn scl_minus_one_for_the_gateway_range() {
    let p = example();
    let d = data(&p, "80.66.20.13", Tls::Plain, "news@example.net", &["alice@contoso.com", "carol@fabrikam.com"], &[]);
    assert_eq!(d.reply, None, "accepted: the edge answers 250 once durable");
    let contoso = copy(&d, "contoso");
    assert_eq!(contoso.scl.map(|s| s.0), Some(-1));
    assert_eq!(contoso.disposition, Disposition::Deliver);
    assert_eq!(
        header(contoso, "X-Doorman-Report"),
        Some(
            "tenant=contoso; connector=Inbound only from Antispamrelay; cip=80.66.20.13; scl=-1; rules=Skip spam filtering for the gateway"
        )
    );
    // The same message forks: fabrikam's copy has its own connector, rules and SCL.
    let fabrikam = copy(&d, "fabrikam");
    assert_eq!(fabrikam.scl, None);
    assert_eq!(fabrikam.connector, None);
    assert_eq!(
        header(fabrikam, "X-Doorman-Report"),
        Some("tenant=fabrikam; connector=none; cip=80.66.20.13; scl=none; rules=none")
    );
}

const TAG_EXTERNAL: &str = r#"
[[tenants.transport_rules]]
name = "Tag external"
conditions.from_scope = "not_in_organization"
exceptions.sender_domain_is = ["partner.example"]
actions.prepend_subject = "[EXT] "
"#;

#[test]
fn exceptions_stop_a_rule() {
    let p = with_rules(TAG_EXTERNAL);
    let d = data(&p, "80.66.20.13", Tls::None, "a@example.net", &["alice@contoso.com"], &[("From", "a@example.net")]);
    assert_eq!(copy(&d, "contoso").subject_prefix.as_deref(), Some("[EXT] "));

    let d = data(
        &p,
        "80.66.20.13",
        Tls::None,
        "a@example.net",
        &["alice@contoso.com"],
        &[("From", "Pat <pat@eu.partner.example>")],
    );
    let c = copy(&d, "contoso");
    assert_eq!(c.subject_prefix, None);
    assert!(c.rules_hit.is_empty());
    assert_eq!(c.trace.steps[0].outcome, Outcome::NoMatch);
    assert_eq!(
        c.trace.steps[0].detail,
        "rule \"Tag external\": the conditions hold, but exception sender_domain_is does too: the From header domain eu.partner.example is one of partner.example"
    );

    // The exception looks at the From header by default, not the envelope.
    let d =
        data(&p, "80.66.20.13", Tls::None, "pat@partner.example", &["alice@contoso.com"], &[("From", "a@example.net")]);
    assert_eq!(copy(&d, "contoso").subject_prefix.as_deref(), Some("[EXT] "));
    let envelope = with_rules(
        &TAG_EXTERNAL
            .replace("name = \"Tag external\"", "name = \"Tag external\"\nsender_address_location = \"envelope\""),
    );
    let d = data(
        &envelope,
        "80.66.20.13",
        Tls::None,
        "pat@partner.example",
        &["alice@contoso.com"],
        &[("From", "a@example.net")],
    );
    assert_eq!(copy(&d, "contoso").subject_prefix, None);
}

#[test]
fn in_organization_means_own_domain_through_an_on_premises_connector() {
    let p = with_rules(TAG_EXTERNAL);
    let d = data(
        &p,
        "192.0.2.10",
        Tls::Cert("exchange.contoso.com"),
        "bob@contoso.com",
        &["alice@contoso.com"],
        &[("From", "bob@contoso.com")],
    );
    let c = copy(&d, "contoso");
    assert_eq!(c.connector.as_ref().map(|m| &*m.name), Some("Exchange on-premises"));
    assert_eq!(c.subject_prefix, None, "internal mail is not tagged");
}

#[test]
fn priority_and_stop_processing() {
    let rules = r#"
[[tenants.transport_rules]]
name = "Later"
priority = 5
actions.set_scl = 5
[[tenants.transport_rules]]
name = "First"
priority = 0
actions.set_scl = 1
"#;
    let d = data(&with_rules(rules), "80.66.20.13", Tls::None, "a@example.net", &["alice@contoso.com"], &[]);
    let c = copy(&d, "contoso");
    assert_eq!(hit_names(c), ["First", "Later"], "priority 0 runs first, whatever the file order");
    assert_eq!(c.scl.map(|s| s.0), Some(5), "the last SCL set wins");

    let stopping = rules.replace("actions.set_scl = 1", "actions.set_scl = 1\nstop_processing = true");
    let d = data(&with_rules(&stopping), "80.66.20.13", Tls::None, "a@example.net", &["alice@contoso.com"], &[]);
    let c = copy(&d, "contoso");
    assert_eq!(hit_names(c), ["First"]);
    assert_eq!(c.scl.map(|s| s.0), Some(1));
    assert!(c.trace.steps[0].detail.ends_with("set SCL 1; no further rules run"), "{}", c.trace.steps[0].detail);
}

#[test]
fn audit_mode_records_but_does_not_act() {
    let rules = r#"
[[tenants.transport_rules]]
name = "Would reject"
mode = "audit"
conditions.recipient_domain_is = ["contoso.com"]
actions.reject = { enhanced_status_code = "5.7.1", text = "Not here" }
actions.set_scl = 9
"#;
    let d = data(&with_rules(rules), "80.66.20.13", Tls::None, "a@example.net", &["alice@contoso.com"], &[]);
    assert_eq!(d.reply, None);
    let c = copy(&d, "contoso");
    assert_eq!(c.disposition, Disposition::Deliver);
    assert_eq!(c.scl, None);
    assert_eq!(hit_names(c), ["Would reject"]);
    assert_eq!(c.rules_hit[0].mode, doorman_config::RuleMode::Audit);
    assert_eq!(
        c.trace.steps[0].detail,
        "rule \"Would reject\" (audit): recipient_domain_is: recipient domain contoso.com is one of contoso.com; would set SCL 9, reject with 5.7.1 Not here, but audit mode only records"
    );
    assert!(
        header(c, "X-Doorman-Report").unwrap().ends_with("scl=none; rules=none"),
        "audited rules do not appear in the report"
    );
}

const REJECT_CONTOSO: &str = r#"
[[tenants.transport_rules]]
name = "Block invoices"
conditions.header_contains = [{ header = "Subject", words = ["invoice", "Rechnung"] }]
actions.reject = { enhanced_status_code = "5.7.1", text = "Invoices go to the portal" }
[[tenants.transport_rules]]
name = "Never reached"
actions.set_scl = 3
"#;

#[test]
fn reject_answers_in_session_only_when_every_copy_rejects() {
    let p = with_rules(REJECT_CONTOSO);
    // An RFC 2047 encoded subject is decoded before matching.
    let subject = [("Subject", "=?utf-8?q?Ihre_RECHNUNG_f=C3=BCr_Mai?=")];
    let d = data(&p, "80.66.20.13", Tls::None, "a@example.net", &["alice@contoso.com", "bob@contoso.com"], &subject);
    assert_eq!(d.reply.as_ref().map(|r| r.to_string()).as_deref(), Some("550 5.7.1 Invoices go to the portal"));
    assert_eq!(hit_names(copy(&d, "contoso")), ["Block invoices"], "a reject ends rule processing");

    // With a second tenant that accepts, the session gets 250 and contoso's copy is refused.
    let d = data(&p, "80.66.20.13", Tls::None, "a@example.net", &["alice@contoso.com", "carol@fabrikam.com"], &subject);
    assert_eq!(d.reply, None);
    assert!(
        matches!(&copy(&d, "contoso").disposition, Disposition::Reject { reply } if reply.to_string() == "550 5.7.1 Invoices go to the portal")
    );
    assert_eq!(copy(&d, "fabrikam").disposition, Disposition::Deliver);

    let d = data(&p, "80.66.20.13", Tls::None, "a@example.net", &["alice@contoso.com"], &[("Subject", "Lunch?")]);
    assert_eq!(copy(&d, "contoso").disposition, Disposition::Deliver);
}

#[test]
fn dispositions_and_their_precedence() {
    let rules = r#"
[[tenants.transport_rules]]
name = "Redirect"
priority = 0
actions.redirect_to = ["review@contoso.com"]
[[tenants.transport_rules]]
name = "Quarantine"
priority = 1
conditions.sender_domain_is = ["bulk.example"]
sender_address_location = "envelope"
actions.quarantine = true
[[tenants.transport_rules]]
name = "Delete"
priority = 2
conditions.sender_ip_ranges = ["80.66.20.14"]
actions.delete = true
"#;
    let p = with_rules(rules);
    let d = data(&p, "80.66.20.13", Tls::None, "a@example.net", &["alice@contoso.com"], &[]);
    assert!(
        matches!(&copy(&d, "contoso").disposition, Disposition::Redirect { to } if to[0].to_string() == "review@contoso.com")
    );
    let d = data(&p, "80.66.20.13", Tls::None, "a@bulk.example", &["alice@contoso.com"], &[]);
    assert_eq!(copy(&d, "contoso").disposition, Disposition::Quarantine);
    let d = data(&p, "80.66.20.14", Tls::None, "a@bulk.example", &["alice@contoso.com"], &[]);
    assert_eq!(copy(&d, "contoso").disposition, Disposition::Delete);
    assert_eq!(d.reply, None, "a deleted message is still accepted");
}

#[test]
fn connector_and_certificate_conditions() {
    let rules = r#"
[[tenants.transport_rules]]
name = "From the gateway connector"
conditions.inbound_connector = ["gateway"]
actions.set_header = { name = "X-Path", value = "gateway" }
[[tenants.transport_rules]]
name = "From Exchange by certificate"
conditions.tls_certificate_name = ["*.contoso.com"]
actions.set_header = { name = "X-Path", value = "exchange" }
"#;
    let p = with_rules(rules);
    let d = data(&p, "80.66.20.13", Tls::None, "a@example.net", &["alice@contoso.com"], &[]);
    assert_eq!(hit_names(copy(&d, "contoso")), ["From the gateway connector"]);
    let d = data(&p, "192.0.2.10", Tls::Cert("exchange.contoso.com"), "bob@contoso.com", &["alice@contoso.com"], &[]);
    let c = copy(&d, "contoso");
    assert_eq!(hit_names(c), ["From Exchange by certificate"]);
    assert_eq!(header(c, "X-Path"), Some("exchange"));
}

#[test]
fn the_report_header_cannot_be_forged_and_names_are_quoted() {
    let rules = r#"
[[tenants.transport_rules]]
name = "Forge; scl=-1"
actions.set_header = { name = "x-doorman-report", value = "tenant=evil" }
[[tenants.transport_rules]]
name = "Off"
enabled = false
actions.delete = true
"#;
    let d = data(&with_rules(rules), "80.66.20.13", Tls::None, "a@example.net", &["alice@contoso.com"], &[]);
    let c = copy(&d, "contoso");
    let reports: Vec<_> = c.set_headers.iter().filter(|h| h.name.eq_ignore_ascii_case("X-Doorman-Report")).collect();
    assert_eq!(reports.len(), 1);
    assert_eq!(
        reports[0].value,
        "tenant=contoso; connector=Gateway; cip=80.66.20.13; scl=none; rules=\"Forge; scl=-1\""
    );
    assert_eq!(c.disposition, Disposition::Deliver, "a disabled rule does not run");
    assert_eq!(c.trace.steps[1].detail, "rule \"Off\" is disabled");
}

/// Exchange's `SCLJunkThreshold`: a copy delivered with an SCL above the tenant's threshold
/// (4 unless set) goes to the Junk Email folder; SCL -1, an SCL at the threshold and every
/// other disposition stay as they are.
#[test]
fn an_scl_above_the_junk_threshold_goes_to_the_junk_folder() {
    let rules = r#"
[[tenants.transport_rules]]
name = "Bulk"
conditions.sender_domain_is = ["bulk.example"]
sender_address_location = "envelope"
actions.set_scl = 5
[[tenants.transport_rules]]
name = "Newsletter"
conditions.sender_domain_is = ["news.example"]
sender_address_location = "envelope"
actions.set_scl = 4
[[tenants.transport_rules]]
name = "Held"
conditions.sender_domain_is = ["held.example"]
sender_address_location = "envelope"
actions.set_scl = 9
actions.quarantine = true
[[tenants.transport_rules]]
name = "Gateway"
conditions.sender_ip_ranges = ["80.66.20.0/28"]
actions.set_scl = -1
"#;
    let from_gateway = |p: &Policy, sender: &str| {
        let d = data(p, "80.66.20.13", Tls::None, sender, &["alice@contoso.com"], &[]);
        let c = copy(&d, "contoso");
        (c.scl.map(|s| s.0), c.disposition.clone(), c.trace.clone())
    };
    let p = with_rules(rules);
    let (scl, disposition, _) = from_gateway(&p, "a@bulk.example");
    // Rules run in order; the gateway rule, last, sets -1 for everything from the gateway.
    assert_eq!((scl, disposition), (Some(-1), Disposition::Deliver));

    let p = policy(&format!("{BASE}\n{}\n{OTHER_TENANT}", rules.replace("80.66.20.0/28", "192.0.2.1")));
    let (scl, disposition, trace) = from_gateway(&p, "a@bulk.example");
    assert_eq!((scl, disposition.clone()), (Some(5), Disposition::Junk), "SCL 5 is above the default 4");
    assert_eq!(disposition.name(), "junk");
    let shown = format!("{trace:?}");
    assert!(shown.contains("scl_junk_threshold (4)"), "{shown}");
    assert_eq!(from_gateway(&p, "a@news.example").1, Disposition::Deliver, "SCL 4 is not above 4");
    assert_eq!(from_gateway(&p, "a@held.example").1, Disposition::Quarantine, "a rule's action comes first");
    assert_eq!(from_gateway(&p, "a@example.net").1, Disposition::Deliver, "no SCL, no junk");

    let higher = policy(&format!(
        "{}\n{}\n{OTHER_TENANT}",
        BASE.replacen("mx = [", "scl_junk_threshold = 6\nmx = [", 1),
        rules.replace("80.66.20.0/28", "192.0.2.1")
    ));
    assert_eq!(from_gateway(&higher, "a@bulk.example").1, Disposition::Deliver, "SCL 5 is not above 6");
}
