//! Delivery out of the spool, against real next hops on loopback: Postfix's smtp-sink (whose
//! options inject 4xx replies) and a second doorman playing the on-premises server.

use std::time::Duration;

use serde_json::json;

use crate::support::{Edge, RefusingPort, Sink, TestCa, code, test_dir, wait_for};

const MESSAGE: &str = "From: Someone <someone@fabrikam.test>\r\nTo: alice@contoso.com\r\nSubject: Quarterly figures\r\nMessage-ID: <q1@fabrikam.test>\r\n\r\nSee attached.\r\n.leading dot\r\n";

/// contoso, delivering to a Maildir per recipient under `mailboxes/`.
const MAILDIR_TENANT: &str = r#"
[[tenants]]
name = "contoso"
mx = ["self"]
recipients = ["alice@contoso.com"]
accepted_domains = [{ domain = "contoso.com" }]
routing = { type = "maildir", path = "mailboxes" }
"#;

const FAST: &str = "[server.queue]\nretry_schedule = [\"1s\"]";

fn send(edge: &Edge, from: &str, to: &[&str]) -> serde_json::Value {
    let out = edge.smtplib(json!([{"source": "127.0.0.3",
        "transactions": [{"mail_from": from, "rcpts": to, "message": MESSAGE}]}]));
    assert_eq!(code(&out[0]["transactions"][0]["data"]), 250, "{}", out[0]);
    out[0].clone()
}

#[test]
fn maildir_delivery_is_readable_by_a_real_reader() {
    let edge = Edge::start("maildir", FAST, MAILDIR_TENANT);
    send(&edge, "someone@fabrikam.test", &["alice@contoso.com"]);
    let maildir = edge.dir.join("mailboxes/alice@contoso.com");
    let line = edge.wait_tracking(|l| l["event"] == "deliver");
    assert!(line["reply"].as_str().unwrap().starts_with("250 2.0.0 delivered to "), "{line}");
    let script = format!(
        "import mailbox, json\nbox = mailbox.Maildir({:?}, create=False)\nprint(json.dumps([[m['Subject'], m['Delivered-To'], m['Return-Path'], m.get_payload()] for m in box]))",
        maildir.display().to_string()
    );
    let out = std::process::Command::new("python3").args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(read[0][0], "Quarterly figures");
    assert_eq!(read[0][1], "alice@contoso.com");
    assert_eq!(read[0][2], "<someone@fabrikam.test>");
    assert_eq!(read[0][3], "See attached.\n.leading dot\n");
    wait_for(Duration::from_secs(5), || edge.spool().is_empty().then_some(())).expect("the copy leaves the spool");
}

/// A copy whose SCL is above the tenant's junk threshold goes to the Maildir++ `.Junk`
/// folder, where a mail reader finds the Junk Email folder; the rest goes to the inbox.
#[test]
fn junk_is_delivered_to_the_junk_folder_a_real_reader_opens() {
    let rule = r#"
[[tenants.transport_rules]]
name = "Bulk senders"
sender_address_location = "envelope"
conditions.sender_domain_is = ["bulk.example"]
actions.set_scl = 6
"#;
    let edge = Edge::start("maildir-junk", FAST, &format!("{MAILDIR_TENANT}{rule}"));
    send(&edge, "news@bulk.example", &["alice@contoso.com"]);
    let junk = edge.wait_tracking(|l| l["event"] == "deliver");
    assert!(junk["reply"].as_str().unwrap().contains("/alice@contoso.com/.Junk/new/"), "{junk}");
    send(&edge, "someone@fabrikam.test", &["alice@contoso.com"]);
    let inbox = edge.wait_tracking(|l| l["event"] == "deliver" && l["mail_from"] == "someone@fabrikam.test");
    assert!(inbox["reply"].as_str().unwrap().contains("/alice@contoso.com/new/"), "{inbox}");
    let maildir = edge.dir.join("mailboxes/alice@contoso.com");
    let script = format!(
        "import mailbox, json\nbox = mailbox.Maildir({:?}, create=False)\n\
         junk = box.get_folder('Junk')\n\
         print(json.dumps([box.list_folders(), [m['Return-Path'] for m in box], [m['Return-Path'] for m in junk]]))",
        maildir.display().to_string()
    );
    let out = std::process::Command::new("python3").args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(read, json!([["Junk"], ["<someone@fabrikam.test>"], ["<news@bulk.example>"]]));
    assert!(maildir.join(".Junk/maildirfolder").is_file(), "Maildir++ marks the folder");
}

