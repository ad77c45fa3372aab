//! Client certificates from a test CA: asked for, never required, and only a verified
//! certificate's names match a connector.

use serde_json::json;

use crate::MESSAGE;
use crate::support::{Edge, TestCa, code, test_dir, text};

const TENANT: &str = r#"
[[tenants]]
name = "contoso"
mx = ["mx.contoso-gateway.test"]
recipients = ["alice@contoso.com"]

[[tenants.accepted_domains]]
domain = "contoso.com"
type = "authoritative"

[[tenants.inbound_connectors]]
name = "Gateway by certificate"
type = "partner"
sender_domains = ["*"]
tls_sender_certificate_name = "*.gateway.test"
restrict_domains_to_certificate = true
"#;

const RESTRICTED: &str = "550 5.7.51 TenantInboundAttribution; There is a partner connector configured that matched the message's recipient domain. The connector had either the RestrictDomainsToIPAddresses or RestrictDomainsToCertificate set";

#[test]
fn only_a_verified_certificate_with_the_right_name_matches_the_connector() {
    let certs = test_dir("certs-ca");
    let ca = TestCa::new(&certs, "doorman test CA");
    let stranger_ca = TestCa::new(&certs, "some other CA");
    let (good, good_key) = ca.issue(&certs, "mx1.gateway.test");
    let (wrong, wrong_key) = ca.issue(&certs, "mx1.elsewhere.test");
    let (unknown, unknown_key) = stranger_ca.issue(&certs, "mx1.gateway.test");
    let keys = format!("[server.tls]\nclient_ca = \"{}\"", ca.pem.display());
    let edge = Edge::start("certificates", &keys, TENANT);

    let session = |cert: &std::path::Path, key: &std::path::Path| {
        json!({
            "source": "127.0.0.3", "starttls": true, "cert": cert, "key": key,
            "transactions": [{"mail_from": "x@example.net", "rcpts": ["alice@contoso.com"], "message": MESSAGE}]
        })
    };
    let no_cert = json!({
        "source": "127.0.0.3", "starttls": true,
        "transactions": [{"mail_from": "x@example.net", "rcpts": ["alice@contoso.com"], "message": MESSAGE}]
    });
    let out = edge.smtplib(json!([
        session(&good, &good_key),
        session(&wrong, &wrong_key),
        session(&unknown, &unknown_key),
        no_cert
    ]));

    let rcpt = |i: usize| text(&out[i]["transactions"][0]["rcpts"][0]);
    assert_eq!(rcpt(0), "250 2.1.5 Recipient OK", "{}", out[0]);
    assert_eq!(code(&out[0]["transactions"][0]["data"]), 250);
    assert_eq!(rcpt(1), RESTRICTED, "a verified certificate with another name");
    // An unknown CA: the handshake completes, and the certificate counts as none.
    assert_eq!(code(&out[2]["starttls"]), 220, "{}", out[2]);
    assert!(out[2]["error"].is_null(), "{}", out[2]);
    assert_eq!(rcpt(2), RESTRICTED);
    assert_eq!(rcpt(3), RESTRICTED, "no certificate at all");

    let spool = edge.spool();
    assert_eq!(spool.len(), 1);
    assert_eq!(spool[0].envelope.connector.as_deref(), Some("Gateway by certificate"));
    assert_eq!(spool[0].envelope.certificate_names, ["mx1.gateway.test"]);

    let accepted = edge.wait_tracking(|l| l["event"] == "receive");
    assert_eq!(accepted["cert_name"], "mx1.gateway.test");
    assert_eq!(accepted["connector"], "Gateway by certificate");
    let refused = edge.wait_tracking_n(3, |l| l["event"] == "reject");
    assert_eq!(refused.len(), 3);
    assert_eq!(refused[0]["cert_name"], "mx1.elsewhere.test", "verified, wrong name");
    assert!(refused[1]["cert_name"].is_null(), "an unverifiable certificate is not named: {}", refused[1]);
}
