//! Real clients deliver, and the spool holds the message with the headers doorman adds.

use serde_json::json;

use crate::support::{Edge, code, text};
use crate::{MESSAGE, TENANTS};

#[test]
fn smtplib_delivers_over_starttls_and_the_spool_holds_it() {
    let edge = Edge::start("smtplib", "", TENANTS);
    let out = edge.smtplib(json!([{
        "source": "127.0.0.3", "helo": "sender.example.net", "starttls": true,
        "transactions": [{"mail_from": "sender@example.net", "rcpts": ["carol@fabrikam.com", "dave@fabrikam.com"], "message": MESSAGE}]
    }]));
    let s = &out[0];
    assert_eq!(code(&s["starttls"]), 220, "{s}");
    let data = &s["transactions"][0]["data"];
    assert_eq!(code(data), 250, "{s}");
    assert!(text(data).starts_with("250 2.0.0 Ok: queued as "), "{}", text(data));

    let spool = edge.spool();
    assert_eq!(spool.len(), 1);
    let copy = &spool[0];
    assert!(text(data).ends_with(&copy.envelope.queue_id));
    let env = &copy.envelope;
    assert_eq!(env.tenant, "fabrikam");
    assert_eq!(env.mail_from, "sender@example.net");
    let rcpts: Vec<&str> = env.recipients.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(rcpts, ["carol@fabrikam.com", "dave@fabrikam.com"]);
    assert_eq!(env.client_ip, "127.0.0.3");
    assert!(env.tls.as_deref().unwrap().starts_with("TLSv1.3 "), "{env:?}");
    assert_eq!(env.disposition, doorman_spool::Disposition::Deliver);

    let msg = String::from_utf8(copy.message.clone()).unwrap();
    let received = msg.lines().next().unwrap();
    assert_eq!(received, "Received: from sender.example.net ([127.0.0.3])");
    assert!(msg.contains("\tby edge.test (doorman) with ESMTPS\r\n\t(version=TLSv1.3 cipher=TLS13_"), "{msg}");
    assert!(msg.contains(&format!("\tid {}; ", env.queue_id)), "{msg}");
    assert!(
        msg.contains("X-Doorman-Report: tenant=fabrikam; connector=none; cip=127.0.0.3; scl=none; rules=none\r\n"),
        "{msg}"
    );
    assert!(msg.ends_with("Subject: Hello\r\n\r\nHello from the test.\r\n"), "{msg}");

    let line = edge.wait_tracking(|l| l["event"] == "receive" && l["rcpt"] == "dave@fabrikam.com");
    assert_eq!(line["queue_id"], env.queue_id.as_str());
    assert_eq!(line["tenant"], "fabrikam");
    assert_eq!(line["client_ip"], "127.0.0.3");
    assert!(line["tls"].as_str().unwrap().starts_with("TLSv1.3"));
}

#[test]
fn swaks_delivers_over_implicit_tls() {
    let edge = Edge::start("swaks", "", TENANTS);
    let port = edge.tls_port.to_string();
    let out = std::process::Command::new("swaks")
        .args(["--server", "127.0.0.1", "--port", &port, "--tlsc", "--helo", "swaks.example.net"])
        .args(["--from", "sender@example.net", "--to", "carol@fabrikam.com", "--header", "Subject: via swaks"])
        .args(["--body", "line one\n.leading dot\n", "--pipeline"])
        .output()
        .expect("swaks (apt-get install swaks)");
    let transcript = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{transcript}");
    assert!(transcript.contains("<~  250 2.0.0 Ok: queued as "), "{transcript}");

    let spool = edge.spool();
    assert_eq!(spool.len(), 1, "{transcript}");
    let msg = String::from_utf8(spool[0].message.clone()).unwrap();
    assert!(msg.contains("Subject: via swaks\r\n"), "{msg}");
    assert!(msg.contains("\r\nline one\r\n.leading dot\r\n"), "dot-unstuffing: {msg}");
    assert!(msg.contains("with ESMTPS"), "{msg}");
}