#[test]
fn a_4xx_is_retried_until_the_next_hop_takes_the_message() {
    let dir = test_dir("queue-4xx-sink");
    let tenants = |port: u16| {
        format!(
            "[[tenants]]\nname = \"contoso\"\nmx = [\"self\"]\nrecipients = [\"alice@contoso.com\"]\naccepted_domains = [{{ domain = \"contoso.com\" }}]\nrouting = {{ type = \"relay\", next_hops = [{{ host = \"127.0.0.1\", port = {port} }}] }}\n"
        )
    };
    let deferring = Sink::start(&dir, &["-r", "rcpt"]);
    let edge = Edge::start("queue-4xx", FAST, &tenants(deferring.port));
    send(&edge, "someone@fabrikam.test", &["alice@contoso.com"]);
    let defer = edge.wait_tracking(|l| l["event"] == "defer");
    assert_eq!(defer["reply"], format!("450 4.3.0 Error: command failed (from 127.0.0.1:{})", deferring.port));
    assert!(deferring.messages().is_empty());
    // The route now names a next hop that takes the message; the copy is retried there.
    let sink = Sink::start(&dir, &[]);
    edge.rewrite_config(FAST, &tenants(sink.port));
    edge.wait_generation(2);
    let delivered = edge.wait_tracking(|l| l["event"] == "deliver");
    assert_eq!(delivered["rcpt"], "alice@contoso.com");
    assert_eq!(delivered["reply"], format!("250 2.0.0 Ok (from 127.0.0.1:{})", sink.port));
    let got = wait_for(Duration::from_secs(5), || sink.messages().pop()).unwrap();
    assert!(got.contains("X-Rcpt-Args: <alice@contoso.com>"), "{got}");
    assert!(got.contains("Subject: Quarterly figures"), "{got}");
    assert!(got.contains("\n\nSee attached.\n.leading dot\n"), "dot-stuffed on the wire, undone by the sink: {got}");
    assert!(deferring.messages().is_empty(), "the deferring hop never took it");
    wait_for(Duration::from_secs(5), || edge.spool().is_empty().then_some(())).expect("the copy leaves the spool");
}

