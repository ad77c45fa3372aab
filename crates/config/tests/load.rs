//! Loading configs as an administrator writes them: every message names file, line, column
//! and key path.

use std::path::Path;

use doorman_config::{Severity, load_file, load_str};

fn errors(text: &str) -> Vec<String> {
    match load_str("doorman.toml", text, Path::new(".")) {
        Ok(l) => panic!("expected errors, loaded with warnings {:?}", l.warnings),
        Err(d) => d.errors().map(|e| e.to_string()).collect(),
    }
}

fn warnings(text: &str) -> Vec<String> {
    match load_str("doorman.toml", text, Path::new(".")) {
        Ok(l) => l.warnings.iter().map(|w| w.to_string()).collect(),
        Err(d) => panic!("expected a config that loads, got:\n{d}"),
    }
}

const TENANT: &str = r#"
[[tenants]]
name = "contoso"
mx = ["self"]
recipients = ["alice@contoso.com"]
routing = { type = "maildir", path = "mail" }
[[tenants.accepted_domains]]
domain = "contoso.com"
"#;

#[test]
fn the_shipped_example_loads_without_warnings() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/contoso.toml");
    let loaded = load_file(&path).expect("examples/contoso.toml loads");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let names: Vec<_> = loaded.config.tenants.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["contoso", "fabrikam"]);
}

#[test]
fn a_bad_network_names_file_line_column_and_key() {
    let text = format!(
        "{TENANT}\n[[tenants.inbound_connectors]]\nname = \"a\"\ntype = \"on_premises\"\nsender_ip_addresses = [\"10.0.0.1\"]\n\n\
         [[tenants.inbound_connectors]]\nname = \"b\"\ntype = \"partner\"\nsender_ip_addresses = [\"10.0.0.0/8\", \"10.1.0.0/16\", \"10.0.0.0/33\"]\n"
    );
    let line = text.lines().position(|l| l.contains("/33")).unwrap() + 1;
    let col = text.lines().nth(line - 1).unwrap().find("\"10.0.0.0/33").unwrap() + 1;
    assert_eq!(
        errors(&text),
        [format!(
            "doorman.toml:{line}:{col}: tenants[0].inbound_connectors[1].sender_ip_addresses[2]: \"10.0.0.0/33\" is not an IP network"
        )]
    );
}

#[test]
fn unknown_keys_are_errors() {
    let text = format!(
        "{TENANT}\n[[tenants.inbound_connectors]]\nname = \"a\"\ntype = \"partner\"\nrestrict_domains_to_ip = true\n"
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 1);
    let line = text.lines().position(|l| l.starts_with("restrict_domains_to_ip ")).unwrap() + 1;
    assert!(
        errs[0].starts_with(&format!(
            "doorman.toml:{line}:1: tenants[0].inbound_connectors[0].restrict_domains_to_ip: unknown field `restrict_domains_to_ip`, expected one of `name`, `type`"
        )),
        "{}",
        errs[0]
    );
}

#[test]
fn wrong_types_and_missing_fields() {
    let errs = errors("[[tenants]]\nname = 7\n");
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("doorman.toml:2:8: tenants[0].name: invalid type: integer `7`, expected a string"),
        "{}",
        errs[0]
    );

    let errs = errors(&format!("{TENANT}\n[[tenants.inbound_connectors]]\nname = \"x\"\n"));
    assert_eq!(errs.len(), 1);
    assert!(errs[0].contains("tenants[0].inbound_connectors[0]: missing field `type`"), "{}", errs[0]);
}

