//! For any export in PowerShell's shapes, with any names and any values in the fields doorman
//! reads: the import loads as a doorman config, the audit runs on it, and the PowerShell it
//! prints is comments and single-quoted literals only. `DOORMAN_EXPORT_CASES` sets how many
//! exports are tried (default 96), `DOORMAN_EXPORT_SEED` another seed (CI's is fixed).

mod support;

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

/// Names with what breaks quoting: quotes of every kind, `$`, backticks, line breaks.
fn name() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("a".to_string()),
            Just(" ".to_string()),
            Just("'".to_string()),
            Just("\u{2019}".to_string()),
            Just("\u{201B}".to_string()),
            Just("\"".to_string()),
            Just("`".to_string()),
            Just("$(whoami)".to_string()),
            Just("\n".to_string()),
            Just("\r".to_string()),
            Just("\u{2028}".to_string()),
            Just("#".to_string()),
            Just("]]".to_string()),
            Just("ü".to_string()),
        ],
        1..6,
    )
    .prop_map(|parts| format!("n{}", parts.concat()))
}

/// A value as PowerShell may write it: a bare value, a list, null, or something unreadable.
fn shaped(good: Vec<&'static str>) -> impl Strategy<Value = Value> {
    let items = proptest::sample::subsequence(good.clone(), 0..=good.len());
    prop_oneof![
        items.clone().prop_map(|v| json!(v)),
        proptest::sample::select(good).prop_map(|v| json!(v)),
        Just(Value::Null),
        Just(json!(["not an entry!", 7])),
        Just(json!({"value": "80.66.20.0/28"})),
    ]
}

fn boolish() -> impl Strategy<Value = Value> {
    prop_oneof![Just(json!(true)), Just(json!(false)), Just(json!("True")), Just(json!(1)), Just(Value::Null)]
}

fn connector() -> impl Strategy<Value = Value> {
    (
        name(),
        prop_oneof![Just(json!(1)), Just(json!(2)), Just(json!("Partner")), Just(json!("OnPremises")), Just(json!(9))],
        boolish(),
        shaped(vec!["smtp:*;1", "smtp:partner.example;1", "*.contoso.com", "bad domain"]),
        shaped(vec!["80.66.20.0/28", "2001:db8::/48", "198.51.100.1-198.51.100.9", "nope"]),
        prop_oneof![
            Just(json!("mail.gateway.example")),
            Just(json!("*.gw.example")),
            Just(json!("bad name!")),
            Just(Value::Null)
        ],
        (boolish(), boolish(), boolish()),
        shaped(vec!["contoso.com"]),
    )
        .prop_map(|(name, kind, enabled, domains, ips, cert, (rip, rcert, tls), scoped)| {
            json!({"Name": name, "ConnectorType": kind, "Enabled": enabled, "SenderDomains": domains,
                   "SenderIPAddresses": ips, "TlsSenderCertificateName": cert,
                   "RestrictDomainsToIPAddresses": rip, "RestrictDomainsToCertificate": rcert, "RequireTls": tls,
                   "AssociatedAcceptedDomains": scoped, "WhenChanged": "/Date(1717200000000)/"})
        })
}

fn rule() -> impl Strategy<Value = Value> {
    let fields: Vec<(&'static str, Value)> = vec![
        ("SenderIpRanges", json!(["80.66.20.0/28", "x"])),
        ("ExceptIfSenderIpRanges", json!("80.66.20.0/28")),
        ("SenderDomainIs", json!(["partner.example"])),
        ("ExceptIfSenderDomainIs", json!(["bad domain"])),
        ("FromScope", json!(1)),
        ("ExceptIfFromScope", json!("InOrganization")),
        ("SenderAddressLocation", json!(2)),
        ("HeaderContainsMessageHeader", json!("Subject")),
        ("HeaderContainsWords", json!(["invoice"])),
        ("SubjectContainsWords", json!(["hello"])),
        ("ActivationDate", json!("/Date(1767225600000)/")),
        ("SetSCL", json!(-1)),
        ("SetSCL", json!("high")),
        ("SetHeaderName", json!("X-Tag")),
        ("SetHeaderValue", json!("v")),
        ("RejectMessageEnhancedStatusCode", json!("5.7.1")),
        ("RejectMessageEnhancedStatusCode", json!("4.7.1")),
        ("DeleteMessage", json!(true)),
        ("Quarantine", json!("True")),
        ("RedirectMessageTo", json!(["review@contoso.com", "not an address"])),
        ("PrependSubject", json!("[EXT] ")),
        ("ApplyHtmlDisclaimerText", json!("<p>x</p>")),
        ("BlindCopyTo", json!("audit@contoso.com")),
        ("StopRuleProcessing", json!(true)),
        ("State", json!(1)),
        ("State", json!(2)),
        ("State", json!("Paused")),
        ("Mode", json!(0)),
        ("Mode", json!(7)),
        ("FromScope", json!(2)),
        ("SenderAddressLocation", json!({"x": 1})),
        ("Priority", json!(-3)),
        ("Priority", json!(2)),
        ("Priority", json!(99_999_999_999u64)),
        ("Priority", json!("first")),
        ("HeaderContainsMessageHeader", json!({"Value": "X-Spam"})),
        ("ExceptIfHeaderContainsMessageHeader", json!("Subject")),
        ("ExceptIfHeaderContainsWords", json!(["ok", {}])),
        ("SetSCL", json!(5)),
        ("SetSCL", json!({"Value": -1})),
    ];
    (name(), proptest::sample::subsequence(fields.clone(), 0..=8)).prop_map(|(name, picked)| {
        let mut r = json!({"Name": name});
        for (k, v) in picked {
            r[k] = v;
        }
        r
    })
}