/// A second doorman plays the on-premises server: TLS required and verified against a test CA,
/// the edge presents its own client certificate, and an unknown recipient is refused with 5xx.
#[test]
fn relay_over_verified_tls_and_a_5xx_gives_a_dsn() {
    let certs = test_dir("queue-tls-ca");
    let ca = TestCa::new(&certs, "hybrid test CA");
    let (onprem_cert, onprem_key) = ca.issue(&certs, "localhost");
    let (edge_cert, edge_key) = ca.issue(&certs, "edge.contoso-cloud.test");
    let onprem = Edge::start(
        "queue-onprem",
        &format!(
            "[server.tls]\ncertificate = \"{}\"\nkey = \"{}\"\nclient_ca = \"{}\"",
            onprem_cert.display(),
            onprem_key.display(),
            ca.pem.display()
        ),
        r#"
[[tenants]]
name = "onprem"
mx = ["self"]
recipients = ["alice@contoso.com", "someone@fabrikam.test"]
accepted_domains = [{ domain = "contoso.com" }, { domain = "fabrikam.test" }]
"#,
    );
    let tenants = format!(
        r#"
[[tenants]]
name = "contoso"
mx = ["self"]
recipients = ["alice@contoso.com", "ghost@contoso.com"]
accepted_domains = [{{ domain = "contoso.com" }}]
[tenants.routing]
type = "relay"
next_hops = [{{ host = "localhost", port = {port} }}]
tls = "required"
tls_ca = "{ca}"
tls_client_certificate = "{cert}"
tls_client_key = "{key}"
"#,
        port = onprem.port,
        ca = ca.pem.display(),
        cert = edge_cert.display(),
        key = edge_key.display()
    );
    let edge = Edge::start("queue-edge", FAST, &tenants);
    send(&edge, "someone@fabrikam.test", &["alice@contoso.com", "ghost@contoso.com"]);

    let fail = edge.wait_tracking(|l| l["event"] == "fail");
    assert_eq!(fail["rcpt"], "ghost@contoso.com");
    assert!(
        fail["reply"]
            .as_str()
            .unwrap()
            .starts_with("550 5.4.1 Recipient address rejected: Access denied (from localhost:")
    );
    edge.wait_tracking(|l| l["event"] == "deliver" && l["rcpt"] == "alice@contoso.com");
    edge.wait_tracking(|l| l["event"] == "dsn" && l["rcpt"] == "someone@fabrikam.test");

    // On premises: the message for alice, over verified TLS with the edge's certificate, and the DSN.
    let copies = wait_for(Duration::from_secs(10), || Some(onprem.spool()).filter(|s| s.len() == 2))
        .expect("two copies on premises");
    let message = copies.iter().find(|c| !c.envelope.mail_from.is_empty()).unwrap();
    assert_eq!(message.envelope.recipients.len(), 1);
    assert_eq!(message.envelope.recipients[0].address, "alice@contoso.com");
    assert!(message.envelope.tls.as_deref().unwrap().starts_with("TLSv1.3"));
    assert_eq!(message.envelope.certificate_names, ["edge.contoso-cloud.test"]);
    let dsn = copies.iter().find(|c| c.envelope.mail_from.is_empty()).unwrap();
    assert_eq!(dsn.envelope.recipients[0].address, "someone@fabrikam.test");
    let text = String::from_utf8(dsn.message.clone()).unwrap();
    for want in [
        "Content-Type: multipart/report; report-type=delivery-status;",
        "Subject: Undelivered Mail Returned to Sender",
        "Final-Recipient: rfc822; ghost@contoso.com\r\nAction: failed\r\nStatus: 5.4.1\r\n",
        "Diagnostic-Code: smtp; 550 5.4.1 Recipient address rejected: Access denied",
        "Content-Type: text/rfc822-headers",
        "Subject: Quarterly figures\r\nMessage-ID: <q1@fabrikam.test>",
    ] {
        assert!(text.contains(want), "{want:?} missing from the DSN:\n{text}");
    }
    assert!(!text.contains("See attached"), "a DSN returns headers only");
    assert!(!text.contains("alice@contoso.com>: "), "no DSN line for the delivered recipient");
    wait_for(Duration::from_secs(5), || edge.spool().is_empty().then_some(()))
        .expect("both copies leave the edge's spool");
}