#[test]
fn value_errors_point_at_the_value() {
    let text = format!(
        "{TENANT}\n[[tenants.transport_rules]]\nname = \"r\"\n[tenants.transport_rules.actions]\nset_scl = 12\n"
    );
    let line = text.lines().position(|l| l.starts_with("set_scl")).unwrap() + 1;
    assert_eq!(
        errors(&text),
        [format!(
            "doorman.toml:{line}:11: tenants[0].transport_rules[0].actions.set_scl: SCL 12 is out of range: it runs from -1 to 9"
        )]
    );

    let text = format!(
        "{TENANT}\n[[tenants.transport_rules]]\nname = \"r\"\n[tenants.transport_rules.actions.reject]\nenhanced_status_code = \"4.7.1\"\n"
    );
    assert!(errors(&text)[0].ends_with(
        "actions.reject.enhanced_status_code: \"4.7.1\" is not a permanent failure: a reject code starts with 5"
    ));

    let text = "[[tenants]]\nname = \"t\"\n[[tenants.accepted_domains]]\ndomain = \"contoso..com\"\n";
    assert_eq!(
        errors(text),
        ["doorman.toml:4:10: tenants[0].accepted_domains[0].domain: \"contoso..com\" is not a valid domain name"]
    );

    let text = "[[tenants]]\nname = \"t\"\nrecipients = [\"alice@contoso.com\", \"bob\"]\n";
    let errs = errors(text);
    assert!(
        errs[0].starts_with("doorman.toml:3:36: tenants[0].recipients[1]: \"bob\" is not an email address"),
        "{}",
        errs[0]
    );

    let text = "[[tenants]]\nname = \"t\"\n[tenants.connection_filter]\nip_block_list = [{ ip = \"10.0.0.0/40\", name = \"bad\" }]\n";
    assert_eq!(
        errors(text),
        ["doorman.toml:4:25: tenants[0].connection_filter.ip_block_list[0].ip: \"10.0.0.0/40\" is not an IP network"]
    );
}

#[test]
fn toml_syntax_errors_have_a_position() {
    let errs = errors("[[tenants]]\nname = \"t\nfoo = 1\n");
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("doorman.toml:2:"), "{}", errs[0]);
}

/// A file that does not parse has no tree, yet each syntax error names the key it is in: the
/// table of the header above it, arrays of tables counted, and the key whose value it is in.
#[test]
fn toml_syntax_errors_name_the_key_they_are_in() {
    let text = "[[tenants]]\nname = \"a\"\n[[tenants]]\nname = \"b\"\n[[tenants.inbound_connectors]]\n\
                name = \"c\"\nsender_ip_addresses = [\n  \"192.0.2.1\",\n  \"x\" \"y\",\n]\n";
    let errs = errors(text);
    assert!(errs[0].starts_with("doorman.toml:9:"), "{errs:?}");
    assert!(errs[0].contains(": tenants[1].inbound_connectors[0].sender_ip_addresses: "), "{errs:?}");
    let errs = errors("= 1\n");
    assert!(errs[0].starts_with("doorman.toml:1:1: (top level): "), "{errs:?}");
    // A value's lines that look like a header or a key are the value's.
    let text = "[[tenants]]\nname = \"a\"\nrecipients = [\n[\"x\"],\n  \"k=v\",\n  \"a\" \"b\",\n]\n";
    let errs = errors(text);
    assert!(errs[0].starts_with("doorman.toml:6:"), "{errs:?}");
    assert!(errs[0].contains(": tenants[0].recipients: "), "{errs:?}");
    // Found by fuzzing: a quoted empty key was named as nothing.
    let errs = errors("\"\" = \"\" x\n");
    assert!(errs[0].starts_with("doorman.toml:1:9: \"\": "), "{errs:?}");
}

#[test]
fn a_domain_accepted_by_two_tenants() {
    let text = format!(
        "{TENANT}\n[[tenants]]\nname = \"other\"\nmx = [\"self\"]\n[[tenants.accepted_domains]]\ndomain = \"Contoso.com\"\n"
    );
    let line = text.lines().position(|l| l == "domain = \"Contoso.com\"").unwrap() + 1;
    assert_eq!(
        errors(&text),
        [format!(
            "doorman.toml:{line}:10: tenants[1].accepted_domains[0].domain: contoso.com is already an accepted domain of tenant \"contoso\": a domain can belong to one tenant only"
        )]
    );
}

#[test]
fn duplicate_connector_names() {
    let text = format!(
        "{TENANT}\n[[tenants.inbound_connectors]]\nname = \"GW\"\ntype = \"partner\"\n[[tenants.inbound_connectors]]\nname = \"gw\"\ntype = \"partner\"\n"
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].ends_with(
            "tenants[0].inbound_connectors[1].name: connector name \"gw\" is already used by inbound_connectors[0]"
        ),
        "{}",
        errs[0]
    );
}