/// A list, or PowerShell's bare value for one element, or null.
fn powershell_list(items: Vec<Value>, bare: bool) -> Value {
    match (items.len(), bare) {
        (1, true) => items.into_iter().next().unwrap(),
        (0, true) => Value::Null,
        _ => Value::Array(items),
    }
}

fn export() -> impl Strategy<Value = Value> {
    (
        name(),
        proptest::collection::vec(connector(), 0..4),
        proptest::collection::vec(rule(), 0..5),
        any::<bool>(),
        proptest::sample::subsequence(vec!["org_config", "conn_filter", "transport_rule", "inbound_connectors"], 0..=1),
        shaped(vec!["203.0.113.5", "10.0.0.0/8", "2001:db8::1"]),
        boolish(),
        proptest::sample::subsequence(vec!["Contoso.com.", "bad domain!", "fabrikam.com", "contoso.com"], 0..=4),
    )
        .prop_map(|(org, connectors, rules, bare, drop, allow, reject, more_domains)| {
            let mut domains = vec![json!({"DomainName": "contoso.com", "DomainType": 0, "Default": true})];
            domains.extend(more_domains.into_iter().map(|d| json!({"DomainName": d, "DomainType": 2})));
            let mut v = json!({
                "accepted_domains": powershell_list(domains, bare),
                "org_config": {"Name": format!("{org}.onmicrosoft.com"), "RejectDirectSend": reject},
                "conn_filter": {"Name": "Default", "IsDefault": true, "IPAllowList": allow, "IPBlockList": ["192.0.2.0/24"]},
                "inbound_connectors": powershell_list(connectors, bare),
                "transport_rule": powershell_list(rules, bare),
            });
            for key in drop {
                v.as_object_mut().unwrap().remove(key);
            }
            v
        })
}

/// The `Name`s of a list PowerShell wrote, bare or not.
fn names_in(list: &Value) -> Vec<&str> {
    let items: Vec<&Value> = list.as_array().map(|a| a.iter().collect()).unwrap_or_else(|| vec![list]);
    items.into_iter().filter_map(|i| i["Name"].as_str()).collect()
}

#[test]
fn any_export_imports_loads_audits_and_gives_safe_powershell() {
    let cases = std::env::var("DOORMAN_EXPORT_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(96);
    let seed = std::env::var("DOORMAN_EXPORT_SEED").ok().and_then(|n| n.parse().ok()).unwrap_or(0x0e_c5_0e);
    let dir = std::env::temp_dir().join(format!("doorman-exo-any-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ProviderSettingsExport.json");
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(seed),
        ..Config::default()
    });
    runner
        .run(&export(), |v| {
            std::fs::write(&path, format!("\u{feff}{v}")).unwrap();
            let export = doorman_exo::read(&path).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let imp = doorman_exo::import(&export, &["mx.gateway.example".into()]);
            let loaded = doorman_config::load_str("imported.toml", &imp.toml, Path::new("."))
                .map_err(|d| TestCaseError::fail(format!("{d}\n{}", imp.toml)))?;
            // Names come back exactly.
            let t = &loaded.config.tenants[0];
            let connectors = names_in(&v["inbound_connectors"]);
            for c in &t.inbound_connectors {
                prop_assert!(connectors.contains(&c.name.as_str()), "{:?} not among {connectors:?}", c.name);
            }
            let rules = names_in(&v["transport_rule"]);
            for r in &t.transport_rules {
                prop_assert!(rules.contains(&r.name.as_str()), "{:?} not among {rules:?}", r.name);
                // Two rules of one name: the notes cannot tell them apart (the second is
                // commented out, and the export counts as incomplete).
                if rules.iter().filter(|n| n.to_lowercase() == r.name.to_lowercase()).count() > 1 {
                    continue;
                }
                // The soundness of the import: a rule that can hold back mail is never applied
                // more widely than in Exchange Online.
                let a = &r.actions;
                let holds_back = a.reject.is_some()
                    || a.delete
                    || a.quarantine
                    || !a.redirect_to.is_empty()
                    || a.set_scl.is_some_and(|s| s.0 >= 0)
                    || r.stop_processing;
                let widened = format!("rule {:?}: imported without", r.name);
                prop_assert!(
                    !holds_back || !imp.notes.iter().any(|n| n.what.starts_with(&widened)),
                    "{:?} holds mail back and was widened:\n{}",
                    r.name,
                    imp.toml
                );
            }
            let audit = doorman_audit::audit(&doorman_policy::Policy::new(loaded.config))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let judged = doorman_exo::report::judge(&imp, audit);
            let text = judged.text();
            let script = text.split_once("\nPowerShell").map(|(_, s)| s).unwrap_or_default();
            let script = script.split_once('\n').map(|(_, s)| s).unwrap_or_default();
            support::tokenize_script(script).map_err(|e| TestCaseError::fail(format!("{e}\n{script}")))?;
            // A command shown but not to be run leaves nothing to run.
            if !imp.missing.is_empty() {
                prop_assert!(support::commands(script).is_empty(), "{script}");
            }
            serde_json::to_string(&judged.json()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            Ok(())
        })
        .unwrap();
}
