//! The field report's scenarios, audited.

use std::path::Path;

use doorman_audit::{Audit, Severity, Verdict, audit};
use doorman_policy::Policy;

const BEFORE: &str = r#"
[[tenants]]
name = "contoso"
mx = [{ host = "mx.contoso-gateway.net", addresses = ["80.66.20.0/28"] }]
reject_direct_send = true
recipients = ["alice@contoso.com"]
accepted_domains = [{ domain = "contoso.com" }]

[[tenants.transport_rules]]
name = "Skip spam filtering for the gateway"
conditions.sender_ip_ranges = ["80.66.20.0/28"]
actions.set_scl = -1
"#;

const CONNECTOR: &str = r#"
[[tenants.inbound_connectors]]
name = "Inbound only from Antispamrelay"
type = "partner"
sender_domains = ["*"]
sender_ip_addresses = ["80.66.20.0/28"]
restrict_domains_to_ip_addresses = true
"#;

fn run(toml: &str) -> Audit {
    let loaded = doorman_config::load_str("test.toml", toml, Path::new(".")).unwrap_or_else(|d| panic!("{d}"));
    audit(&Policy::new(loaded.config)).expect("the audit runs")
}

fn codes(a: &Audit) -> Vec<&'static str> {
    a.tenants[0].findings.iter().map(|f| f.code.as_str()).collect()
}

#[test]
fn the_seed_before_the_fix_has_a_side_door_from_everywhere_but_the_gateway() {
    let a = run(BEFORE);
    let t = &a.tenants[0];
    assert_eq!(t.verdict, Verdict::SideDoorOpen);
    assert_eq!(t.gateway, ["80.66.20.0/28"]);
    assert!(!t.side_doors.is_empty());
    for d in &t.side_doors {
        assert_eq!(d.summary, "all IPv4 except 80.66.20.0/28; all IPv6", "{d:?}");
        assert_eq!(d.connector, None);
        assert_eq!(d.scl, None, "the SCL -1 rule is keyed on the gateway's range");
    }
    // Direct send is refused: the side doors are external and null senders.
    let senders: Vec<&str> = t.side_doors.iter().map(|d| d.sender.as_str()).collect();
    assert_eq!(senders, ["any other external sender or null sender <> (or an address literal)"]);
    // The gateway's own mail is the front door, with SCL -1.
    assert!(t.front_doors.iter().all(|d| d.summary == "80.66.20.0/28" && d.scl == Some(-1)));
    // Every side door carries an example session the engine accepted.
    let example = t.side_doors[0].example.as_ref().expect("a side door has an example");
    assert!(example.verdict.all_accepted);
    assert!(!example.session.client_ip.to_string().starts_with("80.66.20."));
    // The fix: a Partner connector for every sender domain, restricted to the gateway.
    let fix = &t.fixes[0].toml;
    assert!(fix.contains("sender_domains = [\"*\"]\nsender_ip_addresses = [\"80.66.20.0/28\"]\nrestrict_domains_to_ip_addresses = true\n"), "{fix}");
    assert!(codes(&a).contains(&"side_door") && codes(&a).contains(&"no_open_relay"));
    assert!(!a.is_clean());

    // Applying the fix closes it.
    let fixed = run(&format!("{BEFORE}\n{fix}"));
    assert_eq!(
        fixed.tenants[0].verdict,
        Verdict::Locked,
        "{:#?}",
        fixed.tenants[0].side_doors.first().map(|d| &d.summary)
    );
}

#[test]
fn the_seed_after_the_partner_connector_is_locked() {
    let a = run(&format!("{BEFORE}{CONNECTOR}"));
    let t = &a.tenants[0];
    assert_eq!(t.verdict, Verdict::Locked);
    assert!(t.side_doors.is_empty());
    assert!(t.front_doors.iter().all(|d| d.connector.as_deref() == Some("Inbound only from Antispamrelay")));
    assert!(a.is_clean(), "{:?}", codes(&a));
}

#[test]
fn an_scl_minus_one_rule_keyed_on_the_sender_domain_is_a_finding() {
    let toml = format!(
        "{BEFORE}{CONNECTOR}\n[[tenants.transport_rules]]\nname = \"Trust our partner\"\nconditions.sender_domain_is = [\"partner.example\"]\nactions.set_scl = -1\n"
    );
    let a = run(&toml);
    assert_eq!(a.tenants[0].verdict, Verdict::Locked);
    let f = a.tenants[0].findings.iter().find(|f| f.code == "scl_bypass_by_sender_domain").expect("the finding");
    assert_eq!(f.severity, Severity::Critical);
    assert!(f.message.contains("\"Trust our partner\""));
}

