//! What administrators' tools export today, read and judged: ScubaGear's provider export, the
//! export folder, a lone connector file; the verdict on missing data; rules doorman cannot
//! fully model; and the PowerShell fix applied back to the export.

mod support;

use std::path::{Path, PathBuf};

use doorman_audit::{Outcome, Verdict};
use doorman_exo::{Import, NoteKind, Source, import, read};
use serde_json::{Value, json};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("doorman-exo-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const MX: &str = "mx.contoso-gateway.net";

fn imported(path: &Path) -> Import {
    import(&read(path).unwrap_or_else(|e| panic!("{e}")), &[MX.into()])
}

/// The import loaded and audited, judged on what the export holds.
fn judged(imp: &Import) -> doorman_exo::report::ExoAudit<'_> {
    let loaded = doorman_config::load_str("imported.toml", &imp.toml, Path::new("."))
        .unwrap_or_else(|d| panic!("{d}\n{}", imp.toml));
    let audit = doorman_audit::audit(&doorman_policy::Policy::new(loaded.config)).unwrap();
    doorman_exo::report::judge(imp, audit)
}

fn write_json(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let path = dir.join(name);
    // As PowerShell's Out-File -Encoding utf8 writes it: with a byte order mark.
    std::fs::write(&path, format!("\u{feff}{}", serde_json::to_string_pretty(v).unwrap())).unwrap();
    path
}

fn scubagear_fixture() -> Value {
    let text = std::fs::read_to_string(fixture("scubagear-partner/ProviderSettingsExport.json")).unwrap();
    serde_json::from_str(text.trim_start_matches('\u{feff}')).unwrap()
}

#[test]
fn scubagear_accepted_domains_and_inbound_connectors_are_read_even_as_bare_objects() {
    let export = read(&fixture("scubagear-partner/ProviderSettingsExport.json")).unwrap();
    assert_eq!(export.source, Source::Scubagear);
    assert_eq!(export.tenant, "contoso", "org_config.Name without .onmicrosoft.com, not the folder's name");
    assert_eq!(export.inbound_connectors.as_ref().map(Vec::len), Some(1), "a bare object is one connector");
    assert_eq!(export.accepted_domains.as_ref().map(Vec::len), Some(1));
    assert!(!export.domains_from_spf_records);
    let imp = import(&export, &[MX.into()]);
    let loaded = doorman_config::load_str("imported.toml", &imp.toml, Path::new(".")).unwrap();
    let t = &loaded.config.tenants[0];
    assert_eq!(t.name, "contoso");
    let domains: Vec<&str> = t.accepted_domains.iter().map(|d| d.domain.as_str()).collect();
    assert_eq!(domains, ["contoso.com"], "spf_records' other domain is not an accepted domain");
    assert_eq!(t.inbound_connectors[0].name, "Partner TLS");
    assert_eq!(t.inbound_connectors[0].sender_domains[0].to_string(), "partner.example");
    assert!(imp.missing.is_empty(), "{:?}", imp.missing);
    assert!(!imp.notes.iter().any(|n| n.what.contains("no inbound connectors")));
    let judged = judged(&imp);
    assert!(judged.audit.tenants[0].evaluations > 0, "classes were audited");
}

