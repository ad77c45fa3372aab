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

/// Without `server.tls.certificate`, the edge says at start that it makes one, and the one
/// a client sees names the host (CN and SAN) and is valid for a year from now.
#[test]
fn the_default_certificate_is_self_signed_for_the_hostname_and_a_year() {
    let edge = Edge::start("self-signed", "", TENANT);
    assert!(
        edge.log().contains("no server.tls.certificate: using a self-signed certificate for edge.test"),
        "{}",
        edge.log()
    );
    let script = r#"
import socket, ssl, sys, tempfile, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
with ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), 10)) as s:
    der = s.getpeercert(binary_form=True)
with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as f:
    f.write(ssl.DER_cert_to_PEM_cert(der))
c = ssl._ssl._test_decode_cert(f.name)
subject = dict(x[0] for x in c["subject"])
days = (ssl.cert_time_to_seconds(c["notAfter"]) - ssl.cert_time_to_seconds(c["notBefore"])) / 86400
start = (time.time() - ssl.cert_time_to_seconds(c["notBefore"])) / 60
print(subject["commonName"], [v for k, v in c["subjectAltName"]], round(days), start < 10)
"#;
    let out = std::process::Command::new("python3").args(["-c", script, &edge.tls_port.to_string()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "edge.test ['edge.test'] 365 True");
}