#[test]
fn a_dead_next_hop_does_not_stall_another_tenant_and_its_mail_expires_with_a_dsn() {
    let dir = test_dir("queue-dead-sink");
    let sink = Sink::start(&dir, &[]);
    let refusing = RefusingPort::new();
    let (live, dead) = (sink.port, refusing.port);
    let tenants = format!(
        r#"
[[tenants]]
name = "alive"
mx = ["self"]
recipients = ["a@alive.test", "someone@alive.test"]
accepted_domains = [{{ domain = "alive.test" }}]
routing = {{ type = "relay", next_hops = [{{ host = "127.0.0.1", port = {live} }}] }}

[[tenants]]
name = "stuck"
mx = ["self"]
recipients = ["b@stuck.test"]
accepted_domains = [{{ domain = "stuck.test" }}]
routing = {{ type = "relay", next_hops = [{{ host = "127.0.0.1", port = {dead} }}] }}
"#
    );
    let edge = Edge::start("queue-dead", "[server.queue]\nretry_schedule = [\"1s\"]\nmax_age = \"4s\"", &tenants);
    send(&edge, "someone@alive.test", &["b@stuck.test"]);
    send(&edge, "x@example.net", &["a@alive.test"]);
    edge.wait_tracking(|l| l["event"] == "defer" && l["rcpt"] == "b@stuck.test");
    edge.wait_tracking(|l| l["event"] == "deliver" && l["rcpt"] == "a@alive.test");
    assert!(!edge.spool().iter().any(|c| c.envelope.tenant == "alive"), "the other tenant's mail flowed");

    let expired = wait_for(Duration::from_secs(15), || {
        edge.tracking().into_iter().find(|l| l["event"] == "fail" && l["rcpt"] == "b@stuck.test")
    })
    .expect("the stuck copy expires");
    assert!(expired["reply"].as_str().unwrap().starts_with("550 5.4.7 Delivery time expired"), "{expired}");
    // Its DSN goes through the sender's tenant route... which is the stuck tenant's: the copy is
    // the stuck tenant's. Here the sender is alive.test, routed by the stuck tenant to the dead
    // hop, so the DSN waits too; the tracking log shows it was made.
    edge.wait_tracking(|l| l["event"] == "dsn" && l["rcpt"] == "someone@alive.test");
}