/// The done-when: a Partner connector that restricts nothing and an MX elsewhere is a side
/// door; the PowerShell closes it; applied to the export, the tenant is LOCKED.
#[test]
fn the_scubagear_side_door_and_its_fix_applied_to_the_export_is_locked() {
    let imp = imported(&fixture("scubagear-partner/ProviderSettingsExport.json"));
    let before = judged(&imp);
    let t = &before.audit.tenants[0];
    assert_eq!(t.verdict, Verdict::SideDoorOpen);
    assert_eq!(before.outcome(), Outcome::Findings);
    let script = doorman_exo::powershell::script(&t.tenant, &before.powershell[0]);
    assert!(
        script.contains(
            "New-InboundConnector -Name 'Inbound only from the gateway' -ConnectorType 'Partner' -SenderDomains '*' -RestrictDomainsToIPAddresses $true -SenderIPAddresses '80.66.20.0/28' -RequireTls $true"
        ),
        "{script}"
    );
    assert!(script.contains("\nSet-OrganizationConfig -RejectDirectSend $true\n"), "{script}");
    assert!(before.text().contains("SIDE DOOR OPEN"));

    let mut export = scubagear_fixture();
    for command in support::commands(&script) {
        support::apply(&mut export, &command);
    }
    let dir = scratch("scubagear-fixed");
    let fixed = write_json(&dir, "ProviderSettingsExport.json", &export);
    let imp = imported(&fixed);
    let after = judged(&imp);
    let t = &after.audit.tenants[0];
    assert_eq!(t.verdict, Verdict::Locked, "{:#?}", t.side_doors.first().map(|d| &d.summary));
    assert_eq!(after.outcome(), Outcome::Clean, "{:#?}", t.findings);
    assert!(after.text().contains("LOCKED"));
    assert!(doorman_exo::powershell::fix(t).is_empty());
}

#[test]
fn an_export_without_connectors_is_incomplete_never_side_door_open() {
    let mut export = scubagear_fixture();
    export.as_object_mut().unwrap().remove("inbound_connectors");
    let dir = scratch("no-connectors");
    let imp = imported(&write_json(&dir, "ProviderSettingsExport.json", &export));
    let j = judged(&imp);
    let t = &j.audit.tenants[0];
    assert_eq!(t.verdict, Verdict::Incomplete);
    assert_eq!(t.verdict_on_the_data, Some(Verdict::SideDoorOpen));
    assert_eq!(j.outcome(), Outcome::Incomplete);
    assert_eq!(t.missing_input[0].what, "inbound connectors");
    assert!(t.missing_input[0].remedy.starts_with("Get-InboundConnector | ConvertTo-Json"));
    let text = j.text();
    assert!(text.contains("INCOMPLETE (on the data given: SIDE DOOR OPEN)"), "{text}");
    assert!(!text.contains("  SIDE DOOR OPEN"), "never stated as certain: {text}");
    assert!(text.contains("SIDE DOOR (on the data given)"), "{text}");
    assert!(text.contains("to complete it: Get-InboundConnector"), "{text}");

    // A cmdlet ScubaGear could not run is missing too, even with an empty list written.
    let mut export = scubagear_fixture();
    export["inbound_connectors"] = json!([]);
    export["exo_unsuccessful_commands"] = json!(["Get-InboundConnector"]);
    let imp = imported(&write_json(&dir, "ProviderSettingsExport.json", &export));
    assert_eq!(imp.missing[0].what, "inbound connectors");

    // null is not "none".
    let mut export = scubagear_fixture();
    export["inbound_connectors"] = Value::Null;
    let imp = imported(&write_json(&dir, "ProviderSettingsExport.json", &export));
    assert_eq!(judged(&imp).audit.tenants[0].verdict, Verdict::Incomplete);
}

