//! `doorman audit --exo` finds the tenant's MX in DNS (dnsmasq on loopback) and tells
//! Exchange Online's own MX from a gateway's.

use std::process::Command;

use crate::support::{Dns, test_dir};

fn import_exo(dns_port: u16) -> (Option<i32>, String) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/crates/exo/tests/fixtures/contoso-before");
    let out = Command::new(env!("CARGO_BIN_EXE_doorman"))
        .args(["import", "exo", dir, "--dns-server", &format!("127.0.0.1:{dns_port}")])
        .output()
        .unwrap();
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn the_mx_comes_from_dns_and_exchange_online_is_the_edge_itself() {
    let dns = Dns::start_with(
        &test_dir("exo-mx-eop"),
        &["--local=/contoso.com/".into(), "--mx-host=contoso.com,contoso-com.mail.protection.outlook.com,10".into()],
    );
    let (status, out) = import_exo(dns.port);
    assert_eq!(status, Some(0), "{out}");
    assert!(out.contains("mx = [\"self\"]"), "{out}");

    let dns = Dns::start_with(
        &test_dir("exo-mx-gateway"),
        &[
            "--local=/contoso.com/".into(),
            "--mx-host=contoso.com,mx2.contoso-gateway.net,20".into(),
            "--mx-host=contoso.com,mx1.contoso-gateway.net,10".into(),
        ],
    );
    let (status, out) = import_exo(dns.port);
    assert_eq!(status, Some(0), "{out}");
    assert!(
        out.contains("mx = [\"mx1.contoso-gateway.net\", \"mx2.contoso-gateway.net\"]"),
        "lowest preference first: {out}"
    );
}
