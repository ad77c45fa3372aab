//! Exports in PowerShell's real shapes, imported and audited.

use std::path::Path;

use doorman_exo::{NoteKind, import, read_dir};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

#[test]
fn the_seed_tenant_before_the_fix_imports_and_shows_its_side_door() {
    let export = read_dir(&fixture("contoso-before")).unwrap();
    assert_eq!(export.tenant, "contoso-before");
    let imported = import(&export, &["mx.contoso-gateway.net".into()]);
    let loaded = doorman_config::load_str("imported.toml", &imported.toml, Path::new("."))
        .unwrap_or_else(|d| panic!("{d}\n{}", imported.toml));
    let t = &loaded.config.tenants[0];
    assert!(t.reject_direct_send, "RejectDirectSend from OrganizationConfig");
    assert_eq!(t.accepted_domains[0].domain.as_str(), "contoso.com");
    assert_eq!(t.connection_filter.ip_allow_list.len(), 1, "a one-element list written as a bare value");
    assert_eq!(t.connection_filter.ip_block_list.len(), 3);
    let c = &t.inbound_connectors[0];
    assert!(!c.enabled);
    assert_eq!(c.sender_domains[0].to_string(), "contoso.com", "smtp:contoso.com;1");
    assert!(!c.restrict_domains_to_ip_addresses, "restrict flags only work on Partner connectors");
    assert!(!c.require_tls, "null is not true");
    assert_eq!(t.transport_rules.len(), 2);
    assert!(!t.transport_rules[1].enabled);

    let notes: Vec<(NoteKind, &str)> = imported.notes.iter().map(|n| (n.kind, n.what.as_str())).collect();
    let has = |kind: NoteKind, part: &str| notes.iter().any(|(k, w)| *k == kind && w.contains(part));
    assert!(
        has(NoteKind::ExoLimit, "IPBlockList entry 203.0.113.0/16: Exchange Online takes CIDRs from /24 to /32 only"),
        "{notes:#?}"
    );
    assert!(has(NoteKind::ExoLimit, "IPBlockList entry 2001:db8::/32: Exchange Online's IP lists take IPv4 only"));
    assert!(has(NoteKind::Semantics, "restrict flags work only on Partner connectors"));
    assert!(has(NoteKind::Semantics, "\"Old on-premises connector\" is disabled (changed unix 1690000000)"));
    assert!(has(NoteKind::Semantics, "still filters malware and high-confidence phish"));
    assert!(has(NoteKind::Unsupported, "ApplyHtmlDisclaimerText"), "whatever is not understood is listed");
    assert!(has(NoteKind::Unsupported, "DirectoryBasedEdgeBlockMode"));
    assert!(has(NoteKind::Assumption, "postmaster@"));

    let audit = doorman_audit::audit(&doorman_policy::Policy::new(loaded.config)).unwrap();
    assert_eq!(audit.tenants[0].verdict, doorman_audit::Verdict::SideDoorOpen);
    assert!(audit.tenants[0].side_doors.iter().any(|d| d.summary.starts_with("all IPv4 except")));
}

#[test]
fn exchange_online_as_the_mx_is_the_edge_itself() {
    let export = read_dir(&fixture("contoso-before")).unwrap();
    let imported = import(&export, &["contoso-com.mail.protection.outlook.com".into()]);
    assert!(imported.toml.contains("mx = [\"self\"]"), "{}", imported.toml);
}

#[test]
fn a_folder_without_export_files_is_a_clear_error() {
    let err = read_dir(&fixture("")).map(|_| ()).unwrap_err();
    assert!(err.contains("no export files (expected InboundConnector.json"), "{err}");
}

#[test]
fn the_powershell_fix_is_exactly_the_golden_script() {
    let script = doorman_exo::powershell::fix(&doorman_exo::powershell::Findings {
        tenant: "contoso",
        side_door: true,
        gateway: &["80.66.20.0/28".into(), "2001:db8:100::/48".into()],
        gateway_certificate: None,
        direct_send_open: true,
        scl_rules_on_sender_domain: &["Trust the partner".into()],
    });
    let golden = std::fs::read_to_string(fixture("../golden/contoso-fix.ps1")).unwrap();
    assert_eq!(script, golden);
}

