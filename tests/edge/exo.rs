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

/// A domain with no MX, or none at all, is said in words, with what to do instead.
#[test]
fn a_failed_mx_lookup_is_said_plainly() {
    let dns = Dns::start_with(&test_dir("exo-mx-none"), &["--local=/contoso.com/".into()]);
    let (status, out) = import_exo(dns.port);
    assert_eq!(status, Some(2), "{out}");
    assert_eq!(
        out.trim_end(),
        "doorman import exo: MX lookup for contoso.com: contoso.com does not exist (NXDOMAIN); pass the MX with --mx"
    );
    let dns = Dns::start_with(
        &test_dir("exo-mx-nodata"),
        &["--local=/contoso.com/".into(), "--address=/contoso.com/192.0.2.25".into()],
    );
    let (status, out) = import_exo(dns.port);
    assert_eq!(status, Some(2), "{out}");
    assert_eq!(
        out.trim_end(),
        "doorman import exo: MX lookup for contoso.com: contoso.com has no MX record; pass the MX with --mx"
    );
}

/// The imported tenant runs on doorman's edge and answers as Exchange Online would.
#[test]
fn an_imported_tenant_gets_exchange_online_replies_on_the_edge() {
    let replies = |fixture: &str| {
        let dir = format!("{}/crates/exo/tests/fixtures/{fixture}", env!("CARGO_MANIFEST_DIR"));
        let out = Command::new(env!("CARGO_BIN_EXE_doorman"))
            .args(["import", "exo", &dir, "--mx", "mx.contoso-gateway.net"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let edge = crate::support::Edge::start(&format!("exo-{fixture}"), "", &String::from_utf8_lossy(&out.stdout));
        let got = edge.smtplib(serde_json::json!([{"source": "127.0.0.3",
            "transactions": [{"mail_from": "spam@example.net", "rcpts": ["postmaster@contoso.com"]}]}]));
        crate::support::text(&got[0]["transactions"][0]["rcpts"][0])
    };
    assert_eq!(replies("contoso-before"), "250 2.1.5 Recipient OK", "the side door is open before the fix");
    assert_eq!(
        replies("contoso-after"),
        "550 5.7.51 TenantInboundAttribution; There is a partner connector configured that matched the message's recipient domain. The connector had either the RestrictDomainsToIPAddresses or RestrictDomainsToCertificate set"
    );
}
