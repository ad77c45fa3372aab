//! Clients that hold on: deadlines for a command line, for the client taking its replies and
//! for a whole session; stress mode; limits per client network; and message data sent
//! before the `354`.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::TENANTS;
use crate::support::{Edge, Raw, wait_for};

const TIMEOUT: &str = "421 4.4.2 edge.test Error: timeout exceeded, closing connection";

/// Sends `bytes` one at a time, `gap` apart, until the server closes or they run out; gives
/// whether the server closed first and what it said.
fn drip(c: &mut Raw, bytes: &[u8], gap: Duration) -> Option<String> {
    for b in bytes {
        std::thread::sleep(gap);
        if c.try_send(&[*b]).is_err() {
            break;
        }
        if let Some(reply) = c.poll_reply() {
            return Some(reply);
        }
    }
    None
}

/// A byte now and then does not keep a command open: the whole line has `command_timeout`.
#[test]
fn a_command_line_must_arrive_whole_within_the_command_timeout() {
    let edge = Edge::start("deadline-line", "[server.limits]\ncommand_timeout = \"2s\"", TENANTS);
    let mut c = edge.raw("127.0.0.3");
    assert!(c.reply().unwrap().starts_with("220 "));
    let started = Instant::now();
    // 40 bytes, 250 ms apart: 10 s of a line that never ends.
    let said = drip(&mut c, &[b'x'; 40], Duration::from_millis(250)).or_else(|| c.reply());
    assert_eq!(said.as_deref(), Some(TIMEOUT));
    assert!(started.elapsed() < Duration::from_secs(9), "the drip kept the line open");
    assert!(c.closed());
}

/// A client that sends and never reads cannot keep its session: writes have a deadline too.
#[test]
fn a_client_that_never_reads_its_replies_is_closed() {
    let edge =
        Edge::start("deadline-write", "[server.limits]\ncommand_timeout = \"2s\"\nmax_errors = 100000000", TENANTS);
    let c = crate::support::bind_connect("127.0.0.3", edge.port);
    wait_for(Duration::from_secs(10), || edge.metrics().contains("\ndoorman_connections_open 1\n").then_some(()))
        .expect("the session never opened");
    let mut writer = c.try_clone().unwrap();
    // Many megabytes of replies: more than both sides' socket buffers hold.
    std::thread::spawn(move || {
        let noops = b"NOOP\r\n".repeat(100_000);
        for _ in 0..100 {
            if writer.write_all(&noops).is_err() {
                return;
            }
        }
    });
    wait_for(Duration::from_secs(20), || edge.metrics().contains("\ndoorman_connections_open 0\n").then_some(()))
        .expect("the session that never read was never closed");
    drop(c);
}