#[test]
fn queue_and_quarantine_commands_work_while_the_server_runs() {
    let dir = test_dir("queue-admin-sink");
    let refusing = RefusingPort::new();
    let tenants = |port: u16| {
        format!(
            r#"
[[tenants]]
name = "contoso"
mx = ["self"]
recipients = ["alice@contoso.com", "bob@contoso.com"]
accepted_domains = [{{ domain = "contoso.com" }}]
routing = {{ type = "relay", next_hops = [{{ host = "127.0.0.1", port = {port} }}] }}
[[tenants.transport_rules]]
name = "Hold invoices"
conditions.header_contains = [{{ header = "Subject", words = ["invoice"] }}]
actions = {{ quarantine = true, set_scl = 5 }}
"#
        )
    };
    const HOURLY: &str = "[server.queue]\nretry_schedule = [\"1h\"]";
    let edge = Edge::start("queue-admin", HOURLY, &tenants(refusing.port));
    let doorman = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_doorman"))
            .args(args)
            .arg("--config")
            .arg(&edge.config)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let queued = |rcpt: &str, subject: &str| {
        let out = edge
            .smtplib(json!([{"source": "127.0.0.3", "transactions": [{"mail_from": "x@example.net", "rcpts": [rcpt],
            "message": format!("Subject: {subject}\r\n\r\nbody\r\n")}]}]));
        let reply = out[0]["transactions"][0]["data"][1].as_str().unwrap().to_string();
        reply.rsplit(' ').next().unwrap().to_string()
    };
    let first = queued("alice@contoso.com", "hello");
    let second = queued("bob@contoso.com", "hello again");
    let held = queued("alice@contoso.com", "your invoice");
    edge.wait_tracking(|l| l["event"] == "defer" && l["queue_id"] == second.as_str());

    let (status, list, _) = doorman(&["queue", "list"]);
    assert_eq!(status, Some(0));
    assert!(list.contains(&first) && list.contains(&second) && !list.contains(&held), "{list}");
    assert!(list.contains("451 4.4.1 No next hop took the message"), "{list}");
    assert!(list.ends_with("2 copies\n"), "{list}");
    assert!(list.starts_with("QUEUE-ID          ARRIVAL"), "{list}");
    let (status, json, _) = doorman(&["queue", "list", "--json"]);
    assert_eq!(status, Some(0));
    let entries: serde_json::Value = serde_json::from_str(&json).unwrap();
    let one = entries.as_array().unwrap().iter().find(|e| e["queue_id"] == first.as_str()).unwrap();
    assert_eq!(
        (one["status"].as_str(), one["tenant"].as_str(), one["attempts"].as_u64()),
        (Some("deferred"), Some("contoso"), Some(1)),
        "{one:#}"
    );
    assert_eq!(one["recipients"], json!(["alice@contoso.com"]));
    assert!(one["size"].as_u64().unwrap() > 20 && one["arrival"].as_str().unwrap().starts_with("20"), "{one:#}");
    assert!(one["last_reply"].as_str().unwrap().starts_with("451 4.4.1"), "{one:#}");
    let (_, show, _) = doorman(&["queue", "show", &first]);
    assert!(show.contains("tenant:     contoso") && show.contains("alice@contoso.com  pending  451 4.4.1"), "{show}");
    assert!(
        show.contains("status:     deferred") && show.contains("Subject: hello\n") && !show.contains("body"),
        "{show}"
    );
    let (_, full, _) = doorman(&["queue", "show", &first, "--full"]);
    assert!(full.contains("Subject: hello\n") && full.ends_with("\nbody\n"), "postcat-like, body included: {full}");
    let (_, shown, _) = doorman(&["queue", "show", &first, "--json"]);
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!((shown["envelope"]["tenant"].as_str(), shown["held"].as_bool()), (Some("contoso"), Some(false)));

    let (_, quarantine, _) = doorman(&["quarantine", "list"]);
    assert!(quarantine.contains(&held) && quarantine.contains("Hold invoices"), "{quarantine}");

    // Every administrative action is in the tracking log, with who ran it.
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").unwrap().uid();
    let admin_line = |event: &str, id: &str, rcpt: &str| {
        let l = edge.wait_tracking(|l| l["event"] == event && l["queue_id"] == id);
        assert_eq!(
            (l["rcpt"].as_str(), l["tenant"].as_str(), l["uid"].as_u64()),
            (Some(rcpt), Some("contoso"), Some(u64::from(uid))),
            "{l}"
        );
    };
    assert_eq!(
        doorman(&["queue", "remove", &second]),
        (Some(0), format!("{second} removed\n1 copies removed\n"), String::new())
    );
    admin_line("admin_remove", &second, "bob@contoso.com");
    // Held, the copy leaves delivery, and says so, until released.
    assert_eq!(
        doorman(&["queue", "hold", "ALL"]),
        (Some(0), format!("{first} put on hold\n1 copies put on hold\n"), String::new())
    );
    admin_line("admin_hold", &first, "alice@contoso.com");
    let (_, list, _) = doorman(&["queue", "list"]);
    assert!(list.lines().any(|l| l.starts_with(first.as_str()) && l.contains(" held ")), "{list}");
    let (status, _, err) = doorman(&["queue", "retry", &first]);
    assert_eq!(status, Some(1), "a held copy is not retried");
    assert!(err.contains(&format!("no queued copy {first}")), "{err}");
    let deleted = queued("bob@contoso.com", "another invoice");
    assert_eq!(doorman(&["quarantine", "delete", &deleted]), (Some(0), format!("{deleted} deleted\n"), String::new()));
    admin_line("admin_delete", &deleted, "bob@contoso.com");
    assert!(!doorman(&["quarantine", "list"]).1.contains(&deleted));
    let (status, _, err) = doorman(&["queue", "show", "../../etc/passwd"]);
    assert_eq!(status, Some(1));
    assert!(err.contains("is not a queue id"), "{err}");

    // A next hop comes up: retry one copy and release the quarantined one, without waiting
    // for the hour-long schedule.
    let sink = Sink::start(&dir, &[]);
    edge.rewrite_config(HOURLY, &tenants(sink.port));
    edge.wait_generation(2);
    assert_eq!(
        doorman(&["queue", "release", &first]),
        (Some(0), format!("{first} released from hold\n1 copies released from hold\n"), String::new())
    );
    admin_line("admin_hold_release", &first, "alice@contoso.com");
    assert_eq!(doorman(&["queue", "retry", &first]).0, Some(0));
    admin_line("admin_retry", &first, "alice@contoso.com");
    edge.wait_tracking(|l| l["event"] == "deliver" && l["queue_id"] == first.as_str());
    assert_eq!(doorman(&["quarantine", "release", &held]).0, Some(0));
    admin_line("admin_release", &held, "alice@contoso.com");
    edge.wait_tracking(|l| l["event"] == "deliver" && l["queue_id"] == held.as_str());
    let delivered = wait_for(Duration::from_secs(5), || Some(sink.messages()).filter(|m| m.len() == 2)).unwrap();
    assert!(delivered.iter().any(|m| m.contains("Subject: your invoice")));
    assert!(!delivered.iter().any(|m| m.contains("Subject: hello again")), "the removed copy was not sent");
    let (_, list, _) = doorman(&["queue", "list"]);
    assert!(list.ends_with("0 copies\n"), "{list}");

    // The next hop goes away again: `remove ALL` empties the queue, held copies too.
    edge.rewrite_config(HOURLY, &tenants(refusing.port));
    edge.wait_generation(3);
    let stuck = [queued("alice@contoso.com", "one"), queued("bob@contoso.com", "two")];
    edge.wait_tracking(|l| l["event"] == "defer" && l["queue_id"] == stuck[1].as_str());
    assert_eq!(doorman(&["queue", "hold", &stuck[0]]).0, Some(0));
    let (status, out, _) = doorman(&["queue", "remove", "ALL"]);
    assert_eq!(status, Some(0));
    assert!(out.contains(&stuck[0]) && out.contains(&stuck[1]) && out.ends_with("2 copies removed\n"), "{out}");
    admin_line("admin_remove", &stuck[0], "alice@contoso.com");
    let (_, list, _) = doorman(&["queue", "list"]);
    assert!(list.ends_with("0 copies\n"), "{list}");
}

