//! The `doorman` binary as an administrator runs it: what it prints and how it exits.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The PowerShell checker and applier the exo crate's tests use.
#[path = "../crates/exo/tests/support/mod.rs"]
mod pwsh;

const PARTNER_RESTRICTED: &str = "550 5.7.51 TenantInboundAttribution; There is a partner connector configured that matched the message's recipient domain. The connector had either the RestrictDomainsToIPAddresses or RestrictDomainsToCertificate set";

fn doorman(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_doorman")).args(args).output().expect("doorman runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("doorman-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn explain_a_side_door_attempt_on_the_built_in_example() {
    let o = doorman(&[
        "explain",
        "--client-ip",
        "203.0.113.9",
        "--mail-from",
        "spam@example.net",
        "--rcpt",
        "alice@contoso.com",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains(&format!("RCPT TO:<alice@contoso.com>  →  {PARTNER_RESTRICTED}")), "{out}");
    assert!(out.contains("connector_attribution  REJECT"), "{out}");
    assert!(out.contains("dnsbl                  -         not reached"), "{out}");
    assert!(out.contains("verdict  1 of 1 recipient(s) refused: alice@contoso.com"), "{out}");
}

#[test]
fn explain_the_gateway_is_accepted_with_scl_minus_one() {
    let o = doorman(&[
        "explain",
        "--client-ip",
        "80.66.20.13",
        "--tls",
        "--helo",
        "mx.contoso-gateway.net",
        "--mail-from",
        "news@example.net",
        "--rcpt",
        "alice@contoso.com",
        "--header",
        "Subject: hello",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("RCPT TO:<alice@contoso.com>  →  250 2.1.5 Recipient OK"), "{out}");
    assert!(out.contains("DATA for tenant contoso (alice@contoso.com): deliver, SCL -1"), "{out}");
    assert!(out.contains("X-Doorman-Report: tenant=contoso; connector=Inbound only from Antispamrelay; cip=80.66.20.13; scl=-1; rules=Skip spam filtering for the gateway"));
    assert!(out.contains("verdict  all 1 recipient(s) accepted"), "{out}");
}

#[test]
fn explain_json_follows_the_documented_schema() {
    let o = doorman(&[
        "explain",
        "--json",
        "--client-ip",
        "::ffff:203.0.113.9",
        "--mail-from",
        "<>",
        "--rcpt",
        "alice@contoso.com",
        "--rcpt",
        "carol@fabrikam.com",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    assert_eq!(v["schema"], "doorman.explain/2");
    assert_eq!(v["session"]["client_ip"], "203.0.113.9");
    assert_eq!(v["session"]["tls"], serde_json::Value::Null);
    assert_eq!(v["mail"]["sender"], "<>");
    let alice = &v["recipients"][0];
    assert_eq!(alice["recipient"], "alice@contoso.com");
    assert_eq!(alice["reply"]["code"], 550);
    assert_eq!(alice["reply"]["enhanced"], "5.7.51");
    assert_eq!(alice["tenant"], "contoso");
    let steps = alice["trace"].as_array().unwrap();
    assert_eq!(
        steps.iter().map(|s| s["check"].as_str().unwrap()).collect::<Vec<_>>(),
        [
            "smtputf8",
            "recipient_limit",
            "recipient_syntax",
            "tenant_attribution",
            "ip_block_list",
            "connector_attribution"
        ]
    );
    assert_eq!(steps[5]["outcome"], "reject");
    assert_eq!(steps[5]["reply"]["text"], PARTNER_RESTRICTED.trim_start_matches("550 5.7.51 "));
    let carol = &v["recipients"][1];
    assert_eq!(carol["reply"]["code"], 250);
    assert!(carol.get("connector").is_none());
    let copies = v["data"]["copies"].as_array().unwrap();
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0]["tenant"], "fabrikam");
    assert_eq!(copies[0]["disposition"]["action"], "deliver");
    assert_eq!(v["verdict"]["all_accepted"], false);
    assert_eq!(v["verdict"]["rejected"], serde_json::json!(["alice@contoso.com"]));
}

#[test]
fn explain_with_a_certificate_and_a_config_file() {
    let cfg = temp_file(
        "cert.toml",
        r#"
[[tenants]]
name = "contoso"
mx = ["mx.contoso-gateway.net"]
recipients = ["alice@contoso.com"]
[[tenants.accepted_domains]]
domain = "contoso.com"
[[tenants.inbound_connectors]]
name = "Gateway certificate"
type = "partner"
tls_sender_certificate_name = "*.contoso-gateway.net"
restrict_domains_to_certificate = true
"#,
    );
    let cfg = cfg.to_str().unwrap();
    let base = [
        "explain",
        "--config",
        cfg,
        "--client-ip",
        "198.18.0.1",
        "--mail-from",
        "a@example.net",
        "--rcpt",
        "alice@contoso.com",
    ];
    let ok = doorman(&[&base[..], &["--client-cert-name", "mx2.contoso-gateway.net"]].concat());
    assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));
    assert!(stdout(&ok).contains(
        "partner connector \"Gateway certificate\" matched by the verified certificate name mx2.contoso-gateway.net"
    ));
    let listed = doorman(&[&base[..], &["--tls", "--dnsbl-listed", "zen.spamhaus.org", "--json"]].concat());
    let v: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("valid JSON");
    assert_eq!(
        v["session"]["dnsbl"],
        serde_json::json!([{"zone": "zen.spamhaus.org", "result": "listed", "detail": "127.0.0.2"}])
    );
    assert_eq!(v["session"]["tls"]["client_certificate"], serde_json::json!({"state": "none"}));
    let unverified = doorman(&[&base[..], &["--unverified-cert"]].concat());
    assert_eq!(unverified.status.code(), Some(1));
    assert!(
        stdout(&unverified)
            .contains("certificate name *.contoso-gateway.net: the client presented no verified certificate"),
        "{}",
        stdout(&unverified)
    );
}

#[test]
fn explain_usage_and_config_errors_exit_2() {
    let o = doorman(&["explain", "--client-ip", "not-an-ip", "--mail-from", "a@b.c", "--rcpt", "x@y.z"]);
    assert_eq!(o.status.code(), Some(2));
    let o = doorman(&["explain", "--client-ip", "192.0.2.1", "--mail-from", "a@b.c"]);
    assert_eq!(o.status.code(), Some(2), "--rcpt is required");
    let o = doorman(&[
        "explain",
        "--client-ip",
        "192.0.2.1",
        "--mail-from",
        "a@b.c",
        "--rcpt",
        "x@y.z",
        "--header",
        "no colon",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--header \"no colon\" is not of the form 'Name: value'"));

    let bad = temp_file(
        "bad.toml",
        "[[tenants]]\nname = \"t\"\n[[tenants.inbound_connectors]]\nname = \"c\"\ntype = \"partner\"\nsender_ip_addresses = [\"10.0.0.0/33\"]\n",
    );
    let o = doorman(&[
        "explain",
        "--config",
        bad.to_str().unwrap(),
        "--client-ip",
        "192.0.2.1",
        "--mail-from",
        "a@b.c",
        "--rcpt",
        "x@y.z",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o).trim(),
        format!(
            "doorman explain: {}:6:24: tenants[0].inbound_connectors[0].sender_ip_addresses[0]: \"10.0.0.0/33\" is not an IP network",
            bad.display()
        )
    );
}

#[test]
fn check_config_reports_and_exits() {
    let o = doorman(&["check-config"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o).trim(),
        "examples/contoso.toml (built in): OK: 2 tenant(s), 2 inbound connector(s), 1 transport rule(s), 0 warning(s)"
    );

    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/contoso.toml");
    assert_eq!(doorman(&["check-config", shipped]).status.code(), Some(0));

    let warn = temp_file(
        "warn.toml",
        "[[tenants]]\nname = \"t\"\nmx = [\"self\"]\n[tenants.connection_filter]\nip_block_list = [\"10.1.2.3/8\"]\n",
    );
    let o = doorman(&["check-config", warn.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains(&format!("{}:5:18: warning: tenants[0].connection_filter.ip_block_list[0]: \"10.1.2.3/8\" has host bits set; it means 10.0.0.0/8", warn.display())), "{out}");
    assert_eq!(doorman(&["check-config", "--deny-warnings", warn.to_str().unwrap()]).status.code(), Some(1));

    // An emptied file loads (0 tenants), but it is no config to run an edge with.
    let empty = temp_file("empty.toml", "");
    let o = doorman(&["check-config", "--deny-warnings", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("warning: tenants: the config has no tenants, so every recipient is refused"),
        "{}",
        stdout(&o)
    );

    let broken = temp_file(
        "broken.toml",
        "[[tenants]]\nname = \"a\"\nmx = [\"self\"]\n[[tenants.accepted_domains]]\ndomain = \"contoso.com\"\n[[tenants]]\nname = \"b\"\nmx = [\"self\"]\n[[tenants.accepted_domains]]\ndomain = \"contoso.com\"\n",
    );
    let o = doorman(&["check-config", broken.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains(&format!(
        "{}:10:10: tenants[1].accepted_domains[0].domain: contoso.com is already an accepted domain of tenant \"a\": a domain can belong to one tenant only",
        broken.display()
    )));
}

#[test]
fn serve_refuses_to_start_on_a_broken_config_and_names_file_line_and_key() {
    let path = temp_file("serve-broken.toml", "[server]\nhostname = \"x\"\n\n[server.limits]\nmax_errors = \"ten\"\n");
    let o = doorman(&["serve", "--config", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "a config error is 2, as for every command");
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "{}:5:14: server.limits.max_errors: invalid type: string \"ten\", expected u32",
            path.display()
        )),
        "{err}"
    );
    let o = doorman(&["serve", "--config", "/nonexistent/doorman.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent/doorman.toml: cannot read the file"), "{}", stderr(&o));
}

const SEED_BEFORE: &str = r#"
[[tenants]]
name = "contoso"
mx = [{ host = "mx.contoso-gateway.net", addresses = ["80.66.20.0/28"] }]
reject_direct_send = true
recipients = ["alice@contoso.com"]
accepted_domains = [{ domain = "contoso.com" }]
"#;

const SEED_FIX: &str = r#"
[[tenants.inbound_connectors]]
name = "Inbound only from Antispamrelay"
type = "partner"
sender_domains = ["*"]
sender_ip_addresses = ["80.66.20.0/28"]
restrict_domains_to_ip_addresses = true
"#;

/// The quick start's comment says "exit 0 = locked": the built-in example is locked, and
/// clean, so its audit exits 0.
#[test]
fn the_quick_start_audit_is_locked_and_exits_0() {
    let o = doorman(&["audit"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("tenant contoso  (MX mx.contoso-gateway.net)  LOCKED"), "{out}");
    assert!(out.contains("tenant fabrikam  (MX self)  LOCKED"), "{out}");
    assert!(!out.contains("  WARNING: ") && !out.contains("  CRITICAL: "), "{out}");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(readme.contains("proven (exit 0 = locked):\ncargo run -- audit\n"), "the README's quick start says so");
}

#[test]
fn audit_refuses_json_with_another_format() {
    let o = doorman(&["audit", "--json", "--format", "dot"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("'--json' cannot be used with '--format <FORMAT>'"), "{}", stderr(&o));
}

#[test]
fn audit_exit_codes_and_formats() {
    let before = temp_file("audit-before.toml", SEED_BEFORE);
    let after = temp_file("audit-after.toml", &format!("{SEED_BEFORE}{SEED_FIX}"));
    let o = doorman(&["audit", "--config", before.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("tenant contoso  (MX mx.contoso-gateway.net)  SIDE DOOR OPEN"), "{out}");
    assert!(out.contains("  SIDE DOOR: contoso.com from all IPv4 except 80.66.20.0/28; all IPv6"), "{out}");
    assert!(
        out.contains("FIX: Accept mail only from the gateway")
            && out.contains("restrict_domains_to_ip_addresses = true"),
        "{out}"
    );

    let o = doorman(&["audit", "--config", after.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("LOCKED"));

    let o = doorman(&["audit", "--config", before.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["schema"], "doorman.audit/4");
    assert_eq!(v["tenants"][0]["verdict"], "SIDE_DOOR_OPEN");
    assert_eq!(v["tenants"][0]["side_doors"][0]["example"]["verdict"]["all_accepted"], true);

    let o = doorman(&["audit", "--config", before.to_str().unwrap(), "--format", "dot"]);
    let dot = stdout(&o);
    assert!(
        dot.starts_with("digraph mailflow {")
            && dot.contains("internet -> edge_0 [color=red")
            && dot.contains("SIDE DOOR without a connector\\nfrom all IPv4 except 80.66.20.0/28; all IPv6"),
        "{dot}"
    );
    let o = doorman(&["audit", "--config", before.to_str().unwrap(), "--format", "svg"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).starts_with("<svg ") && stdout(&o).contains(">SIDE DOOR without a connector</text>"));

    let broken = temp_file("audit-broken.toml", "[[tenants]]\nname = 3\n");
    assert_eq!(doorman(&["audit", "--config", broken.to_str().unwrap()]).status.code(), Some(2));
}

#[test]
fn diff_shows_what_a_change_does_and_can_gate_on_new_access() {
    let before = temp_file("diff-before.toml", SEED_BEFORE);
    let after = temp_file("diff-after.toml", &format!("{SEED_BEFORE}{SEED_FIX}"));
    let (b, a) = (before.to_str().unwrap(), after.to_str().unwrap());
    let o = doorman(&["diff", b, a]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stdout(&o).contains("delivery lost: contoso.com from all IPv4 except 80.66.20.0/28; all IPv6"),
        "{}",
        stdout(&o)
    );
    // Undoing the fix opens the side door again: a CI gate refuses it.
    let o = doorman(&["diff", a, b, "--fail-on-new-access"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("delivery gained: contoso.com from all IPv4 except 80.66.20.0/28; all IPv6"));
    let o = doorman(&["diff", a, a, "--fail-on-new-access"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "tenant contoso: no class of sender changes outcome\n");
}

#[test]
fn import_and_audit_an_exchange_online_export() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/crates/exo/tests/fixtures/contoso-before");
    let o = doorman(&["import", "exo", dir, "--mx", "mx.contoso-gateway.net"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let toml = stdout(&o);
    assert!(toml.contains("# Exchange Online limit: IPBlockList entry 2001:db8::/32"), "{toml}");
    assert!(toml.contains("[[tenants]]\nname = \"contoso\"\nmx = [\"mx.contoso-gateway.net\"]"), "{toml}");
    // The imported config is a config like any other.
    let path = temp_file("imported.toml", &toml);
    assert_eq!(doorman(&["check-config", path.to_str().unwrap()]).status.code(), Some(0));

    let o = doorman(&["audit", "--exo", dir, "--mx", "mx.contoso-gateway.net"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("SIDE DOOR OPEN"), "{out}");
    assert!(out.contains("PowerShell:\n# Closes what `doorman audit` found for tenant contoso."), "{out}");
    assert!(
        out.contains("New-InboundConnector -Name 'Inbound only from the gateway' -ConnectorType 'Partner' -SenderDomains '*' -RestrictDomainsToIPAddresses $true -SenderIPAddresses '80.66.20.0/28' -RequireTls $true"),
        "{out}"
    );
    let o = doorman(&["import", "exo", "/nonexistent-export"]);
    assert_eq!(o.status.code(), Some(2));
}

/// A config for the replies the limits, SMTPUTF8 and PROXY trust give.
const LIMITS: &str = r#"
[server]
hostname = "edge.example.net"
trusted_proxies = ["10.9.0.7"]
[server.limits]
max_message_size = 1000
max_recipients = 2

[[tenants]]
name = "fabrikam"
mx = ["self"]
recipients = ["carol@fabrikam.com", "dave@fabrikam.com", "erin@fabrikam.com", "jörg@fabrikam.com"]
[[tenants.accepted_domains]]
domain = "fabrikam.com"
"#;

/// `doorman explain` on the LIMITS config, as text and as JSON; both exit with `code`.
fn explain_limits(extra: &[&str], code: i32) -> (String, serde_json::Value) {
    static CONFIG: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let cfg = CONFIG.get_or_init(|| temp_file("limits.toml", LIMITS));
    let mut args = vec!["explain", "--config", cfg.to_str().unwrap(), "--client-ip", "203.0.113.9"];
    if !extra.contains(&"--mail-from") {
        args.extend_from_slice(&["--mail-from", "a@example.net"]);
    }
    args.extend_from_slice(extra);
    let text = doorman(&args);
    assert_eq!(text.status.code(), Some(code), "{}\n{}", stdout(&text), stderr(&text));
    args.push("--json");
    let json = doorman(&args);
    assert_eq!(json.status.code(), Some(code), "{}", stderr(&json));
    (stdout(&text), serde_json::from_slice(&json.stdout).expect("valid JSON"))
}

fn checks(trace: &serde_json::Value) -> Vec<&str> {
    trace.as_array().unwrap().iter().map(|s| s["check"].as_str().unwrap()).collect()
}

#[test]
fn explain_a_non_ascii_recipient_without_smtputf8() {
    let (out, v) = explain_limits(&["--rcpt", "jörg@fabrikam.com"], 1);
    assert!(
        out.contains("RCPT TO:<jörg@fabrikam.com>  →  553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter"),
        "{out}"
    );
    assert!(out.contains("smtputf8               REJECT    jörg@fabrikam.com is not ASCII and MAIL FROM did not give the SMTPUTF8 parameter"), "{out}");
    assert!(out.contains("recipient_limit        -         not reached"), "{out}");
    let r = &v["recipients"][0];
    assert_eq!((r["reply"]["code"].as_u64(), r["reply"]["enhanced"].as_str()), (Some(553), Some("5.6.7")));
    assert_eq!(checks(&r["trace"]), ["smtputf8"]);
    assert_eq!(v["verdict"]["rejected"], serde_json::json!(["jörg@fabrikam.com"]));

    let (out, v) = explain_limits(&["--rcpt", "jörg@fabrikam.com", "--smtputf8"], 0);
    assert!(out.contains("RCPT TO:<jörg@fabrikam.com>  →  250 2.1.5 Recipient OK"), "{out}");
    assert_eq!(v["recipients"][0]["trace"][0]["outcome"], "pass");

    let (out, _) = explain_limits(&["--rcpt", "carol@fabrikam.com", "--mail-from", "jörg@example.net"], 1);
    assert!(out.contains("MAIL     553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter"), "{out}");
}

#[test]
fn explain_more_recipients_than_max_recipients() {
    let rcpts = ["--rcpt", "carol@fabrikam.com", "carol@fabrikam.com", "dave@fabrikam.com", "erin@fabrikam.com"];
    let (out, v) = explain_limits(&rcpts, 1);
    assert!(out.contains("RCPT TO:<erin@fabrikam.com>  →  452 4.5.3 Too many recipients"), "{out}");
    assert!(out.contains("recipient_limit        DEFER     2 recipient(s) already accepted, the limit is 2"), "{out}");
    assert!(out.contains("verdict  1 of 4 recipient(s) refused: erin@fabrikam.com"), "{out}");
    let replies: Vec<u64> =
        v["recipients"].as_array().unwrap().iter().map(|r| r["reply"]["code"].as_u64().unwrap()).collect();
    assert_eq!(replies, [250, 250, 250, 452], "a repeated recipient counts once");
    assert_eq!(checks(&v["recipients"][3]["trace"]), ["smtputf8", "recipient_limit"]);
    assert_eq!(v["recipients"][3]["trace"][1]["outcome"], "defer");
}

#[test]
fn explain_a_message_over_the_size_limit() {
    let (out, v) = explain_limits(&["--rcpt", "carol@fabrikam.com", "--message-size", "1001"], 1);
    assert!(out.contains("DATA     552 5.3.4 Message size exceeds fixed maximum message size"), "{out}");
    assert!(out.contains("message_size  REJECT    the message is 1001 bytes, over the limit of 1000 bytes"), "{out}");
    assert!(out.contains("hop_count     -         not reached"), "{out}");
    assert!(!out.contains("DATA for tenant"), "the message never forks: {out}");
    assert!(out.contains("verdict  1 of 1 recipient(s) refused: carol@fabrikam.com"), "{out}");
    let d = &v["data"];
    assert_eq!(d["reply"]["code"], 552);
    assert_eq!(d["copies"], serde_json::json!([]));
    assert_eq!(checks(&d["trace"]), ["message_size"]);
    assert_eq!(d["trace"][0]["outcome"], "reject");

    let (out, v) = explain_limits(&["--rcpt", "carol@fabrikam.com", "--message-size", "1000"], 0);
    assert!(out.contains("DATA     message checks"), "{out}");
    assert_eq!(checks(&v["data"]["trace"]), ["message_size", "hop_count"]);
    // --size is what MAIL FROM declares.
    let (out, _) = explain_limits(&["--rcpt", "carol@fabrikam.com", "--size", "1001"], 1);
    assert!(out.contains("MAIL     552 5.3.4 Message size exceeds fixed maximum message size"), "{out}");
}

#[test]
fn explain_a_message_with_fifty_received_fields() {
    // 50 fields are more than the config's 1000 bytes: the size is given, so the hops decide.
    let mut args = vec!["--rcpt", "carol@fabrikam.com", "--message-size", "900"];
    for _ in 0..50 {
        args.extend_from_slice(&["--header", "Received: from a.example by b.example"]);
    }
    let (out, v) = explain_limits(&args, 1);
    assert!(
        out.contains("DATA     554 5.4.6 Too many hops: Received header count exceeded, possible mail loop"),
        "{out}"
    );
    assert!(out.contains("hop_count     REJECT    50 Received fields; 50 or more mean a mail loop"), "{out}");
    assert_eq!(v["data"]["reply"]["enhanced"], "5.4.6");
    assert_eq!(checks(&v["data"]["trace"]), ["message_size", "hop_count"]);

    let (_, v) = explain_limits(&args[..args.len() - 2], 0);
    assert_eq!(v["data"]["trace"][1]["outcome"], "pass", "49 pass");
}

#[test]
fn explain_a_proxy_peer_that_is_not_trusted() {
    let (out, v) = explain_limits(&["--rcpt", "carol@fabrikam.com", "--proxy-peer", "198.51.100.1"], 1);
    assert!(
        out.contains(
            "connect  421 4.7.0 PROXY protocol header from a peer that is not a trusted proxy, closing connection"
        ),
        "{out}"
    );
    assert!(
        out.contains("proxy_trust  DEFER     198.51.100.1 sent a PROXY header but is not in server.trusted_proxies"),
        "{out}"
    );
    assert_eq!(v["connect"]["reply"]["code"], 421);
    assert_eq!(v["connect"]["trace"][0]["check"], "proxy_trust");
    assert!(v["mail"].is_null());
    assert_eq!(v["verdict"]["rejected"], serde_json::json!(["carol@fabrikam.com"]));

    let (_, v) = explain_limits(&["--rcpt", "carol@fabrikam.com", "--proxy-peer", "::ffff:10.9.0.7"], 0);
    assert_eq!(v["connect"]["reply"]["code"], 220);
    assert_eq!(v["connect"]["client"], "203.0.113.9");
    assert_eq!(v["connect"]["trace"][0]["detail"], "10.9.0.7 is a trusted proxy (10.9.0.7); the client is 203.0.113.9");
}

#[test]
fn explain_an_empty_ehlo() {
    let (out, v) = explain_limits(&["--rcpt", "carol@fabrikam.com", "--helo", ""], 1);
    assert!(out.contains("EHLO     501 5.5.4 Syntax: EHLO hostname"), "{out}");
    assert!(out.contains("helo   REJECT    EHLO without a name"), "{out}");
    assert!(!out.contains("MAIL "), "{out}");
    assert_eq!(v["helo"]["reply"]["text"], "Syntax: EHLO hostname");
    assert!(v["mail"].is_null());
}

#[test]
fn audit_says_not_audited_and_exits_3_only_without_a_certain_finding() {
    let config = temp_file(
        "audit-not-audited.toml",
        &format!("[[tenants]]\nname = \"empty\"\nmx = [\"mx.contoso-gateway.net\"]\n{SEED_BEFORE}"),
    );
    let o = doorman(&["audit", "--config", config.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "contoso's side door is certain: {}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("tenant empty  (MX mx.contoso-gateway.net)  NOT AUDITED"), "{out}");
    assert!(
        out.contains("  not audited: the tenant has no accepted domain, so no recipient is attributed to it"),
        "{out}"
    );
    assert!(out.contains("tenant contoso  (MX mx.contoso-gateway.net)  SIDE DOOR OPEN"), "{out}");
    let o = doorman(&["audit", "--config", config.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["tenants"][0]["verdict"], "NOT_AUDITED");
    assert!(v["tenants"][0]["not_audited"].as_str().unwrap().starts_with("the tenant has no accepted domain"));
    assert_eq!(v["tenants"][0]["findings"][0]["code"], "not_audited");
    assert_eq!(o.status.code(), Some(1));

    // With the other tenant locked, nothing is certain but that one tenant was not judged.
    let locked = temp_file(
        "audit-not-audited-locked.toml",
        &format!("[[tenants]]\nname = \"empty\"\nmx = [\"mx.contoso-gateway.net\"]\n{SEED_BEFORE}{SEED_FIX}"),
    );
    for json in [false, true] {
        let mut args = vec!["audit", "--config", locked.to_str().unwrap()];
        if json {
            args.push("--json");
        }
        assert_eq!(doorman(&args).status.code(), Some(3), "json {json}");
    }
}

const SCUBAGEAR: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/crates/exo/tests/fixtures/scubagear-partner/ProviderSettingsExport.json");

/// The ScubaGear fixture, changed by `edit` and written as a new export file.
fn scubagear_variant(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let text = std::fs::read_to_string(SCUBAGEAR).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(text.trim_start_matches('\u{feff}')).unwrap();
    edit(&mut v);
    temp_file(name, &v.to_string())
}

/// The fixture after the PowerShell that `audit --exo` printed for it was run: each command
/// applied to the export as Exchange Online would apply it.
fn scubagear_fixed() -> PathBuf {
    static FIXED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    FIXED.get_or_init(apply_the_printed_fix).clone()
}

fn apply_the_printed_fix() -> PathBuf {
    let o = doorman(&["audit", "--exo", SCUBAGEAR, "--mx", "mx.contoso-gateway.net"]);
    let out = stdout(&o);
    let script = out.split_once("PowerShell:\n").expect("a PowerShell section").1;
    let commands = pwsh::commands(script);
    assert_eq!(commands.len(), 2, "{script}");
    scubagear_variant("scubagear-fixed.json", |v| {
        for c in &commands {
            pwsh::apply(v, c);
        }
    })
}

#[test]
fn audit_exo_exit_codes_are_the_same_in_text_and_json() {
    let fixed = scubagear_fixed();
    let incomplete = scubagear_variant("scubagear-no-connectors.json", |v| {
        v.as_object_mut().unwrap().remove("inbound_connectors");
    });
    let broken = temp_file("scubagear-broken.json", "{ \"org_config\": ");
    for (path, code, verdict) in [
        (SCUBAGEAR, 1, "SIDE_DOOR_OPEN"),
        (fixed.to_str().unwrap(), 0, "LOCKED"),
        (incomplete.to_str().unwrap(), 3, "INCOMPLETE"),
    ] {
        let o = doorman(&["audit", "--exo", path, "--mx", "mx.contoso-gateway.net"]);
        assert_eq!(o.status.code(), Some(code), "{path}: {}{}", stdout(&o), stderr(&o));
        let o = doorman(&["audit", "--exo", path, "--mx", "mx.contoso-gateway.net", "--json"]);
        assert_eq!(o.status.code(), Some(code), "{path} --json: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["tenants"][0]["verdict"], verdict, "{path}");
    }
    for json in [false, true] {
        let mut args = vec!["audit", "--exo", broken.to_str().unwrap(), "--mx", "mx.contoso-gateway.net"];
        if json {
            args.push("--json");
        }
        let o = doorman(&args);
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).contains("scubagear-broken.json:1:"), "the file, line and column: {}", stderr(&o));
    }

    let o = doorman(&["audit", "--exo", incomplete.to_str().unwrap(), "--mx", "mx.contoso-gateway.net"]);
    let out = stdout(&o);
    assert!(out.contains("INCOMPLETE (on the data given: SIDE DOOR OPEN)"), "{out}");
    assert!(out.contains("  missing from the input: inbound connectors: a connector may restrict"), "{out}");
    assert!(out.contains("    to complete it: Get-InboundConnector | ConvertTo-Json -Depth 6"), "{out}");
    assert!(out.contains("(for what the export holds, commented out: complete the export first)"), "{out}");
    assert!(out.contains("\n# Set-OrganizationConfig -RejectDirectSend $true\n"), "not runnable: {out}");
}

#[test]
fn audit_exo_json_carries_the_notes_the_completeness_and_the_powershell() {
    let o = doorman(&["audit", "--exo", SCUBAGEAR, "--mx", "mx.contoso-gateway.net", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["schema"], "doorman.audit/4");
    let exo = &v["exo"];
    assert_eq!(exo["source"], "scubagear");
    assert_eq!(exo["tenant"], "contoso");
    assert_eq!(exo["complete"], true);
    assert_eq!(exo["missing"], serde_json::json!([]));
    let notes = exo["notes"].as_array().unwrap();
    assert!(notes.iter().any(|n| n["kind"] == "assumed" && n["what"].as_str().unwrap().contains("postmaster@")));
    assert!(notes.iter().any(|n| n["kind"] == "exchange_online_differs"), "{notes:?}");
    let ps = exo["powershell"].as_array().unwrap();
    let closes: Vec<&str> = ps.iter().map(|c| c["closes"].as_str().unwrap()).collect();
    assert_eq!(closes, ["side_door", "direct_send_open"]);
    assert!(
        ps[0]["command"].as_str().unwrap().starts_with("New-InboundConnector -Name 'Inbound only from the gateway'")
    );
    assert_eq!(ps[1]["command"], "Set-OrganizationConfig -RejectDirectSend $true");
    assert!(ps.iter().all(|c| c["runnable"] == true));
    // Every command closes a finding the same report lists.
    let codes: Vec<&str> =
        v["tenants"][0]["findings"].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap()).collect();
    assert!(closes.iter().all(|c| codes.contains(c)), "{codes:?}");

    let o =
        doorman(&["audit", "--exo", scubagear_fixed().to_str().unwrap(), "--mx", "mx.contoso-gateway.net", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["exo"]["powershell"], serde_json::json!([]));
}

#[test]
fn diff_takes_exports_on_either_side() {
    let fixed = scubagear_fixed();
    let f = fixed.to_str().unwrap();
    let o = doorman(&["diff", SCUBAGEAR, f, "--mx", "mx.contoso-gateway.net"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("tenant contoso:"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("delivery lost: contoso.com from all IPv4 except 80.66.20.0/28; all IPv6"),
        "{}",
        stdout(&o)
    );
    let o = doorman(&["diff", f, SCUBAGEAR, "--mx", "mx.contoso-gateway.net", "--fail-on-new-access"]);
    assert_eq!(o.status.code(), Some(1));

    // An export against the doorman config imported from it: nothing changes.
    let o = doorman(&["import", "exo", f, "--mx", "mx.contoso-gateway.net"]);
    let imported = temp_file("scubagear-fixed.toml", &stdout(&o));
    let o = doorman(&["diff", f, imported.to_str().unwrap(), "--mx", "mx.contoso-gateway.net"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "tenant contoso: no class of sender changes outcome\n");

    // An incomplete side says so.
    let incomplete = scubagear_variant("diff-no-rules.json", |v| {
        v.as_object_mut().unwrap().remove("transport_rule");
    });
    let o = doorman(&["diff", incomplete.to_str().unwrap(), f, "--mx", "mx.contoso-gateway.net"]);
    assert!(
        stderr(&o).contains("incomplete: missing transport rules (to complete it: Get-TransportRule"),
        "{}",
        stderr(&o)
    );
    assert_eq!(o.status.code(), Some(3), "a gate never passes on an incomplete export");
    let o = doorman(&["import", "exo", incomplete.to_str().unwrap(), "--mx", "mx.contoso-gateway.net"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stdout(&o).contains("# incomplete: missing transport rules; to complete it: Get-TransportRule"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn audit_exo_on_a_scubagear_side_door_prints_the_fix_and_after_it_locked() {
    let o = doorman(&["audit", "--exo", SCUBAGEAR, "--mx", "mx.contoso-gateway.net"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("tenant contoso  (MX mx.contoso-gateway.net)  SIDE DOOR OPEN"), "{out}");
    assert!(out.contains("\nNew-InboundConnector -Name 'Inbound only from the gateway' -ConnectorType 'Partner' -SenderDomains '*' -RestrictDomainsToIPAddresses $true -SenderIPAddresses '80.66.20.0/28' -RequireTls $true\n"), "{out}");
    assert!(out.contains("\nSet-OrganizationConfig -RejectDirectSend $true\n"), "{out}");
    let fixed = scubagear_fixed();
    let o = doorman(&["audit", "--exo", fixed.to_str().unwrap(), "--mx", "mx.contoso-gateway.net"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("tenant contoso  (MX mx.contoso-gateway.net)  LOCKED"), "{out}");
    assert!(
        out.contains("PowerShell:\n# Closes what `doorman audit` found for tenant contoso.\n# Nothing to change.\n"),
        "{out}"
    );
}

#[test]
fn queue_and_quarantine_commands_without_a_spool_exit_1_and_create_nothing() {
    let config = temp_file(
        "no-spool.toml",
        "[server]\nspool_dir = \"no-such-spool\"\n[[tenants]]\nname = \"contoso\"\nmx = [\"self\"]\n\
         recipients = [\"alice@contoso.com\"]\naccepted_domains = [{ domain = \"contoso.com\" }]\n",
    );
    let spool = config.parent().unwrap().join("no-such-spool");
    for args in [&["queue", "list"][..], &["quarantine", "list"][..]] {
        let o = doorman(&[args, &["--config", config.to_str().unwrap()]].concat());
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("no spool here"), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "{args:?}: no empty list is printed: {}", stdout(&o));
        assert!(!spool.exists(), "{args:?}: the tool creates no spool");
    }
}

/// `doorman probe --file` shows its progress on a terminal (here a pseudo-terminal from
/// `script`), and nowhere else: a pipe gets the report alone.
#[test]
fn probe_shows_progress_on_a_terminal_only() {
    let bin = env!("CARGO_BIN_EXE_doorman");
    let cmd = format!("{bin} probe --dns-server 127.0.0.1:1 --timeout 1s --delay 0s a.invalid b.invalid");
    let tty = Command::new("script").args(["-qec", &cmd, "/dev/null"]).output().expect("script (bsdutils)");
    let shown = String::from_utf8_lossy(&tty.stdout);
    assert!(shown.contains("0/2") || shown.contains("1/2"), "no progress on a terminal: {shown:?}");
    let piped = doorman(&[
        "probe",
        "--dns-server",
        "127.0.0.1:1",
        "--timeout",
        "1s",
        "--delay",
        "0s",
        "a.invalid",
        "b.invalid",
    ]);
    assert_eq!(piped.status.code(), Some(2), "DNS that does not answer is inconclusive");
    assert!(!stderr(&piped).contains("/2"), "{}", stderr(&piped));
    assert!(stdout(&piped).starts_with("a.invalid: INCONCLUSIVE\n"), "{}", stdout(&piped));
}

/// Completions and manual pages come from the same argument definitions the binary parses.
#[test]
fn completions_and_man_pages_cover_every_command() {
    let o = doorman(&["completions", "bash"]);
    assert_eq!(o.status.code(), Some(0));
    let bash = stdout(&o);
    for command in ["serve", "audit", "explain", "trace", "config", "cluster", "queue", "completions", "man"] {
        assert!(
            bash.contains(&format!("doorman__{command}")) || bash.contains(&format!("doorman,{command}")),
            "{command}"
        );
    }
    let o = doorman(&["completions", "zsh"]);
    assert!(stdout(&o).starts_with("#compdef doorman"), "{}", stdout(&o));

    let o = doorman(&["man"]);
    let page = stdout(&o);
    assert!(page.contains(".TH doorman 1") && page.contains("doorman\\-audit(1)"), "{page}");
    let o = doorman(&["man", "audit"]);
    let page = stdout(&o);
    assert!(page.contains(concat!(".TH doorman-audit 1  \"doorman-audit ", env!("CARGO_PKG_VERSION"), "\"")), "{page}");
    assert!(page.contains("\\-\\-json") && page.contains("Exit status"), "{page}");
    let o = doorman(&["man", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).starts_with("doorman man: no command \"nope\""), "{}", stderr(&o));
    // Rendered by man(1) itself when it is installed.
    if std::process::Command::new("man").arg("--version").output().is_ok() {
        let dir = temp_file("doorman.1", &stdout(&doorman(&["man"])));
        let out = std::process::Command::new("man").arg("-l").arg(&dir).env("MANPAGER", "cat").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("Multi-tenant inbound SMTP edge"), "{text}");
    }
}

/// contrib/doorman.service is a unit systemd accepts, when systemd-analyze is installed.
#[test]
fn the_systemd_unit_verifies() {
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/doorman.service")).unwrap();
    for line in
        ["User=doorman", "AmbientCapabilities=CAP_NET_BIND_SERVICE", "ProtectSystem=strict", "NoNewPrivileges=yes"]
    {
        assert!(unit.lines().any(|l| l == line), "{line}");
    }
    if std::process::Command::new("systemd-analyze").arg("--version").output().is_err() {
        return;
    }
    let local = unit.replace("/usr/local/bin/doorman", env!("CARGO_BIN_EXE_doorman"));
    let path = temp_file("doorman.service", &local);
    let out = std::process::Command::new("systemd-analyze").arg("verify").arg(&path).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}

/// Every argument of every command says what it is for: `doorman CMD --help` leaves none bare.
#[test]
fn every_argument_has_help_text() {
    let o = doorman(&["completions", "fish"]);
    let fish = stdout(&o);
    // fish completions carry each option's help as `-d '…'`: one without is bare.
    let options: Vec<&str> =
        fish.lines().filter(|l| l.starts_with("complete -c doorman") && l.contains(" -l ")).collect();
    assert!(options.len() > 100, "{fish}");
    let bare: Vec<&&str> = options.iter().filter(|l| !l.contains(" -d ")).collect();
    assert!(bare.is_empty(), "options without help:\n{bare:#?}");
}

/// The documentation stands alone: no file refers outside the repository.
#[test]
fn no_document_refers_outside_the_repository() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    for dir in ["docs", "examples", "contrib", "bench", "scripts"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
            files.push(entry.path());
        }
    }
    for path in files.iter().filter(|p| p.is_file()) {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for bad in ["../shared", "SPEC.md", "SPEC section", "ARCHITECTURE.md"] {
            assert!(!text.contains(bad), "{} refers to {bad}", path.display());
        }
    }
    for doc in ["docs/design.md", "docs/field-report.md"] {
        assert!(root.join(doc).is_file(), "{doc}");
    }
}

/// A report that reads well: a summary line per tenant first, one tenant on request, the
/// refused classes only when asked for, findings from a severity up.
#[test]
fn audit_opens_with_a_summary_and_filters_by_tenant_severity_and_refused() {
    let o = doorman(&["audit"]);
    let out = stdout(&o);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("TENANT    VERDICT  CRITICAL  WARNING  INFO  TOP FINDING"), "{out}");
    assert!(lines.next().unwrap().starts_with("contoso   LOCKED   0         0        "), "{out}");
    assert!(lines.next().unwrap().starts_with("fabrikam  LOCKED   0         0        "), "{out}");
    assert!(
        !out.contains("  refused: ") && out.contains("refused class(es) not shown (--show refused lists them)"),
        "{out}"
    );
    assert!(out.contains("  info: no open relay"), "{out}");

    let o = doorman(&["audit", "--tenant", "FABRIKAM", "--show", "refused", "--severity", "warning"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains("tenant fabrikam") && !out.contains("tenant contoso"), "{out}");
    assert!(out.contains("  refused: fabrikam.com (not in the directory)"), "{out}");
    assert!(!out.contains("  info: "), "info findings are left out: {out}");
    let o = doorman(&["audit", "--tenant", "fabrikam", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["tenants"].as_array().unwrap().len(), 1);
    assert!(!v["tenants"][0]["refused"].as_array().unwrap().is_empty(), "the JSON has them all");

    let o = doorman(&["audit", "--tenant", "nobody"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o), "doorman audit: no tenant \"nobody\"; the tenants are contoso, fabrikam\n");
}

/// A broken config is a config error for every command that only reads one: exit 2, and the
/// command named before each of its lines. (check-config and reload report it as their result.)
#[test]
fn a_broken_config_is_exit_2_with_the_command_named_everywhere() {
    let broken = temp_file("everywhere-broken.toml", "[[tenants]]\nname = 3\n");
    let b = broken.to_str().unwrap();
    let commands: [(&str, Vec<&str>); 10] = [
        ("audit", vec!["audit", "--config", b]),
        (
            "explain",
            vec![
                "explain",
                "--config",
                b,
                "--client-ip",
                "192.0.2.1",
                "--mail-from",
                "a@example.net",
                "--rcpt",
                "x@example.org",
            ],
        ),
        ("diff", vec!["diff", b, b]),
        ("trace", vec!["trace", "--config", b, "/dev/null"]),
        ("queue list", vec!["queue", "list", "--config", b]),
        ("quarantine", vec!["quarantine", "list", "--config", b]),
        ("serve", vec!["serve", "--config", b]),
        ("config publish", vec!["config", "publish", b, "--cluster", "nats://127.0.0.1:1"]),
        ("cluster status", vec!["cluster", "status", "--cluster", b]),
        ("trace", vec!["trace", "--cluster", b]),
    ];
    for (name, args) in commands {
        let o = doorman(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&format!("doorman {name}: {b}:2:8: tenants[0].name: invalid type")),
            "{args:?}: {err}"
        );
    }
    let o = doorman(&["check-config", b]);
    assert_eq!(o.status.code(), Some(1), "check-config reports it as its result");
}

/// `doorman audit` on a large config shows its progress on a terminal (a pseudo-terminal
/// from `script`), and nowhere else.
#[test]
fn audit_shows_progress_on_a_terminal_only() {
    let tenants: String = (0..100)
        .map(|i| {
            format!(
                "[[tenants]]\nname = \"t{i}\"\nmx = [\"self\"]\nrecipients = [\"a@d{i}.test\"]\naccepted_domains = [{{ domain = \"d{i}.test\" }}]\nrouting = {{ type = \"maildir\", path = \"m\" }}\n"
            )
        })
        .collect();
    let config = temp_file("hundred.toml", &tenants);
    let cmd = format!("{} audit --config {}", env!("CARGO_BIN_EXE_doorman"), config.display());
    let tty = Command::new("script").args(["-qec", &cmd, "/dev/null"]).output().expect("script (bsdutils)");
    let shown = String::from_utf8_lossy(&tty.stdout);
    assert!(shown.contains("/100"), "no progress on a terminal: {shown:?}");
    let piped = doorman(&["audit", "--config", config.to_str().unwrap()]);
    assert!(stderr(&piped).is_empty(), "{}", stderr(&piped));
    assert!(stdout(&piped).starts_with("TENANT  VERDICT"), "{}", stdout(&piped));
}

/// Undoes the five entities the HTML report writes.
fn unescape_html(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&amp;", "&")
}

#[test]
fn audit_html_is_one_page_with_summary_findings_evidence_and_fixes() {
    let root = env!("CARGO_MANIFEST_DIR");
    let o = Command::new(env!("CARGO_BIN_EXE_doorman"))
        .current_dir(root)
        .args(["audit", "--config", "examples/side-doors.toml", "--format", "html"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "the example has side doors: {}", stderr(&o));
    let html = stdout(&o);
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"), "{html}");
    assert!(html.contains("<title>doorman audit of 3 tenants</title>"));
    // The summary: a row per tenant, linked to its section, with its verdict and counts.
    assert!(html.contains("<tr><td><a href=\"#tenant-0\">contoso</a></td><td><span class=\"verdict\">SIDE DOOR OPEN</span></td><td class=\"n\">1</td><td class=\"n\">0</td><td class=\"n\">1</td>"), "{html}");
    assert!(
        html.contains(
            "<tr><td><a href=\"#tenant-2\">fabrikam</a></td><td><span class=\"verdict locked\">LOCKED</span></td>"
        ),
        "{html}"
    );
    for i in 0..3 {
        assert!(html.contains(&format!("<section id=\"tenant-{i}\">")), "section {i}");
    }
    // Findings by ID and severity, with the session that shows them.
    assert!(html.contains("<td><code>side_door</code></td><td class=\"critical\">critical</td>"), "{html}");
    assert!(
        html.contains("<td><code>scl_bypass_by_sender_domain</code></td><td class=\"critical\">critical</td>"),
        "{html}"
    );
    assert!(html.contains("<td><code>direct_send_open</code></td><td class=\"warning\">warning</td>"), "{html}");
    // The fix, as TOML and as PowerShell with single-quoted literals.
    assert!(html.contains("restrict_domains_to_ip_addresses = true"), "{html}");
    assert!(
        html.contains("Set-InboundConnector -Identity &#39;From the filter&#39; -RestrictDomainsToIPAddresses $true"),
        "{html}"
    );
    assert!(html.contains("Set-OrganizationConfig -RejectDirectSend $true"), "{html}");
    // One picture per tenant, inline; nothing fetched from anywhere.
    assert_eq!(html.matches("<svg xmlns=\"http://www.w3.org/2000/svg\"").count(), 3);
    let outside = ["<script", "<link", "<img", "src=", "url(", "href=\"http", "href=\"//"];
    assert!(outside.iter().all(|o| !html.contains(o)), "self-contained");

    // The evidence replays: the session shown for contoso's side door is accepted.
    let start = html.find("a session that shows it:<br><code>").expect("an example session") + 34;
    let line = unescape_html(&html[start..start + html[start..].find("</code>").unwrap()]);
    assert!(line.starts_with("doorman explain --config examples/side-doors.toml --client-ip "), "{line}");
    let replay = Command::new("sh")
        .current_dir(root)
        .arg("-c")
        .arg(format!("\"$DOORMAN\" {}", line.strip_prefix("doorman ").unwrap()))
        .env("DOORMAN", env!("CARGO_BIN_EXE_doorman"))
        .output()
        .unwrap();
    assert_eq!(replay.status.code(), Some(0), "{line}: {}", stdout(&replay));
    assert!(stdout(&replay).contains("accepted"), "{}", stdout(&replay));

    // Valid HTML, where the validators are installed (CI installs both).
    if Command::new("tidy").arg("-v").output().is_ok() {
        let path = temp_file("report.html", &html);
        let tidy = Command::new("tidy").args(["-q", "-e"]).arg(&path).output().unwrap();
        assert_eq!(tidy.status.code(), Some(0), "tidy: {}", stderr(&tidy));
    } else {
        eprintln!("tidy not installed; not validated by it");
    }
    let html5lib = Command::new("/usr/bin/python3").args(["-c", "import html5lib"]).output();
    if html5lib.is_ok_and(|o| o.status.success()) {
        let path = temp_file("report5.html", &html);
        let script = "import sys, html5lib; html5lib.HTMLParser(strict=True).parse(open(sys.argv[1], 'rb'))";
        let parsed = Command::new("/usr/bin/python3").args(["-c", script]).arg(&path).output().unwrap();
        assert!(parsed.status.success(), "html5lib: {}", stderr(&parsed));
    } else {
        eprintln!("python3-html5lib not installed; not validated by it");
    }
}

/// Names from the config are text on the page, never markup.
#[test]
fn audit_html_escapes_what_the_config_names() {
    let config = temp_file(
        "hostile.toml",
        r#"
[[tenants]]
name = "contoso"
mx = [{ host = "mx.contoso-gateway.net", addresses = ["80.66.20.0/28"] }]
reject_direct_send = true
recipients = ["alice@contoso.com"]
accepted_domains = [{ domain = "contoso.com" }]
[[tenants.inbound_connectors]]
name = "<script>alert('x')</script>\u0007"
type = "partner"
sender_domains = ["*"]
sender_ip_addresses = ["80.66.20.0/28"]
"#,
    );
    let o = doorman(&["audit", "--config", config.to_str().unwrap(), "--format", "html"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let html = stdout(&o);
    assert!(!html.contains("<script"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;\\u{7}"), "{html}");
    assert!(!html.contains('\u{7}'));
}

/// `config show` is `postconf -n`, and with `--defaults` `postconf`: both load back.
#[test]
fn config_show_prints_the_settings_made_and_with_defaults_every_setting() {
    let o = doorman(&["config", "show"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let set = stdout(&o);
    assert!(set.starts_with("# doorman config show: the settings examples/contoso.toml (built in) makes"), "{set}");
    assert!(set.contains("[[tenants]]\nname = \"contoso\"\n"), "{set}");
    assert!(set.contains("[[tenants.inbound_connectors.sender_ip_addresses]]\nip = \"80.66.20.0/28\"\nname = \"gateway\"\ncomment = \"NoSpamProxy\"\n"), "{set}");
    assert!(!set.contains("max_recipients"), "a default the file does not set: {set}");
    let o = doorman(&["config", "show", "--defaults"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let every = stdout(&o);
    assert!(every.contains("[server.limits]\nmax_message_size = 37748736\nmax_recipients = 500\n"), "{every}");
    assert!(every.contains("command_timeout = \"5m\""), "{every}");
    // Each loads back, and to the same config.
    for (name, text) in [("shown-set.toml", &set), ("shown-every.toml", &every)] {
        let path = temp_file(name, text);
        let again = doorman(&["config", "show", "--defaults", "--config", path.to_str().unwrap()]);
        assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
        let body = |s: &str| s.split_once('\n').map(|(_, rest)| rest.to_string()).unwrap();
        assert_eq!(body(&stdout(&again)), body(&every), "{name}");
    }
    let broken = temp_file("show-broken.toml", "[server]\nhostname = 3\n");
    let o = doorman(&["config", "show", "--config", broken.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).starts_with("doorman config show: "), "{}", stderr(&o));
}

/// From an export, the explain lines run on the config `doorman import exo` writes, as the
/// page says; run so, they replay the side door.
#[test]
fn audit_html_of_an_export_replays_on_the_imported_config() {
    let o = doorman(&["audit", "--exo", SCUBAGEAR, "--mx", "mx.contoso-gateway.net", "--format", "html"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let html = stdout(&o);
    let import = format!("doorman import exo {SCUBAGEAR} --mx mx.contoso-gateway.net &gt; tenant.toml");
    assert!(html.contains(&format!("the config <code>{import}</code> writes")), "{html}");
    assert!(
        html.contains("Set-InboundConnector")
            || html.contains("New-InboundConnector -Name &#39;Inbound only from the gateway&#39;"),
        "{html}"
    );
    let start = html.find("a session that shows it:<br><code>").expect("an example session") + 34;
    let line = unescape_html(&html[start..start + html[start..].find("</code>").unwrap()]);
    assert!(line.starts_with("doorman explain --config tenant.toml --client-ip "), "{line}");
    let dir = std::env::temp_dir().join(format!("doorman-cli-exo-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = format!(
        "\"$DOORMAN\" {} && \"$DOORMAN\" {}",
        unescape_html(&import).strip_prefix("doorman ").unwrap(),
        line.strip_prefix("doorman ").unwrap()
    );
    let replay = Command::new("sh")
        .current_dir(&dir)
        .args(["-c", &script])
        .env("DOORMAN", env!("CARGO_BIN_EXE_doorman"))
        .output()
        .unwrap();
    assert_eq!(replay.status.code(), Some(0), "{script}: {}{}", stdout(&replay), stderr(&replay));
    assert!(stdout(&replay).contains("accepted"), "{}", stdout(&replay));
}