/// However busy, a session ends at `session_timeout`.
#[test]
fn a_session_ends_at_its_deadline() {
    let edge = Edge::start("deadline-session", "[server.limits]\nsession_timeout = \"3s\"", TENANTS);
    let mut c = edge.raw("127.0.0.3");
    c.reply();
    let started = Instant::now();
    let ended = loop {
        c.send(b"NOOP\r\n");
        match c.reply() {
            Some(r) if r == "250 2.0.0 OK" => std::thread::sleep(Duration::from_millis(200)),
            other => break other,
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the session never ended");
    };
    assert_eq!(ended.as_deref(), Some("421 4.4.2 edge.test Error: session time limit exceeded, closing connection"));
    assert!(c.closed());
}

/// Above `stress_threshold` of `max_connections`, a new command gets the short deadline;
/// sessions that waited before the stress keep theirs.
#[test]
fn under_stress_the_command_timeout_shrinks() {
    let keys = "[server.limits]\nmax_connections = 10\nstress_threshold = 50\nstress_command_timeout = \"1s\"\ncommand_timeout = \"60s\"";
    let edge = Edge::start("deadline-stress", keys, TENANTS);
    let mut calm: Vec<Raw> = (0..5)
        .map(|i| {
            let mut r = edge.raw(&format!("127.0.0.{}", 10 + i));
            assert!(r.reply().unwrap().starts_with("220 "));
            r
        })
        .collect();
    let mut stressed = edge.raw("127.0.0.20");
    assert!(stressed.reply().unwrap().starts_with("220 "));
    stressed.set_timeout(Duration::from_secs(20));
    assert_eq!(stressed.reply().as_deref(), Some(TIMEOUT), "the sixth of ten is under stress");
    for c in &mut calm {
        assert_eq!(c.cmd("NOOP"), "250 2.0.0 OK", "waited over a second, on its 60 s deadline");
    }
}

/// A client with many addresses in one network is counted as one network.
#[test]
fn connections_are_limited_per_client_network() {
    let edge = Edge::start("network-limit", "[server.limits]\nmax_connections_per_network = 3", TENANTS);
    let open: Vec<Raw> = ["127.0.0.3", "127.0.0.5", "127.0.0.6"]
        .iter()
        .map(|ip| {
            let mut r = edge.raw(ip);
            assert!(r.reply().unwrap().starts_with("220 "));
            r
        })
        .collect();
    let mut fourth = edge.raw("127.0.0.7");
    assert_eq!(
        fourth.reply().as_deref(),
        Some("421 4.3.2 Too many concurrent connections from network 127.0.0.0/24, closing transmission channel")
    );
    assert!(fourth.closed());
    let mut other = edge.raw("127.0.1.3");
    assert!(other.reply().unwrap().starts_with("220 "), "another network is not counted with it");
    drop(open);
}

/// RFC 2920: the message waits for the 354. Data sent with DATA is refused and logged, as
/// Postfix's `smtpd_forbid_unauth_pipelining` does; off, it is taken.
#[test]
fn message_data_before_354_is_refused_unless_allowed() {
    let pipelined =
        b"MAIL FROM:<x@example.net>\r\nRCPT TO:<carol@fabrikam.com>\r\nDATA\r\nSubject: early\r\n\r\nbody\r\n.\r\n";
    let edge = Edge::start("pipelining", "", TENANTS);
    let mut c = edge.raw("127.0.0.3");
    c.reply();
    c.cmd("EHLO client.example");
    c.send(pipelined);
    assert_eq!(c.reply().as_deref(), Some("250 2.1.0 Sender OK"));
    assert_eq!(c.reply().as_deref(), Some("250 2.1.5 Recipient OK"));
    assert_eq!(c.reply().as_deref(), Some("554 5.5.0 Error: SMTP protocol synchronization"));
    assert!(c.closed());
    let line = edge.wait_tracking(|l| l["event"] == "reject" && l["stage"] == "data");
    assert_eq!(
        (line["rcpt"].as_str(), line["reply"].as_str()),
        (Some("carol@fabrikam.com"), Some("554 5.5.0 Error: SMTP protocol synchronization"))
    );
    assert!(edge.log().contains("improper pipelining: "), "{}", edge.log());
    assert!(edge.spool().is_empty());

    // Also when the DATA itself would be refused: the early bytes are not read as commands.
    let mut c = edge.raw("127.0.0.3");
    c.reply();
    c.cmd("EHLO client.example");
    c.send(b"MAIL FROM:<x@example.net>\r\nRCPT TO:<nobody@fabrikam.com>\r\nDATA\r\nRSET\r\nNOOP\r\n");
    assert_eq!(c.reply().as_deref(), Some("250 2.1.0 Sender OK"));
    assert!(c.reply().unwrap().starts_with("550 "));
    assert_eq!(c.reply().as_deref(), Some("554 5.5.0 Error: SMTP protocol synchronization"));
    assert!(c.closed(), "the RSET and NOOP after DATA were not answered");

    let edge = Edge::start("pipelining-allowed", "[server.limits]\nforbid_unauth_pipelining = false", TENANTS);
    let mut c = edge.raw("127.0.0.3");
    c.reply();
    c.cmd("EHLO client.example");
    c.send(pipelined);
    for want in ["250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "354 Start mail input; end with <CRLF>.<CRLF>"] {
        assert_eq!(c.reply().as_deref(), Some(want));
    }
    assert!(c.reply().unwrap().starts_with("250 2.0.0 Ok: queued as "));
    assert_eq!(edge.spool().len(), 1);
}