#[test]
fn kill_9_during_delivery_then_restart_delivers_everything_at_least_once() {
    let dir = test_dir("queue-crash-sink");
    // The sink answers DATA after a second, so ten connections to it deliver at most ten
    // messages a second: the kill always comes with most of the queue still to go.
    let sink = Sink::start(&dir, &["-w", "1"]);
    let port = sink.port;
    let tenants = format!(
        "[[tenants]]\nname = \"contoso\"\nmx = [\"self\"]\nrecipients = [\"alice@contoso.com\"]\naccepted_domains = [{{ domain = \"contoso.com\" }}]\nrouting = {{ type = \"relay\", next_hops = [{{ host = \"127.0.0.1\", port = {port} }}] }}\n"
    );
    let mut edge = Edge::start("queue-crash", "[server.queue]\nhold = true\nretry_schedule = [\"1s\"]", &tenants);
    const N: usize = 100;
    let transactions: Vec<_> = (0..N)
        .map(|k| json!({"mail_from": "x@example.net", "rcpts": ["alice@contoso.com"], "message": format!("Subject: load {k}\r\n\r\nbody\r\n")}))
        .collect();
    let out = edge.smtplib(json!([{"source": "127.0.0.3", "transactions": transactions}]));
    let acked = out[0]["transactions"].as_array().unwrap().iter().filter(|t| code(&t["data"]) == 250).count();
    assert_eq!(acked, N);

    // Release the queue, and kill the server while it delivers.
    edge.rewrite_config("[server.queue]\nretry_schedule = [\"1s\"]", &tenants);
    wait_for(Duration::from_secs(10), || (sink.messages().len() >= 10).then_some(())).expect("delivery started");
    edge.kill9();
    let before_restart = sink.messages().len();
    assert!(before_restart < N, "everything went out before the kill; the test proves nothing");
    edge.spawn();

    let subject = |m: &String| m.lines().find(|l| l.starts_with("Subject: load ")).map(str::to_string);
    let all = wait_for(Duration::from_secs(30), || {
        let got = sink.messages();
        let unique: std::collections::HashSet<String> = got.iter().filter_map(subject).collect();
        (unique.len() == N).then_some(got)
    })
    .expect("every acknowledged message is delivered after the restart");
    let duplicates = all.len() - N;
    eprintln!(
        "delivered {} times for {N} messages ({duplicates} duplicates; {before_restart} before the kill)",
        all.len()
    );
    assert!(duplicates <= 10, "at most the deliveries in flight at the kill repeat: {duplicates}");
    wait_for(Duration::from_secs(10), || edge.spool().is_empty().then_some(())).expect("the spool empties");
}

