//! Exports in PowerShell's real shapes, imported and audited.

use std::path::Path;

use doorman_exo::{NoteKind, import, read_dir};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

#[test]
fn the_seed_tenant_before_the_fix_imports_and_shows_its_side_door() {
    let export = read_dir(&fixture("contoso-before")).unwrap();
    assert_eq!(export.tenant, "contoso", "named after the organisation, not the folder");
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
    assert!(err.to_string().contains("no export files (expected InboundConnector.json"), "{err}");
}

/// The field report's tenant with every finding PowerShell fixes: a gateway that also delivers over
/// IPv6, Direct Send open, and an SCL -1 rule keyed on a sender domain.
#[test]
fn the_powershell_fix_is_exactly_the_golden_script() {
    let dir = std::env::temp_dir().join(format!("doorman-exo-golden-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(fixture("contoso-before")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    let edit = |file: &str, f: &dyn Fn(&mut serde_json::Value)| {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut v: serde_json::Value = serde_json::from_str(text.trim_start_matches('\u{feff}')).unwrap();
        f(&mut v);
        std::fs::write(&path, v.to_string()).unwrap();
    };
    edit("OrganizationConfig.json", &|v| v["RejectDirectSend"] = false.into());
    edit("TransportRule.json", &|v| {
        v[0]["SenderIpRanges"] = serde_json::json!(["80.66.20.0/28", "2001:db8:100::/48"]);
        v[1]["State"] = "Enabled".into();
        v[1]["Mode"] = "Enforce".into();
        v[1]["SenderAddressLocation"] = "Envelope".into();
    });
    let export = read_dir(&dir).unwrap();
    let imported = import(&export, &["mx.contoso-gateway.net".into()]);
    let loaded = doorman_config::load_str("imported.toml", &imported.toml, Path::new(".")).unwrap();
    let audit = doorman_audit::audit(&doorman_policy::Policy::new(loaded.config)).unwrap();
    let t = &audit.tenants[0];
    let script = doorman_exo::powershell::script(&t.tenant, &doorman_exo::powershell::fix(t));
    let golden = fixture("../golden/contoso-fix.ps1");
    if std::env::var_os("DOORMAN_BLESS").is_some() {
        std::fs::write(&golden, &script).unwrap();
    }
    assert_eq!(script, std::fs::read_to_string(golden).unwrap());
}

#[test]
fn the_seed_tenant_after_the_fix_is_locked() {
    let export = read_dir(&fixture("contoso-after")).unwrap();
    assert_eq!(export.inbound_connectors.as_ref().map(Vec::len), Some(2));
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

/// `Get-InboundConnector`'s EFSkipIPs, EFSkipLastIP and EFTestMode become the connector's
/// `enhanced_filtering`; EFUsers, which doorman does not model, is a note. The audit names
/// the gateway connector that has none.
#[test]
fn enhanced_filtering_is_imported_and_its_absence_on_the_gateway_is_a_finding() {
    let export = read_dir(&fixture("enhanced-filtering")).unwrap();
    let imported = import(&export, &["mx.contoso-gateway.net".into()]);
    let loaded = doorman_config::load_str("imported.toml", &imported.toml, Path::new("."))
        .unwrap_or_else(|d| panic!("{d}\n{}", imported.toml));
    let c = &loaded.config.tenants[0].inbound_connectors;
    let ef = c[0].enhanced_filtering.as_ref().expect("EFSkipIPs");
    assert_eq!(ef.skip_ips.iter().map(|e| e.text.as_str()).collect::<Vec<_>>(), ["80.66.20.0/28", "10.1.2.3"]);
    assert!(!ef.skip_last_ip && ef.test_mode);
    let ef = c[1].enhanced_filtering.as_ref().expect("EFSkipLastIP");
    assert!(ef.skip_ips.is_empty() && ef.skip_last_ip && !ef.test_mode);
    assert!(c[2].enhanced_filtering.is_none());
    assert!(
        imported
            .notes
            .iter()
            .any(|n| n.kind == NoteKind::Unsupported && n.what.contains("EFUsers limits enhanced filtering")),
        "{:#?}",
        imported.notes
    );
    assert!(!imported.notes.iter().any(|n| n.what.contains("EFSkip")), "{:#?}", imported.notes);

    let mut config = loaded.config;
    config.tenants[0].mx = vec![doorman_config::MxHost {
        host: "mx.contoso-gateway.net".into(),
        addresses: vec![doorman_config::net::IpEntry::parse("80.66.20.0/28").unwrap()],
    }];
    let audit = doorman_audit::audit(&doorman_policy::Policy::new(config.clone())).unwrap();
    let found: Vec<(Option<&str>, doorman_audit::Severity)> = audit.tenants[0]
        .findings
        .iter()
        .filter(|f| f.code == doorman_audit::FindingCode::GatewayWithoutEnhancedFiltering)
        .map(|f| (f.subject.as_deref(), f.severity))
        .collect();
    // The import leaves doorman's own authentication off: a note for when it is on.
    assert_eq!(found, [(Some("No enhanced filtering"), doorman_audit::Severity::Info)]);
    config.server.authentication.enabled = true;
    let audit = doorman_audit::audit(&doorman_policy::Policy::new(config)).unwrap();
    let f = audit.tenants[0]
        .findings
        .iter()
        .find(|f| f.code == doorman_audit::FindingCode::GatewayWithoutEnhancedFiltering)
        .unwrap();
    assert_eq!(f.severity, doorman_audit::Severity::Warning);
    assert!(f.message.contains("SPF, DMARC and the DNS block lists judge the gateway"), "{}", f.message);
}
