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

const RULE_TENANTS: &str = r#"
[[tenants]]
name = "alpha"
mx = ["self"]
recipients = ["u@alpha.test"]
accepted_domains = [{ domain = "alpha.test" }]
[[tenants.transport_rules]]
name = "Invoices go to the portal"
conditions.header_contains = [{ header = "Subject", words = ["invoice"] }]
actions.reject = { enhanced_status_code = "5.7.1", text = "Invoices go to the portal" }

[[tenants]]
name = "beta"
mx = ["self"]
recipients = ["u@beta.test"]
accepted_domains = [{ domain = "beta.test" }]
[[tenants.transport_rules]]
name = "Hold and tag"
actions = { quarantine = true, prepend_subject = "[EXT] ", set_header = { name = "X-Tag", value = "held" }, set_scl = 6 }

[[tenants]]
name = "gamma"
mx = ["self"]
recipients = ["u@gamma.test"]
accepted_domains = [{ domain = "gamma.test" }]
[[tenants.transport_rules]]
name = "Drop"
actions.delete = true
"#;

#[test]
fn each_tenant_copy_gets_its_own_rules_and_disposition() {
    let edge = Edge::start("rules", "", RULE_TENANTS);
    let message = "From: x@example.net\r\nSubject: Your invoice\r\nX-Tag: forged\r\nX-Doorman-Report: tenant=forged\r\n\r\nPay now.\r\n";
    let out = edge.smtplib(json!([
        {"source": "127.0.0.3", "transactions": [
            {"mail_from": "x@example.net", "rcpts": ["u@alpha.test", "u@beta.test", "u@gamma.test"], "message": message},
            {"mail_from": "x@example.net", "rcpts": ["u@alpha.test"], "message": message}
        ]}
    ]));
    let first = &out[0]["transactions"][0]["data"];
    assert!(text(first).starts_with("250 2.0.0 Ok: queued as "), "{}", out[0]);
    assert_eq!(text(first).matches(", ").count(), 1, "two copies kept (the deleted one is not): {}", text(first));
    assert_eq!(
        text(&out[0]["transactions"][1]["data"]),
        "550 5.7.1 Invoices go to the portal",
        "every copy rejected: the rule's reply in session"
    );

    let spool = edge.spool();
    assert_eq!(spool.len(), 2);
    let alpha = spool.iter().find(|c| c.envelope.tenant == "alpha").unwrap();
    assert_eq!(
        alpha.envelope.disposition,
        doorman_spool::Disposition::Reject { reply: "550 5.7.1 Invoices go to the portal".into() },
        "a partly rejected message keeps the copy its DSN needs"
    );
    let beta = spool.iter().find(|c| c.envelope.tenant == "beta").unwrap();
    assert_eq!(beta.envelope.disposition, doorman_spool::Disposition::Quarantine);
    assert_eq!(beta.envelope.scl, Some(6));
    let msg = String::from_utf8(beta.message.clone()).unwrap();
    assert!(msg.contains("\r\nX-Tag: held\r\n") && !msg.contains("forged"), "{msg}");
    assert!(msg.contains("\r\nSubject: [EXT] Your invoice\r\n"), "{msg}");
    assert!(
        msg.contains("X-Doorman-Report: tenant=beta; connector=none; cip=127.0.0.3; scl=6; rules=Hold and tag"),
        "{msg}"
    );

    edge.wait_tracking(|l| l["event"] == "drop" && l["rcpt"] == "u@gamma.test" && l["tenant"] == "gamma");
    let q = edge.wait_tracking(|l| l["event"] == "quarantine");
    assert_eq!(q["rcpt"], "u@beta.test");
    assert_eq!(q["scl"], 6);
    assert_eq!(q["rules"][0], "Hold and tag");
    let r = edge.wait_tracking(|l| l["event"] == "reject" && l["stage"] == "data");
    assert_eq!(r["reply"], "550 5.7.1 Invoices go to the portal");
}

/// A message far larger than what a session keeps in memory is written to the spool as it
/// arrives, and each tenant's copy holds all of it, byte for byte: over DATA (dot-stuffed)
/// and over BDAT chunks.
#[test]
fn a_large_message_reaches_every_copy_whole_over_data_and_bdat() {
    let tenants = r#"
[[tenants]]
name = "one"
mx = ["self"]
recipients = ["a@one.test"]
accepted_domains = [{ domain = "one.test" }]

[[tenants]]
name = "two"
mx = ["self"]
recipients = ["b@two.test"]
accepted_domains = [{ domain = "two.test" }]
"#;
    let edge = Edge::start("large", "[server.limits]\nmax_message_size = 20000000", tenants);
    // 3 MiB of lines, some starting with a dot, and a header block before it.
    let mut body = String::from("Subject: large\r\nFrom: s@example.net\r\n\r\n");
    for i in 0..60_000 {
        if i % 7 == 0 {
            body.push_str(".a line that starts with a dot and would end DATA if it were not stuffed\r\n");
        } else {
            body.push_str("an ordinary line of the message, long enough to add up quickly: 0123456789\r\n");
        }
    }
    let stuffed = body.replace("\r\n.", "\r\n..");
    assert!(body.len() > 4 * doorman_edge::body::HEAD_LIMIT);

    let mut c = edge.raw("127.0.0.3");
    c.reply();
    c.cmd("EHLO client.example");
    c.cmd("MAIL FROM:<s@example.net>");
    assert_eq!(c.cmd("RCPT TO:<a@one.test>"), "250 2.1.5 Recipient OK");
    assert_eq!(c.cmd("RCPT TO:<b@two.test>"), "250 2.1.5 Recipient OK");
    assert_eq!(c.cmd("DATA"), "354 Start mail input; end with <CRLF>.<CRLF>");
    c.send(stuffed.as_bytes());
    c.send(b".\r\n");
    assert!(c.reply().unwrap().starts_with("250 2.0.0 Ok: queued as "));

    // The same message in BDAT chunks of 1 MB.
    c.cmd("MAIL FROM:<s@example.net>");
    c.cmd("RCPT TO:<a@one.test>");
    c.cmd("RCPT TO:<b@two.test>");
    let chunks: Vec<&[u8]> = body.as_bytes().chunks(1_000_000).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let last = if i + 1 == chunks.len() { " LAST" } else { "" };
        c.send(format!("BDAT {}{last}\r\n", chunk.len()).as_bytes());
        c.send(chunk);
        let reply = c.reply().unwrap();
        assert!(reply.starts_with("250 "), "{reply}");
    }

    let spool = edge.spool();
    assert_eq!(spool.len(), 4, "two messages, a copy for each tenant");
    for copy in &spool {
        assert_eq!(copy.message.len() as u64, copy.envelope.size);
        assert!(copy.message.starts_with(b"Received: "), "the edge's headers come first");
        assert!(copy.message.ends_with(body.as_bytes()), "{}: the message whole", copy.envelope.tenant);
    }
    assert_eq!(edge.spool_handle().half_written().unwrap(), 0, "no spill file is left behind");
}