#[test]
fn next_hops_are_tried_in_priority_order_and_a_dead_one_is_skipped() {
    let dir = test_dir("queue-failover-sink");
    let sink = Sink::start(&dir, &[]);
    let refusing = RefusingPort::new();
    let (dead, backup) = (refusing.port, sink.port);
    let tenants = format!(
        r#"
[[tenants]]
name = "contoso"
mx = ["self"]
recipients = ["alice@contoso.com"]
accepted_domains = [{{ domain = "contoso.com" }}]
[tenants.routing]
type = "relay"
next_hops = [{{ host = "127.0.0.1", port = {backup}, priority = 20 }}, {{ host = "127.0.0.1", port = {dead}, priority = 10 }}]
"#
    );
    let edge = Edge::start("queue-failover", FAST, &tenants);
    send(&edge, "someone@fabrikam.test", &["alice@contoso.com"]);
    let line = edge.wait_tracking(|l| l["event"] == "deliver");
    assert_eq!(line["reply"], format!("250 2.0.0 Ok (from 127.0.0.1:{backup})"));
    assert!(!edge.tracking().iter().any(|l| l["event"] == "defer"), "one attempt, two hops");
    assert_eq!(wait_for(Duration::from_secs(5), || Some(sink.messages()).filter(|m| !m.is_empty())).unwrap().len(), 1);
}

/// A message far larger than any buffer is delivered whole, read from the spool piece by
/// piece: to smtp-sink over SMTP (dot-stuffed on the way), and into a Maildir (as LF lines).
#[test]
fn a_large_message_is_delivered_whole_to_a_next_hop_and_a_maildir() {
    let dir = test_dir("queue-large-sink");
    let sink = Sink::start(&dir, &[]);
    let tenants = format!(
        r#"
[[tenants]]
name = "relayed"
mx = ["self"]
recipients = ["a@relayed.test"]
accepted_domains = [{{ domain = "relayed.test" }}]
routing = {{ type = "relay", next_hops = [{{ host = "127.0.0.1", port = {port} }}] }}

[[tenants]]
name = "local"
mx = ["self"]
recipients = ["b@local.test"]
accepted_domains = [{{ domain = "local.test" }}]
routing = {{ type = "maildir", path = "mailboxes" }}
"#,
        port = sink.port
    );
    let edge = Edge::start(
        "queue-large",
        "[server.queue]\nretry_schedule = [\"1s\"]\n[server.limits]\nmax_message_size = 20000000",
        &tenants,
    );
    let mut body = String::from("Subject: large\r\n\r\n");
    for i in 0..60_000 {
        body.push_str(if i % 5 == 0 {
            ".dot line\r\n"
        } else {
            "an ordinary line of the message: 0123456789 abcdefghij\r\n"
        });
    }
    let out = edge.smtplib(json!([{"source": "127.0.0.3",
        "transactions": [{"mail_from": "s@example.net", "rcpts": ["a@relayed.test", "b@local.test"], "message": body}]}]));
    assert_eq!(code(&out[0]["transactions"][0]["data"]), 250, "{}", out[0]);
    edge.wait_tracking_n(2, |l| l["event"] == "deliver");
    let relayed = wait_for(Duration::from_secs(10), || sink.messages().pop()).unwrap();
    // smtp-sink writes what it received with LF line ends, dot-stuffing undone.
    assert!(relayed.contains(&body.replace("\r\n", "\n")), "the relayed copy is whole");
    let maildir = edge.dir.join("mailboxes/b@local.test/new");
    let file = std::fs::read_dir(&maildir).unwrap().next().unwrap().unwrap().path();
    let local = std::fs::read_to_string(file).unwrap();
    assert!(local.ends_with(&body.replace("\r\n", "\n")), "the Maildir copy is whole");
    wait_for(Duration::from_secs(5), || edge.spool().is_empty().then_some(())).expect("both copies leave the spool");
}