#[test]
fn ipv4_only_restrictions_leave_ipv6_open() {
    // Locked by the connection filter instead of a connector, for IPv4 only.
    let toml = r#"
[[tenants]]
name = "contoso"
mx = [{ host = "mx.contoso-gateway.net", addresses = ["80.66.20.0/28"] }]
reject_direct_send = true
recipients = ["alice@contoso.com"]
accepted_domains = [{ domain = "contoso.com" }]
[tenants.connection_filter]
ip_block_list = ["0.0.0.0/0"]
ip_allow_list = ["80.66.20.0/28"]
"#;
    let a = run(toml);
    let t = &a.tenants[0];
    assert_eq!(t.verdict, Verdict::SideDoorOpen);
    assert!(
        t.side_doors.iter().all(|d| d.summary == "all IPv6"),
        "{:?}",
        t.side_doors.iter().map(|d| &d.summary).collect::<Vec<_>>()
    );
    assert!(codes(&a).contains(&"ipv6_open"));
}

#[test]
fn an_allow_list_entry_opens_a_side_door() {
    let toml = r#"
[[tenants]]
name = "contoso"
mx = [{ host = "mx.contoso-gateway.net", addresses = ["80.66.20.0/28"] }]
reject_direct_send = true
recipients = ["alice@contoso.com"]
accepted_domains = [{ domain = "contoso.com" }]
[tenants.connection_filter]
ip_block_list = ["0.0.0.0/0", "::/0"]
ip_allow_list = ["80.66.20.0/28", { ip = "203.0.113.0/24", name = "old partner" }]
"#;
    let a = run(toml);
    let t = &a.tenants[0];
    assert_eq!(t.verdict, Verdict::SideDoorOpen);
    assert!(
        t.side_doors.iter().all(|d| d.summary == "203.0.113.0/24"),
        "{:?}",
        t.side_doors.iter().map(|d| &d.summary).collect::<Vec<_>>()
    );
}

#[test]
fn no_class_relays_to_a_foreign_domain() {
    let a = run(BEFORE);
    let f = a.tenants[0].findings.iter().find(|f| f.code == "no_open_relay").unwrap();
    assert!(f.message.starts_with("no open relay: all "), "{}", f.message);
}

#[test]
fn the_diff_of_the_fix_is_exactly_the_closed_classes() {
    let load = |toml: &str| Policy::new(doorman_config::load_str("t.toml", toml, Path::new(".")).unwrap().config);
    let (old, new) = (load(BEFORE), load(&format!("{BEFORE}{CONNECTOR}")));
    let d = doorman_audit::diff::diff(&old, &new);
    let t = &d.tenants[0];
    let lost: Vec<(&str, &str)> = t
        .changes
        .iter()
        .filter(|c| c.change == doorman_audit::diff::ChangeKind::DeliveryLost)
        .map(|c| (c.summary.as_str(), c.sender.as_str()))
        .collect();
    // The side doors the audit of the old config found, class for class.
    let before = run(BEFORE);
    let mut side: Vec<(String, String)> = Vec::new();
    for door in &before.tenants[0].side_doors {
        side.push((door.summary.clone(), door.sender.clone()));
    }
    let mut lost_joined: Vec<(String, String)> = lost.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    lost_joined.sort();
    lost_joined.dedup();
    side.sort();
    assert_eq!(lost_joined, side);
    // What the connector opens is the gateway's own direct send (a connector matched by IP
    // exempts it), nothing from elsewhere.
    for c in t.changes.iter().filter(|c| c.change == doorman_audit::diff::ChangeKind::DeliveryGained) {
        assert_eq!(
            (c.summary.as_str(), c.sender.as_str()),
            ("80.66.20.0/28", "sender in own domain contoso.com (direct send)")
        );
    }
    // The gateway's own mail now comes through the connector.
    assert!(
        t.changes
            .iter()
            .any(|c| c.change == doorman_audit::diff::ChangeKind::ConnectorChanged && c.summary == "80.66.20.0/28")
    );
    // And the other way round, the change opens the side door again.
    assert!(doorman_audit::diff::diff(&new, &old).gains_access());
}

#[test]
fn rules_that_never_match_and_shadowed_connectors_are_found() {
    let toml = format!(
        r#"{BEFORE}{CONNECTOR}
[[tenants.inbound_connectors]]
name = "Second gateway connector"
type = "partner"
sender_domains = ["*"]
sender_ip_addresses = ["80.66.20.0/28"]
restrict_domains_to_ip_addresses = true

[[tenants.transport_rules]]
name = "Impossible"
conditions.sender_ip_ranges = ["10.0.0.0/8"]
conditions.inbound_connector = ["Inbound only from Antispamrelay"]
actions.set_scl = 5
"#
    );
    let a = run(&toml);
    let t = &a.tenants[0];
    assert_eq!(t.verdict, Verdict::Locked);
    let f = |code: &str| t.findings.iter().find(|f| f.code == code).map(|f| f.message.clone());
    assert!(f("rule_never_matches").unwrap().contains("\"Impossible\""));
    assert!(f("connector_shadowed").unwrap().contains("\"Second gateway connector\""));
    // Refused classes are kept, with their reply.
    assert!(
        t.refused
            .iter()
            .any(|r| r.summary == "all IPv4 except 80.66.20.0/28; all IPv6" && r.reply.starts_with("550 5.7.51 "))
    );
}