#[test]
fn a_locked_tenant_with_missing_parts_is_incomplete_never_locked() {
    let mut export = scubagear_fixture();
    export["inbound_connectors"] = json!([{
        "Name": "Inbound only from the gateway", "ConnectorType": "Partner", "Enabled": true,
        "SenderDomains": ["smtp:*;1"], "SenderIPAddresses": ["80.66.20.0/28"],
        "RestrictDomainsToIPAddresses": true, "RequireTls": true
    }]);
    export["org_config"]["RejectDirectSend"] = json!(true);
    let dir = scratch("locked-but");
    let imp = imported(&write_json(&dir, "ProviderSettingsExport.json", &export));
    assert_eq!(judged(&imp).audit.tenants[0].verdict, Verdict::Locked, "complete, it is locked");
    for (key, what) in [
        ("transport_rule", "transport rules"),
        ("conn_filter", "connection filter policy"),
        ("org_config", "organization config"),
    ] {
        let mut partial = export.clone();
        partial.as_object_mut().unwrap().remove(key);
        let imp = imported(&write_json(&dir, "ProviderSettingsExport.json", &partial));
        let j = judged(&imp);
        let t = &j.audit.tenants[0];
        assert_eq!(t.verdict, Verdict::Incomplete, "without {key}");
        assert_eq!(t.verdict_on_the_data, Some(Verdict::Locked));
        assert!(t.missing_input.iter().any(|m| m.what == what), "{:?}", t.missing_input);
        assert_eq!(j.outcome(), Outcome::Incomplete);
    }
    // ScubaGear's own org_config selects properties without RejectDirectSend.
    let mut scuba = export.clone();
    scuba["org_config"] =
        json!([{"Name": "contoso.onmicrosoft.com", "DisplayName": "Contoso", "AuditDisabled": false}]);
    let imp = imported(&write_json(&dir, "ProviderSettingsExport.json", &scuba));
    let t = &judged(&imp).audit.tenants[0];
    assert_eq!(t.verdict, Verdict::Incomplete);
    assert!(t.missing_input[0].what.starts_with("RejectDirectSend"), "{:?}", t.missing_input);
    assert!(t.missing_input[0].remedy.starts_with("Get-OrganizationConfig"));
}

#[test]
fn without_accepted_domains_nothing_is_judged_and_spf_records_are_only_a_fallback() {
    let mut export = scubagear_fixture();
    let obj = export.as_object_mut().unwrap();
    obj.remove("accepted_domains");
    obj.remove("spf_records");
    let dir = scratch("no-domains");
    let imp = imported(&write_json(&dir, "ProviderSettingsExport.json", &export));
    let j = judged(&imp);
    assert_eq!(j.audit.tenants[0].verdict, Verdict::NotAudited);
    assert_eq!(j.outcome(), Outcome::Incomplete);
    assert!(j.audit.tenants[0].missing_input[0].remedy.starts_with("Get-AcceptedDomain"));

    // The older shape: no accepted_domains, the domains in spf_records.
    let imp = imported(&fixture("scubagear/ProviderSettingsExport.json"));
    assert!(imp.missing.iter().any(|m| m.what.starts_with("accepted domains (taken from ScubaGear's spf_records")));
    assert!(imp.missing.iter().any(|m| m.what == "inbound connectors"));
    let j = judged(&imp);
    assert_eq!(j.audit.tenants[0].verdict, Verdict::Incomplete);
    assert_eq!(j.audit.tenants[0].tenant, "contoso");
}

#[test]
fn a_lone_connector_file_is_read_and_names_its_organisation() {
    let imp = imported(&fixture("connector-file/InboundConnector.json"));
    assert_eq!(imp.source, Source::ConnectorFile);
    assert_eq!(imp.tenant, "contoso", "from the connector's OrganizationId");
    let loaded = doorman_config::load_str("imported.toml", &imp.toml, Path::new(".")).unwrap();
    assert!(loaded.config.tenants[0].inbound_connectors[0].restrict_domains_to_ip_addresses);
    let j = judged(&imp);
    assert_eq!(j.audit.tenants[0].verdict, Verdict::NotAudited, "no accepted domain is known");
    assert_eq!(j.outcome(), Outcome::Incomplete);
    let whats: Vec<&str> = imp.missing.iter().map(|m| m.what.as_str()).collect();
    assert_eq!(
        whats,
        ["accepted domains", "transport rules", "connection filter policy", "organization config"],
        "the connectors are there"
    );
}

