//! The edge as a running service: kill -9 during a load, SIGTERM drain, the tracking log
//! through `doorman trace`, and the metrics endpoint. Reload is in `reload.rs`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::support::{Edge, code, wait_for};
use crate::{MESSAGE, TENANTS};

#[test]
fn kill_9_during_a_load_loses_no_acknowledged_message() {
    let mut edge = Edge::start("crash", "", TENANTS);
    let script = r#"
import smtplib, sys, threading
port, total = int(sys.argv[1]), int(sys.argv[2])
lock = threading.Lock()
state = {"next": 0}
def worker():
    try:
        s = smtplib.SMTP("127.0.0.1", port, source_address=("127.0.0.3", 0), timeout=10)
        s.ehlo("load.example")
        while True:
            with lock:
                k = state["next"]; state["next"] += 1
            if k >= total:
                return
            s.mail("x@example.net"); s.rcpt("carol@fabrikam.com")
            code, msg = s.data(("Subject: load %d\r\n\r\nbody %d\r\n" % (k, k)).encode())
            if code == 250:
                say("OK %d %s" % (k, msg.decode().split()[-1]))
    except Exception as e:
        say("ERR %s" % e)
def say(line):
    with lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
threads = [threading.Thread(target=worker) for _ in range(4)]
[t.start() for t in threads]; [t.join() for t in threads]
"#;
    let mut load = Command::new("python3")
        .args(["-c", script, &edge.port.to_string(), "100000"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut acked: Vec<(u64, String)> = Vec::new();
    let mut lines = BufReader::new(load.stdout.take().unwrap()).lines();
    while acked.len() < 150 {
        let line = lines.next().expect("the load ended early").unwrap();
        let mut w = line.split(' ');
        if w.next() == Some("OK") {
            acked.push((w.next().unwrap().parse().unwrap(), w.next().unwrap().to_string()));
        }
    }
    edge.kill9();
    for line in lines {
        let line = line.unwrap();
        let mut w = line.split(' ');
        if w.next() == Some("OK") {
            acked.push((w.next().unwrap().parse().unwrap(), w.next().unwrap().to_string()));
        }
    }
    load.wait().unwrap();

    let spool = edge.spool(); // Every file in incoming/ reads back whole, or this panics.
    for (k, id) in &acked {
        let copy =
            spool.iter().find(|c| &c.envelope.queue_id == id).unwrap_or_else(|| panic!("acknowledged {id} lost"));
        assert!(copy.message.ends_with(format!("Subject: load {k}\r\n\r\nbody {k}\r\n").as_bytes()));
    }
    eprintln!(
        "kill -9 under load: {} acknowledged, all {} in the spool, {} copies in all",
        acked.len(),
        acked.len(),
        spool.len()
    );
    // Beyond the acknowledged ones, only the copies whose 250 was on its way at the kill may
    // be there: one per sender.
    assert!(spool.len() <= acked.len() + 4, "{} copies for {} acknowledged", spool.len(), acked.len());
    // A restart clears half-written copies and serves again.
    edge.spawn();
    assert_eq!(edge.spool_handle().half_written().unwrap(), 0);
    let out = edge.smtplib(json!([{"source": "127.0.0.3",
        "transactions": [{"mail_from": "x@example.net", "rcpts": ["carol@fabrikam.com"], "message": MESSAGE}]}]));
    assert_eq!(code(&out[0]["transactions"][0]["data"]), 250);
}

#[test]
fn sigterm_lets_transactions_finish_then_says_421() {
    let mut edge = Edge::start("drain", "[server.limits]\nshutdown_grace = \"2s\"", TENANTS);
    let mut busy = edge.raw("127.0.0.3");
    busy.reply();
    busy.cmd("EHLO busy.example");
    busy.cmd("MAIL FROM:<x@example.net>");
    assert_eq!(busy.cmd("RCPT TO:<carol@fabrikam.com>"), "250 2.1.5 Recipient OK");
    let mut idle = edge.raw("127.0.0.3");
    idle.reply();
    idle.cmd("EHLO idle.example");

    edge.signal("-TERM");
    wait_for(Duration::from_secs(3), || edge.log().contains("shutting down").then_some(())).unwrap();
    wait_for(Duration::from_secs(3), || std::net::TcpStream::connect(("127.0.0.1", edge.port)).is_err().then_some(()))
        .expect("still accepting");

    assert_eq!(busy.cmd("DATA"), "354 Start mail input; end with <CRLF>.<CRLF>");
    busy.send(b"Subject: finishing\r\n\r\nx\r\n.\r\n");
    assert!(busy.reply().unwrap().starts_with("250 2.0.0 Ok: queued as "));
    assert_eq!(busy.cmd("MAIL FROM:<x@example.net>"), "421 4.3.2 edge.test Service shutting down, closing connection");

    idle.set_timeout(Duration::from_secs(5));
    assert_eq!(idle.reply().unwrap(), "421 4.3.2 edge.test Service shutting down, closing connection");
    assert!(idle.closed());
    let status = edge.wait_exit(Duration::from_secs(10)).expect("the edge did not stop");
    assert!(status.success());
    assert_eq!(edge.spool().len(), 1);
}

#[test]
fn doorman_trace_and_the_metrics_endpoint_show_what_happened() {
    let edge = Edge::start("trace", "", TENANTS);
    edge.smtplib(json!([
        {"source": "127.0.0.3", "transactions": [{"mail_from": "x@example.net", "rcpts": ["carol@fabrikam.com"], "message": MESSAGE}]},
        {"source": "127.0.0.3", "transactions": [{"mail_from": "x@example.net", "rcpts": ["alice@contoso.com"], "message": MESSAGE}]}
    ]));
    edge.wait_tracking(|l| l["event"] == "reject");
    let log = edge.dir.join("tracking.jsonl");
    let trace = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_doorman")).arg("trace").arg(&log).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (status, table, _) = trace(&["--event", "reject", "--client-ip", "127.0.0.3", "--since", "1h"]);
    assert_eq!(status, Some(0));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("TIME") && lines[0].contains("RECIPIENT") && lines[0].ends_with("REPLY"), "{table}");
    assert_eq!(lines.len(), 2, "{table}");
    assert!(
        lines[1].contains("alice@contoso.com") && lines[1].contains("contoso") && lines[1].contains("550 5.7.51 "),
        "{table}"
    );

    let (status, json_lines, _) = trace(&["--rcpt", "@fabrikam.com", "--json"]);
    assert_eq!(status, Some(0));
    let v: serde_json::Value = serde_json::from_str(json_lines.lines().next().unwrap()).unwrap();
    assert_eq!(v["event"], "receive");
    assert_eq!(v["tenant"], "fabrikam");

    let (status, _, _) = trace(&["--tenant", "nobody"]);
    assert_eq!(status, Some(1), "nothing matched");
    let (status, _, err) = trace(&["--event", "bounce"]);
    assert_eq!(status, Some(2));
    assert!(err.contains("--event \"bounce\": expected one of connect, reject"), "{err}");

    let metrics = edge.metrics();
    assert!(metrics.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4"), "{metrics}");
    for want in [
        "doorman_connections_accepted_total 2",
        "doorman_replies_total{code=\"550\"} 1",
        "doorman_messages_total{tenant=\"fabrikam\",outcome=\"receive\"} 1",
        "doorman_messages_total{tenant=\"contoso\",outcome=\"reject\"} 1",
        "doorman_spool_fsync_seconds_count 1",
        "doorman_config_generation 1",
    ] {
        assert!(metrics.contains(want), "{want} missing from\n{metrics}");
    }
}