/// A copy damaged on disk (here cut short while the server was down) is set aside at start,
/// and one whose delivery state turns out unreadable is set aside by delivery: neither is
/// delivered, both are in `corrupt/` with why, in the tracking log and in `queue list`.
#[test]
fn damaged_copies_are_set_aside_reported_and_never_delivered() {
    let mut edge = Edge::start("queue-corrupt", "[server.queue]\nhold = true", MAILDIR_TENANT);
    for _ in 0..2 {
        send(&edge, "someone@fabrikam.test", &["alice@contoso.com"]);
    }
    let ids: Vec<String> = edge.spool().iter().map(|f| f.envelope.queue_id.clone()).collect();
    assert_eq!(ids.len(), 2);
    edge.kill9();
    let root = edge.spool_handle().root().to_path_buf();
    let cut = root.join("incoming").join(&ids[0]);
    let bytes = std::fs::read(&cut).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() - 5]).unwrap();
    std::fs::create_dir_all(root.join("state")).unwrap();
    std::fs::write(root.join("state").join(format!("{}.json", ids[1])), "{ not a state").unwrap();

    edge.rewrite_config(FAST, MAILDIR_TENANT);
    edge.spawn();
    let at_start = edge.wait_tracking(|r| r["event"] == "set_aside" && r["queue_id"] == ids[0].as_str());
    let reply = at_start["reply"].as_str().unwrap();
    assert!(
        reply.starts_with("set aside in corrupt/: ") && reply.contains("message bytes, the envelope says"),
        "{reply}"
    );
    let later = edge.wait_tracking(|r| r["event"] == "set_aside" && r["queue_id"] == ids[1].as_str());
    assert!(later["reply"].as_str().unwrap().contains(&format!("state of {}", ids[1])), "{later}");
    assert!(edge.log().contains(&format!("copy {} set aside in corrupt/: ", ids[0])), "{}", edge.log());

    let corrupt = root.join("corrupt");
    assert_eq!(std::fs::read(corrupt.join(&ids[0])).unwrap(), &bytes[..bytes.len() - 5], "kept as it was");
    assert_eq!(std::fs::read_to_string(corrupt.join(format!("{}.json", ids[1]))).unwrap(), "{ not a state");
    assert!(std::fs::read_to_string(corrupt.join(format!("{}.why", ids[0]))).unwrap().contains("the envelope says"));
    assert!(
        !edge
            .dir
            .join("mailboxes")
            .join("alice@contoso.com")
            .join("new")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some())
    );
    assert!(edge.tracking().iter().all(|r| r["event"] != "deliver"), "nothing was delivered");
    assert!(edge.spool().is_empty());

    let (status, out, err) = edge.doorman(&["queue", "list", "--config", edge.config.to_str().unwrap()]);
    assert_eq!(status, 0, "{err}");
    for id in &ids {
        assert!(out.contains(&format!("set aside in corrupt/, not delivered: {id}: ")), "{out}");
    }
}
