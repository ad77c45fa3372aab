//! Names from the tenant reach a shell and a config file. Whatever they hold, the PowerShell
//! fix is single-quoted literals and comments only, the TOML is serialized, and both give the
//! names back exactly.

mod support;

use std::path::Path;

use serde_json::json;
use support::Token;

const HOSTILE: [&str; 8] = [
    "Gateway \"quoted\"",
    "it's O'Brien's",
    "back`tick`n and `$(x)",
    "$(whoami) and $env:USERNAME and @(1)",
    "line one\nRemove-Mailbox -Identity 'x' -Confirm:$false",
    "Größe ‘typographic’ ’quotes‚ ‛ ☃",
    "x'; Remove-Mailbox *; '",
    "carriage\rreturn\u{2028}separator\u{85}",
];

fn export_named(tenant: &str, connector: &str, rule: &str) -> serde_json::Value {
    json!({
        "accepted_domains": [{"DomainName": "contoso.com", "DomainType": 0, "Default": true}],
        "org_config": [{"Name": format!("{tenant}.onmicrosoft.com"), "RejectDirectSend": false}],
        "conn_filter": [{"Name": "Default", "IsDefault": true, "IPAllowList": [], "IPBlockList": []}],
        // A Partner connector for every domain, with the gateway's IPs but no restriction.
        "inbound_connectors": [{"Name": connector, "ConnectorType": 2, "Enabled": true, "SenderDomains": "smtp:*;1",
            "SenderIPAddresses": ["80.66.20.0/28"], "RestrictDomainsToIPAddresses": false}],
        // SCL -1 keyed on a forgeable sender domain.
        "transport_rule": [{"Name": rule, "State": "Enabled", "Mode": "Enforce", "SenderDomainIs": ["partner.example"],
            "SenderAddressLocation": "Envelope", "SetSCL": -1}]
    })
}

fn literals_after(tokens: &[Token], param: &str) -> Vec<String> {
    let at = tokens.iter().position(|t| *t == Token::Param(param.into())).expect(param);
    tokens[at + 1..]
        .iter()
        .take_while(|t| !matches!(t, Token::Param(_)))
        .filter_map(|t| if let Token::Literal(s) = t { Some(s.clone()) } else { None })
        .collect()
}

#[test]
fn hostile_names_stay_literal_in_powershell_and_exact_in_toml() {
    let dir = std::env::temp_dir().join(format!("doorman-exo-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in HOSTILE {
        let (connector, rule) = (format!("C {name}"), format!("R {name}"));
        let path = dir.join("ProviderSettingsExport.json");
        std::fs::write(&path, export_named(name, &connector, &rule).to_string()).unwrap();
        let imp = doorman_exo::import(&doorman_exo::read(&path).unwrap(), &["mx.gateway.example".into()]);

        // The TOML loads, and gives every name back as it was.
        let loaded = doorman_config::load_str("imported.toml", &imp.toml, Path::new("."))
            .unwrap_or_else(|d| panic!("{name:?}: {d}\n{}", imp.toml));
        let t = &loaded.config.tenants[0];
        assert_eq!(t.name, name);
        assert_eq!(t.inbound_connectors[0].name, connector);
        assert_eq!(t.transport_rules[0].name, rule);
        let doc: toml_edit::DocumentMut = imp.toml.parse().unwrap();
        assert_eq!(doc["tenants"][0]["name"].as_str(), Some(name), "the serializer, not glue");

        // The PowerShell: every line a comment or a command of literals, naming exactly them.
        let audit = doorman_audit::audit(&doorman_policy::Policy::new(loaded.config)).unwrap();
        let at = &audit.tenants[0];
        let commands = doorman_exo::powershell::fix(at);
        let script = doorman_exo::powershell::script(&at.tenant, &commands);
        let parsed = support::commands(&script);
        let cmdlets: Vec<&Token> = parsed.iter().map(|c| &c[0]).collect();
        assert_eq!(
            cmdlets,
            [
                &Token::Cmdlet("Set-InboundConnector".into()),
                &Token::Cmdlet("Set-OrganizationConfig".into()),
                &Token::Cmdlet("Set-TransportRule".into())
            ],
            "{script}"
        );
        assert_eq!(literals_after(&parsed[0], "Identity"), std::slice::from_ref(&connector), "{script}");
        assert_eq!(literals_after(&parsed[2], "Identity"), std::slice::from_ref(&rule), "{script}");
        // The audit's TOML fix for the connector: one comment line naming it, one key.
        let fix = &at.fixes[0];
        assert!(fix.toml.starts_with("# in the [[tenants.inbound_connectors]] named \"C "), "{}", fix.toml);
        assert_eq!(fix.toml.lines().count(), 2, "{}", fix.toml);
        let doc: toml_edit::DocumentMut = fix.toml.parse().unwrap();
        assert_eq!(doc.len(), 1);
        assert_eq!(doc["restrict_domains_to_ip_addresses"].as_bool(), Some(true));
        // --json gives the same command lines.
        let lines: Vec<String> = commands.iter().map(|c| c.json().command).collect();
        for (line, tokens) in lines.iter().zip(&parsed) {
            assert_eq!(&support::tokenize(line).unwrap(), tokens);
        }
    }
}

#[test]
fn the_checker_refuses_what_powershell_would_expand() {
    for bad in [
        "Set-InboundConnector -Identity \"x\"",
        "Set-InboundConnector -Identity x$(whoami)",
        "Set-InboundConnector -Identity 'a' ; Remove-Mailbox",
        "Set-InboundConnector -Identity $env:USERNAME",
        "Set-InboundConnector -Identity `x",
        "Set-InboundConnector -Identity 'unterminated",
    ] {
        assert!(support::tokenize(bad).is_err(), "{bad}");
    }
    assert_eq!(
        support::tokenize("Set-X -Identity 'it''s ‘‘q’’' -Flag $true").unwrap(),
        [
            Token::Cmdlet("Set-X".into()),
            Token::Param("Identity".into()),
            Token::Literal("it's ‘q’".into()),
            Token::Param("Flag".into()),
            Token::Constant("true".into())
        ]
    );
    assert_eq!(doorman_exo::powershell::literal("it's ‘q’"), "'it''s ‘‘q’’'");
}