#[test]
fn a_restriction_with_nothing_to_restrict_to() {
    let text = format!(
        "{TENANT}\n[[tenants.inbound_connectors]]\nname = \"gw\"\ntype = \"partner\"\nrestrict_domains_to_ip_addresses = true\nrestrict_domains_to_certificate = true\n"
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs[0]
            .contains("restrict_domains_to_ip_addresses: restricts to IP addresses, but sender_ip_addresses is empty")
    );
    assert!(errs[1].contains(
        "restrict_domains_to_certificate: restricts to a certificate, but tls_sender_certificate_name is not set"
    ));
}

#[test]
fn a_partner_connector_with_both_ips_and_a_certificate_warns() {
    let text = format!(
        "{TENANT}\n[[tenants.inbound_connectors]]\nname = \"gw\"\ntype = \"partner\"\nsender_ip_addresses = [\"80.66.20.0/28\"]\ntls_sender_certificate_name = \"mail.contoso-gateway.net\"\n"
    );
    let w = warnings(&text);
    assert_eq!(w.len(), 1);
    assert!(w[0].contains(": warning: tenants[0].inbound_connectors[0].tls_sender_certificate_name: a partner connector holds both IP addresses and a certificate name"));
}

#[test]
fn host_bits_warn_with_the_corrected_form() {
    let text = format!(
        "{TENANT}\n[[tenants.inbound_connectors]]\nname = \"gw\"\ntype = \"partner\"\nsender_ip_addresses = [\"80.66.20.12/28\"]\n"
    );
    let line = text.lines().position(|l| l.contains("80.66.20.12/28")).unwrap() + 1;
    assert_eq!(
        warnings(&text),
        [format!(
            "doorman.toml:{line}:24: warning: tenants[0].inbound_connectors[0].sender_ip_addresses[0]: \"80.66.20.12/28\" has host bits set; it means 80.66.20.0/28"
        )]
    );
}

#[test]
fn a_rule_naming_an_unknown_connector() {
    let text = format!(
        "{TENANT}\n[[tenants.transport_rules]]\nname = \"r\"\n[tenants.transport_rules.conditions]\ninbound_connector = [\"Nope\"]\n[tenants.transport_rules.actions]\nset_scl = -1\n"
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].ends_with("tenants[0].transport_rules[0].conditions.inbound_connector[0]: no inbound connector of this tenant is named \"Nope\""), "{}", errs[0]);
}

#[test]
fn an_empty_tenant_warns() {
    let w = warnings("[[tenants]]\nname = \"empty\"\nmx = [\"self\"]\n");
    assert_eq!(w.len(), 2, "{w:?}");
    assert_eq!(
        w[0],
        "doorman.toml:1:1: warning: tenants[0]: tenant \"empty\" has no accepted domain, so it receives no mail"
    );
    assert!(
        w[1].starts_with("doorman.toml:2:8: warning: tenants[0].name: tenant \"empty\" has no routing, so its mail is accepted and then waits in the queue"),
        "{w:?}"
    );
    let w = warnings(
        "[[tenants]]\nname = \"nobody\"\nmx = [\"self\"]\nrouting = { type = \"maildir\", path = \"m\" }\n\
         [[tenants.accepted_domains]]\ndomain = \"contoso.com\"\n",
    );
    assert_eq!(w.len(), 1);
    assert!(
        w[0].contains("the directory is empty, so every recipient of the authoritative domain contoso.com is rejected")
    );
}

#[test]
fn other_semantic_errors() {
    let on_prem = format!("{TENANT}\n[[tenants.inbound_connectors]]\nname = \"op\"\ntype = \"on_premises\"\n");
    assert!(
        errors(&on_prem)[0]
            .contains("an on_premises connector needs sender_ip_addresses or tls_sender_certificate_name")
    );
    let no_action = format!("{TENANT}\n[[tenants.transport_rules]]\nname = \"r\"\n[tenants.transport_rules.actions]\n");
    assert!(errors(&no_action)[0].ends_with("tenants[0].transport_rules[0].actions: the rule has no action"));
    let relay = format!(
        "{}\n[tenants.routing]\ntype = \"relay\"\n",
        TENANT.replace("routing = { type = \"maildir\", path = \"mail\" }\n", "")
    );
    assert!(
        errors(&relay)[0].ends_with("tenants[0].routing.next_hops: relay routing needs at least one next hop"),
        "{:?}",
        errors(&relay)
    );
}

