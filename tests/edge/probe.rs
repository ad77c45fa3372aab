//! `doorman probe`'s DNS side against a real DNS server (dnsmasq) on loopback: the field report's
//! domain, whose MX names its gateway while its Exchange Online host answers too, beside a
//! domain with no cloud tenant.

use std::time::Duration;

use doorman_probe::signals::{SignalKind, discover};

use crate::support::{Dns, Edge, test_dir};

#[test]
fn a_cloud_tenant_behind_a_gateway_mx_is_found_by_its_dns_signs() {
    let dir = test_dir("probe-dns");
    let records = [
        "--local=/test/",
        "--local=/outlook.com/",
        "--local=/onmicrosoft.com/",
        "--mx-host=contoso.test,mx1.gateway.test,10",
        "--host-record=mx1.gateway.test,127.0.0.5",
        "--host-record=contoso-test.mail.protection.outlook.com,127.0.0.7",
        "--txt-record=contoso.test,MS=ms51234567",
        "--txt-record=contoso.test,v=spf1 ip4:127.0.0.5 include:spf.protection.outlook.com -all",
        "--host-record=autodiscover.outlook.com,127.0.0.8",
        "--cname=autodiscover.contoso.test,autodiscover.outlook.com",
        "--host-record=selector1-contoso-test._domainkey.contoso.onmicrosoft.com,127.0.0.8",
        "--cname=selector1._domainkey.contoso.test,selector1-contoso-test._domainkey.contoso.onmicrosoft.com",
        "--mx-host=fabrikam.test,mx.fabrikam.test,10",
        "--host-record=mx.fabrikam.test,127.0.0.6",
        "--mx-host=cloud.test,cloud-test.mail.protection.outlook.com,0",
        "--host-record=cloud-test.mail.protection.outlook.com,127.0.0.7",
        "--local=/microsoft/",
        "--mx-host=newmx.test,newmx-test.o-v1.mx.microsoft,0",
        "--host-record=newmx-test.o-v1.mx.microsoft,127.0.0.7",
        "--host-record=newmx-test.mail.protection.outlook.com,127.0.0.7",
    ];
    let dns = Dns::start_with(&dir, &records.map(String::from));
    let config = doorman_config::Dns {
        servers: vec![format!("127.0.0.1:{}", dns.port).parse().unwrap()],
        timeout: doorman_config::Seconds(Duration::from_secs(5)),
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let resolver = doorman_dns::resolver(&config).unwrap();
    let timeout = Duration::from_secs(5);

    let contoso = runtime.block_on(discover(&resolver, "contoso.test", timeout));
    assert!(contoso.failures.is_empty(), "{:?}", contoso.failures);
    assert_eq!(contoso.mx.len(), 1);
    assert_eq!((contoso.mx[0].host.as_str(), contoso.mx[0].provider), ("mx1.gateway.test", None));
    let kinds: Vec<(SignalKind, &str)> = contoso.signals.iter().map(|s| (s.kind, s.provider)).collect();
    for kind in [SignalKind::Verification, SignalKind::SpfInclude, SignalKind::Cname, SignalKind::TenantHost] {
        assert!(kinds.contains(&(kind, "Exchange Online")), "{kind:?} missing from {kinds:?}");
    }
    assert_eq!(contoso.microsoft_tenant().as_deref(), Some("contoso.onmicrosoft.com"));
    let doors: Vec<_> = contoso.side_door_candidates().collect();
    assert_eq!(doors.len(), 1, "{:?}", contoso.tenant_hosts);
    assert_eq!(doors[0].host, "contoso-test.mail.protection.outlook.com");
    assert_eq!(doors[0].addresses, ["127.0.0.7".parse::<std::net::IpAddr>().unwrap()]);

    // No cloud signs: nothing to probe.
    let fabrikam = runtime.block_on(discover(&resolver, "fabrikam.test", timeout));
    assert!(fabrikam.failures.is_empty() && fabrikam.signals.is_empty(), "{fabrikam:?}");
    assert_eq!(fabrikam.side_door_candidates().count(), 0);

    // The MX names the tenant host itself: that is the front door, not a side door.
    let cloud = runtime.block_on(discover(&resolver, "cloud.test", timeout));
    assert_eq!(cloud.tenant_hosts.len(), 1, "{cloud:?}");
    assert!(cloud.tenant_hosts[0].named_by_mx);
    assert_eq!(cloud.side_door_candidates().count(), 0);

    // The MX in Exchange Online's newer form: the derived host is the same front door.
    let newmx = runtime.block_on(discover(&resolver, "newmx.test", timeout));
    assert_eq!(newmx.tenant_hosts.len(), 2, "{newmx:?}");
    assert!(newmx.tenant_hosts.iter().all(|t| t.named_by_mx), "{newmx:?}");
    assert_eq!(newmx.side_door_candidates().count(), 0);
}

/// `doorman serve` plays Exchange Online for four tenants behind a gateway MX; dnsmasq serves
/// their DNS, with each tenant host on 127.0.0.1. `doorman probe` asks up to RCPT and gives
/// each domain its verdict.
#[test]
fn doorman_probe_gives_each_domain_its_verdict_and_never_sends_data() {
    const TENANTS: &str = r#"
[[tenants]]
name = "open"
mx = ["mx.gateway.test"]
accepted_domains = [{ domain = "open.test", type = "internal_relay" }]

[[tenants]]
name = "direct"
mx = ["mx.gateway.test"]
reject_direct_send = true
recipients = ["postmaster@direct.test"]
accepted_domains = [{ domain = "direct.test" }]

[[tenants]]
name = "directory"
mx = ["mx.gateway.test"]
recipients = ["postmaster@dir.test"]
accepted_domains = [{ domain = "dir.test" }]

[[tenants]]
name = "partner"
mx = ["mx.gateway.test"]
recipients = ["postmaster@partner.test"]
accepted_domains = [{ domain = "partner.test" }]
[[tenants.inbound_connectors]]
name = "Inbound only from the gateway"
type = "partner"
sender_domains = ["*"]
sender_ip_addresses = ["127.0.0.2"]
restrict_domains_to_ip_addresses = true
"#;
    let edge = Edge::start("probe-wire", "", TENANTS);
    let dir = test_dir("probe-wire-dns");
    let silent = std::net::TcpListener::bind(("127.0.0.9", edge.port)).unwrap();
    let mut records = vec!["--local=/test/".to_string(), "--local=/outlook.com/".to_string()];
    for (domain, address) in [
        ("open", "127.0.0.1"),
        ("partner", "127.0.0.1"),
        ("direct", "127.0.0.1"),
        ("dir", "127.0.0.1"),
        ("silent", "127.0.0.9"),
        ("counted", "127.0.0.11"),
    ] {
        records.push(format!("--mx-host={domain}.test,mx.gateway.test,10"));
        records.push(format!("--host-record={domain}-test.mail.protection.outlook.com,{address}"));
    }
    records.push("--host-record=mx.gateway.test,127.0.0.5".into());
    records.push("--mx-host=nocloud.test,mx.gateway.test,10".into());
    let dns = Dns::start_with(&dir, &records);
    let probe = |extra: &[&str]| {
        let mut args = vec![
            "probe".to_string(),
            "--dns-server".into(),
            format!("127.0.0.1:{}", dns.port),
            "--smtp-port".into(),
            edge.port.to_string(),
            "--timeout".into(),
            "2s".into(),
        ];
        if !extra.contains(&"--delay") {
            args.extend(["--delay".to_string(), "0s".to_string()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_doorman")).args(&args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (code, out, err) = probe(&["open.test"]);
    if std::env::var_os("DOORMAN_SHOW_PROBE").is_some() {
        eprintln!("{out}");
    }
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.starts_with("open.test: SIDE DOOR OPEN\n  open-test.mail.protection.outlook.com took RCPT TO:<postmaster@open.test> from an outside sender <doorman-probe@probe.invalid>"), "{out}");
    assert!(out.contains("    TLS 1.3, certificate edge.test\n"), "{out}");
    assert!(
        out.contains("New-InboundConnector -Name 'Inbound only from the gateway' -ConnectorType 'Partner'"),
        "{out}"
    );

    let (code, out, _) = probe(&["partner.test"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("partner.test: CLOSED\n  every stranger was refused (550 5.7.51)"), "{out}");

    let (code, out, _) = probe(&["nocloud.test"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("nocloud.test: NO CLOUD TENANT\n"), "{out}");

    let (code, out, _) = probe(&["silent.test"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.starts_with("silent.test: INCONCLUSIVE\n  silent-test.mail.protection.outlook.com: "), "{out}");
    drop(silent);

    // From the gateway's own address the door opens, and the probe says why that means nothing.
    let (code, out, _) = probe(&["partner.test", "--source", "127.0.0.2", "--gateway", "127.0.0.2/32"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("WARNING: the probe came from 127.0.0.2, inside the gateway's 127.0.0.2/32"), "{out}");

    // JSON, several domains: the worst verdict decides the exit status.
    let (code, out, _) = probe(&["--json", "partner.test", "open.test"]);
    assert_eq!(code, Some(1));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((v["schema"].as_str(), v["verdict"].as_str()), (Some("probe/1"), Some("side_door_open")));
    assert_eq!(v["domains"][0]["verdict"], "closed");
    assert_eq!(v["domains"][1]["verdict"], "side_door_open");
    assert_eq!(v["domains"][1]["hosts"][0]["transactions"][0]["rcpts"][0]["reply"]["meaning"], "open");
    assert_eq!(v["domains"][1]["fix"][0]["closes"], "side_door");

    // What each sender class and recipient got, per tenant.
    let list = edge.dir.join("domains.txt");
    std::fs::write(&list, "# the field report's set-up\nopen.test\n\ndirect.test  # reject_direct_send\ndir.test\n")
        .unwrap();
    let (code, out, _) = probe(&["--json", "--file", &list.display().to_string()]);
    assert_eq!(code, Some(1));
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let meaning = |d: usize, t: usize, r: usize| {
        j["domains"][d]["hosts"][0]["transactions"][t]["rcpts"][r]["reply"]["meaning"].as_str().unwrap().to_string()
    };
    let domains: Vec<&str> = j["domains"].as_array().unwrap().iter().map(|d| d["domain"].as_str().unwrap()).collect();
    assert_eq!(domains, ["open.test", "direct.test", "dir.test"]);
    // open.test: no directory at the edge, and direct send open: the fix closes both.
    assert_eq!((meaning(0, 0, 1), meaning(0, 1, 0)), ("open".into(), "open".into()));
    let closes: Vec<&str> =
        j["domains"][0]["fix"].as_array().unwrap().iter().map(|f| f["closes"].as_str().unwrap()).collect();
    assert_eq!(closes, ["side_door", "direct_send_open"]);
    // direct.test: the domain's own address is refused (5.7.68), strangers are not.
    assert_eq!((meaning(1, 0, 0), meaning(1, 1, 0)), ("open".into(), "direct_send_refused".into()));
    assert_eq!(j["domains"][1]["fix"].as_array().unwrap().len(), 1);
    // dir.test: an unknown recipient is refused at the edge (5.4.1).
    assert_eq!((meaning(2, 0, 0), meaning(2, 0, 1)), ("open".into(), "recipient_refused".into()));
    let (code, _, err) = probe(&[]);
    assert_eq!(code, Some(64), "{err}");
    let (code, _, err) = probe(&["--no-such-option"]);
    assert_eq!(code, Some(64), "{err}");
    let (code, _, err) = probe(&["--file", "/nonexistent/domains.txt"]);
    assert_eq!(code, Some(65), "{err}");
    // The bounds a good citizen keeps are in --help.
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_doorman")).args(["probe", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("[default: 10s]") && help.contains("[default: 2s]"), "{help}");

    // Never DATA: not in any transcript, and the host never had to say 354.
    for d in v["domains"].as_array().unwrap() {
        for line in d["hosts"][0]["transcript"].as_array().unwrap() {
            let line = line.as_str().unwrap();
            assert!(!line.starts_with("C: DATA") && !line.starts_with("C: BDAT"), "{line}");
        }
    }
    assert!(!edge.metrics().contains("doorman_replies_total{code=\"354\"}"), "{}", edge.metrics());
    assert!(edge.spool().is_empty());

    // A next hop that takes everything and counts DATA commands: it got none.
    let count_file = dir.join("data-count");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/counting_server.py");
    /// Killed on drop, so that a failed assertion leaves no server behind.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut counter = Killed(
        std::process::Command::new("python3")
            .arg(script)
            .args(["127.0.0.11", &edge.port.to_string()])
            .arg(&count_file)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut ready = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(counter.0.stdout.take().unwrap()), &mut ready).unwrap();
    assert_eq!(ready.trim(), "ready");
    let (code, out, _) = probe(&["counted.test"]);
    assert_eq!(code, Some(1), "everything is taken there: {out}");
    let counted = crate::support::wait_for(Duration::from_secs(10), || std::fs::read_to_string(&count_file).ok());
    drop(counter);
    assert_eq!(counted.as_deref(), Some("0"), "the probe sent DATA");

    // A good citizen: two domains on one address are asked --delay apart.
    let seen = edge.tracking().iter().filter(|l| l["event"] == "connect").count();
    let (code, _, _) = probe(&["--delay", "1s", "partner.test", "open.test"]);
    assert_eq!(code, Some(1));
    let connects = edge.wait_tracking_n(seen + 2, |l| l["event"] == "connect");
    let second = |l: &serde_json::Value| {
        let t = l["time"].as_str().unwrap();
        let (h, m, s): (f64, f64, f64) =
            (t[11..13].parse().unwrap(), t[14..16].parse().unwrap(), t[17..23].parse().unwrap());
        h * 3600.0 + m * 60.0 + s
    };
    let gap = (second(&connects[seen + 1]) - second(&connects[seen])).rem_euclid(86_400.0);
    assert!(gap >= 1.0, "the second conversation came {gap} s after the first");
}