#[test]
fn scubagear_provider_exports_are_read_too() {
    let export = doorman_exo::read(&fixture("scubagear/ProviderSettingsExport.json")).unwrap();
    assert_eq!(export.transport_rules.len(), 1, "a single rule written as a bare object");
    let imported = import(&export, &["mx.contoso-gateway.net".into()]);
    let loaded =
        doorman_config::load_str("imported.toml", &imported.toml, Path::new(".")).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(loaded.config.tenants[0].accepted_domains[0].domain.as_str(), "contoso.com");
    assert!(imported.notes.iter().any(|n| n.kind == NoteKind::Assumption && n.what.contains("no inbound connectors")));
    let audit = doorman_audit::audit(&doorman_policy::Policy::new(loaded.config)).unwrap();
    assert_eq!(audit.tenants[0].verdict, doorman_audit::Verdict::SideDoorOpen);
}

#[test]
fn the_seed_tenant_after_the_fix_is_locked() {
    let export = read_dir(&fixture("contoso-after")).unwrap();
    assert_eq!(export.inbound_connectors.len(), 2);
    let imported = import(&export, &["mx.contoso-gateway.net".into()]);
    let loaded =
        doorman_config::load_str("imported.toml", &imported.toml, Path::new(".")).unwrap_or_else(|d| panic!("{d}"));
    let audit = doorman_audit::audit(&doorman_policy::Policy::new(loaded.config)).unwrap();
    assert_eq!(
        audit.tenants[0].verdict,
        doorman_audit::Verdict::Locked,
        "{:#?}",
        audit.tenants[0].side_doors.first().map(|d| &d.summary)
    );
}

#[test]
fn every_rule_field_under_its_export_name() {
    let export = read_dir(&fixture("rules")).unwrap();
    let imported = import(&export, &[]);
    let loaded = doorman_config::load_str("imported.toml", &imported.toml, Path::new("."))
        .unwrap_or_else(|d| panic!("{d}\n{}", imported.toml));
    let rules = &loaded.config.tenants[0].transport_rules;
    let a = &rules[0];
    assert_eq!(a.mode, doorman_config::RuleMode::Audit);
    assert_eq!(a.priority, Some(3));
    assert_eq!(a.sender_address_location, doorman_config::SenderAddressLocation::HeaderOrEnvelope);
    assert_eq!(a.conditions.from_scope, Some(doorman_config::FromScope::NotInOrganization));
    assert_eq!(a.conditions.sender_domain_is[0].as_str(), "example.net");
    assert_eq!(a.conditions.header_contains[0].header, "Subject");
    assert_eq!(a.conditions.header_contains[0].words, ["invoice", "Rechnung"]);
    assert_eq!(a.exceptions.sender_ip_ranges[0].to_string(), "80.66.20.0-80.66.20.15");
    assert_eq!(a.exceptions.header_contains[0].words, ["scanned"]);
    assert_eq!(a.actions.set_header.as_ref().map(|h| (h.name.as_str(), h.value.as_str())), Some(("X-Tag", "external")));
    let reject = a.actions.reject.as_ref().unwrap();
    assert_eq!(
        (reject.enhanced_status_code.to_string().as_str(), reject.text.as_str()),
        ("5.7.1", "Invoices go to the portal")
    );
    assert!(a.stop_processing);
    let b = &rules[1];
    assert_eq!(b.exceptions.from_scope, Some(doorman_config::FromScope::InOrganization));
    assert!(b.actions.quarantine && !b.actions.delete);
    assert_eq!(b.actions.redirect_to[0].to_string(), "review@contoso.com");
    assert_eq!(b.actions.prepend_subject.as_deref(), Some("[EXT] "));
    assert!(imported.notes.iter().any(|n| n.kind == NoteKind::Semantics && n.what.contains("sends an NDR")));
    assert!(imported.notes.iter().any(|n| n.kind == NoteKind::Assumption && n.what.contains("no MX given")));
    assert!(!imported.notes.iter().any(|n| n.kind == NoteKind::Unsupported), "{:#?}", imported.notes);
}