#[test]
fn recipients_file_is_read_relative_to_the_config() {
    let dir = std::env::temp_dir().join(format!("doorman-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("users.txt"),
        "# contoso directory\nalice@contoso.com\n  Bob@Contoso.com  # sales\n\nnot-an-address\n",
    )
    .unwrap();
    let toml = "[[tenants]]\nname = \"t\"\nmx = [\"self\"]\nrecipients_file = \"users.txt\"\n[[tenants.accepted_domains]]\ndomain = \"contoso.com\"\n";
    std::fs::write(dir.join("doorman.toml"), toml).unwrap();
    let err = load_file(dir.join("doorman.toml")).unwrap_err();
    let errs: Vec<_> = err.errors().map(|e| e.to_string()).collect();
    let users = dir.join("users.txt").display().to_string();
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with(&format!(
            "{users}:5:1: tenants[0].recipients_file: \"not-an-address\" is not an email address"
        )),
        "{}",
        errs[0]
    );

    std::fs::write(dir.join("users.txt"), "alice@contoso.com\n  Bob@Contoso.com  # sales\n").unwrap();
    let loaded = load_file(dir.join("doorman.toml")).unwrap();
    let dir_entries: Vec<_> = loaded.config.tenants[0].directory().map(|m| m.directory_key()).collect();
    assert_eq!(dir_entries, ["alice@contoso.com", "bob@contoso.com"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unreadable_file_is_named() {
    let err = load_file("/nonexistent/doorman.toml").unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert_eq!(err.0[0].severity, Severity::Error);
    assert!(err.to_string().starts_with("/nonexistent/doorman.toml: cannot read the file:"));
}

#[test]
fn a_listener_address_twice_is_an_error_but_port_0_is_any_free_port() {
    let twice = |addr: &str| {
        format!(
            "[server]\n[[server.listeners]]\naddress = \"{addr}\"\n[[server.listeners]]\naddress = \"{addr}\"\ntls = \"implicit\"\n{TENANT}"
        )
    };
    let e = errors(&twice("127.0.0.1:2525"));
    assert!(e[0].contains("server.listeners[1].address: 127.0.0.1:2525 is listed twice"), "{e:?}");
    assert!(warnings(&twice("127.0.0.1:0")).is_empty());
}

#[test]
fn a_duration_too_long_to_hold_is_an_error_not_a_wrapped_number() {
    let e = errors(&format!("[server.queue]\nmax_age = \"300000000000000d\"\n{TENANT}"));
    assert!(e[0].contains("doorman.toml:2:11: server.queue.max_age"), "{e:?}");
    assert!(e[0].contains("\"300000000000000d\" is longer than doorman takes (at most 36500 days)"), "{e:?}");
    let e = errors(&format!("[server.queue]\nmax_age = 18446744073709551615\n{TENANT}"));
    assert!(e[0].contains("server.queue.max_age"), "{e:?}");
    assert_eq!(doorman_config::parse_duration("2d"), Ok(std::time::Duration::from_secs(172_800)));
    assert!(doorman_config::parse_duration("5 fortnights").is_err());
}

#[test]
fn the_junk_threshold_runs_from_0_to_9() {
    let e = errors(&TENANT.replace("mx = [\"self\"]", "mx = [\"self\"]\nscl_junk_threshold = -1"));
    assert!(e[0].contains("doorman.toml:5:22: tenants[0].scl_junk_threshold"), "{e:?}");
    assert!(e[0].contains("scl_junk_threshold runs from 0 to 9"), "{e:?}");
    let e = errors(&TENANT.replace("mx = [\"self\"]", "mx = [\"self\"]\nscl_junk_threshold = 10"));
    assert!(e[0].contains("tenants[0].scl_junk_threshold") && e[0].contains("out of range"), "{e:?}");
    let loaded = load_str("doorman.toml", TENANT, Path::new(".")).unwrap();
    assert_eq!(loaded.config.tenants[0].scl_junk_threshold.0, 4, "Exchange's default");
}

#[test]
fn a_config_without_tenants_warns() {
    for text in ["", "[server]\nhostname = \"edge.test\"\n"] {
        let w = warnings(text);
        assert_eq!(w.len(), 1, "{text:?}: {w:?}");
        assert!(w[0].contains("warning: tenants: the config has no tenants, so every recipient is refused"), "{w:?}");
    }
}

/// One run shows every schema error, each with its own line and key: past a bad value, past
/// an unknown key, and past a bad array element (the elements after it keep their indices).
#[test]
fn every_schema_error_is_reported_in_one_run() {
    let text = format!(
        "[server]\nhostname = 7\n{TENANT}\nunknown_key = true\n[tenants.connection_filter]\n\
         ip_block_list = [\"10.0.0.1\", \"10.0.0.0/33\", \"10.0.0.2\", \"not an ip\"]\n"
    );
    let at = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let got = errors(&text);
    let lines: Vec<(usize, &str)> = got
        .iter()
        .map(|e| {
            let line = e.split(':').nth(1).unwrap().parse().unwrap();
            let key = e.split(": ").nth(1).unwrap();
            (line, key)
        })
        .collect();
    assert_eq!(
        lines,
        [
            (at("hostname = 7"), "server.hostname"),
            (at("unknown_key"), "tenants[0].accepted_domains[0].unknown_key"),
            (at("10.0.0.0/33"), "tenants[0].connection_filter.ip_block_list[1]"),
            (at("not an ip"), "tenants[0].connection_filter.ip_block_list[3]"),
        ],
        "{got:#?}"
    );
    assert!(got[1].contains("unknown field `unknown_key`"), "{}", got[1]);
    assert!(got[3].contains("\"not an ip\""), "{}", got[3]);
}

/// Every syntax error too, not only the first.
#[test]
fn every_syntax_error_is_reported_in_one_run() {
    let text = format!("{TENANT}\nname2 = \"unclosed\nother = = 1\n");
    let got = errors(&text);
    assert!(got.len() >= 2, "{got:#?}");
    let at = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    assert!(got.iter().any(|e| e.starts_with(&format!("doorman.toml:{}:", at("unclosed")))), "{got:#?}");
    assert!(got.iter().any(|e| e.starts_with(&format!("doorman.toml:{}:", at("= = 1")))), "{got:#?}");
}

/// Lines and columns of findings at the start, middle and end of a file, and past a
/// multi-byte character (columns count characters).
#[test]
fn findings_are_located_by_line_and_character_column() {
    let text = format!("# ä comment\n{TENANT}\n[tenants.connection_filter]\nip_block_list = [\"ä\"]\n");
    let got = errors(&text);
    let line = text.lines().position(|l| l.starts_with("ip_block_list")).unwrap() + 1;
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with(&format!("doorman.toml:{line}:18: ")), "{got:?}");
}

/// A table's missing field is not hidden by another error in the same table; the field
/// taken out for its own bad value is not reported missing again.
#[test]
fn a_missing_field_beside_a_bad_value_is_still_reported() {
    let text = "[[tenants]]\nmx = [\"self\"]\nrecipients = [\"alice@contoso.com\"]\nscl_junk_threshold = \"x\"\n\
                [[tenants.accepted_domains]]\ndomain = \"contoso..com\"\n";
    let got = errors(text);
    assert_eq!(got.len(), 3, "{got:#?}");
    assert!(got.iter().any(|e| e.contains("tenants[0].scl_junk_threshold:")), "{got:#?}");
    assert!(got.iter().any(|e| e.contains("tenants[0].accepted_domains[0].domain: \"contoso..com\"")), "{got:#?}");
    assert!(got.iter().any(|e| e.contains("tenants[0]: missing field `name`")), "{got:#?}");
    assert!(!got.iter().any(|e| e.contains("missing field `domain`")), "{got:#?}");
}