#[test]
fn an_export_folder_reads_empty_files_as_none_and_missing_files_as_gaps() {
    let dir = scratch("folder");
    let src = fixture("contoso-after");
    for f in
        ["AcceptedDomain.json", "HostedConnectionFilterPolicy.json", "InboundConnector.json", "OrganizationConfig.json"]
    {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    // Get-TransportRule with no rule: ConvertTo-Json writes nothing but the byte order mark.
    std::fs::write(dir.join("TransportRule.json"), "\u{feff}").unwrap();
    let imp = imported(&dir);
    assert_eq!(imp.source, Source::ExportFolder);
    assert!(imp.missing.is_empty(), "{:?}", imp.missing);
    std::fs::remove_file(dir.join("TransportRule.json")).unwrap();
    let imp = imported(&dir);
    assert_eq!(imp.missing.iter().map(|m| m.what.as_str()).collect::<Vec<_>>(), ["transport rules"]);
}

#[test]
fn rules_doorman_cannot_fully_model_never_break_the_import() {
    let mut export = scubagear_fixture();
    export["transport_rule"] = json!([
        // Only a disclaimer: nothing doorman models.
        {"Name": "External disclaimer", "State": "Enabled", "Mode": "Enforce", "Priority": 0,
         "FromScope": "NotInOrganization", "ApplyHtmlDisclaimerText": "<p>External</p>",
         "ApplyHtmlDisclaimerLocation": "Append", "ApplyHtmlDisclaimerFallbackAction": "Wrap"},
        // A modelled action and an unmodelled one.
        {"Name": "Tag and copy", "State": "Enabled", "Priority": 1, "SenderIpRanges": ["80.66.20.0/28"],
         "SetSCL": -1, "BlindCopyTo": ["audit@contoso.com"]},
        // A reject on a condition doorman cannot read: applied without it, it would refuse too much.
        {"Name": "Reject big attachments", "State": "Enabled", "Priority": 2, "AttachmentSizeOver": "10 MB (10,485,760 bytes)",
         "RejectMessageEnhancedStatusCode": "5.7.1", "RejectMessageReasonText": "Too big"},
        // SCL -1 on a condition doorman cannot read: it matches more in doorman, which is noted.
        {"Name": "Subject words", "State": "Enabled", "Priority": 3, "SubjectContainsWords": ["hello"], "SetSCL": -1},
        // A rule that stops processing and cannot be modelled leaves the picture incomplete.
        {"Name": "Stop here", "State": "Enabled", "Priority": 4, "ApplyClassification": "Internal", "StopRuleProcessing": true}
    ]);
    let dir = scratch("rules");
    let imp = imported(&write_json(&dir, "ProviderSettingsExport.json", &export));
    let loaded = doorman_config::load_str("imported.toml", &imp.toml, Path::new("."))
        .unwrap_or_else(|d| panic!("{d}\n{}", imp.toml));
    let rules: Vec<&str> = loaded.config.tenants[0].transport_rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(rules, ["Tag and copy", "Subject words"]);
    let has = |kind: NoteKind, part: &str| imp.notes.iter().any(|n| n.kind == kind && n.what.contains(part));
    assert!(has(
        NoteKind::Unsupported,
        "rule \"External disclaimer\": none of its actions is modelled; written commented out"
    ));
    assert!(has(NoteKind::Unsupported, "rule \"External disclaimer\": action ApplyHtmlDisclaimerText"));
    assert!(has(NoteKind::Unsupported, "rule \"Tag and copy\": action BlindCopyTo"));
    assert!(has(
        NoteKind::Unsupported,
        "rule \"Reject big attachments\": without its AttachmentSizeOver it would refuse"
    ));
    assert!(has(NoteKind::Assumption, "rule \"Subject words\": imported without its SubjectContainsWords"));
    assert!(imp.toml.contains("\n# [[tenants.transport_rules]]\n# name = \"External disclaimer\"\n"), "{}", imp.toml);
    assert!(imp.toml.contains("\n# name = \"Reject big attachments\"\n"), "{}", imp.toml);
    assert_eq!(imp.missing.len(), 1, "{:?}", imp.missing);
    assert_eq!(imp.missing[0].what, "the effect of rule \"Stop here\"");
}
