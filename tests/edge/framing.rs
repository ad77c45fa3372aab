//! Attacks and limits at the byte level, with a raw socket: SMTP smuggling, STARTTLS command
//! injection, oversized input, slow and noisy clients. PROXY headers are in `proxy.rs`.

use std::time::Duration;

use crate::TENANTS;
use crate::support::{Edge, Raw, wait_for};

const VARIANTS: [&[u8]; 10] = [
    b"\n.\n",
    b"\r.\r",
    b"\r.\n",
    b"\n.\r",
    b"\n.\r\n",
    b"\r\n.\n",
    b"\r.\r\n",
    b"\r\n.\r",
    b"\r\n\0.\r\n",
    b"\r\n.\r\r\n",
];

/// Opens a transaction for carol@fabrikam.com from 127.0.0.3.
fn transaction(edge: &Edge) -> Raw {
    let mut c = edge.raw("127.0.0.3");
    assert!(c.reply().unwrap().starts_with("220 "));
    assert!(c.cmd("EHLO attacker.example").starts_with("250-edge.test Hello [127.0.0.3]"));
    assert_eq!(c.cmd("MAIL FROM:<x@example.net>"), "250 2.1.0 Sender OK");
    assert_eq!(c.cmd("RCPT TO:<carol@fabrikam.com>"), "250 2.1.5 Recipient OK");
    c
}

fn assert_no_bare_cr_or_lf(edge: &Edge) {
    for copy in edge.spool() {
        let m = &copy.message;
        for (i, &b) in m.iter().enumerate() {
            let bare_cr = b == b'\r' && m.get(i + 1) != Some(&b'\n');
            let bare_lf = b == b'\n' && (i == 0 || m[i - 1] != b'\r');
            assert!(!bare_cr && !bare_lf, "bare CR or LF at {i} in {:?}", String::from_utf8_lossy(m));
        }
    }
}

#[test]
fn no_smuggling_variant_splits_a_message_in_data_or_bdat() {
    let edge = Edge::start("smuggling", "", TENANTS);
    let smuggled =
        b"MAIL FROM:<evil@example.net>\r\nRCPT TO:<dave@fabrikam.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nsecond\r\n";
    for variant in VARIANTS {
        let mut c = transaction(&edge);
        assert_eq!(c.cmd("DATA"), "354 Start mail input; end with <CRLF>.<CRLF>");
        c.send(&[b"Subject: first\r\n\r\nbody".as_slice(), variant, smuggled, b".\r\n"].concat());
        let reply = c.reply().unwrap();
        assert!(reply.starts_with("550 5.6."), "{variant:?}: {reply}");
        assert!(reply.contains("bare") || reply.contains("NUL"), "{reply}");
        assert_eq!(c.cmd("QUIT"), "221 2.0.0 edge.test closing connection", "{variant:?}: nothing else was answered");

        // The same bytes inside BDAT chunks: stored as they are, so refused.
        let mut c = transaction(&edge);
        let chunk = [b"Subject: first\r\n\r\nbody".as_slice(), variant, smuggled].concat();
        c.send(format!("BDAT {}\r\n", chunk.len()).as_bytes());
        c.send(&chunk);
        assert_eq!(c.reply().unwrap(), format!("250 2.0.0 {} octets received", chunk.len()));
        let reply = c.cmd("BDAT 0 LAST");
        assert!(reply.starts_with("550 5.6."), "BDAT {variant:?}: {reply}");
        assert_eq!(c.cmd("QUIT"), "221 2.0.0 edge.test closing connection");
    }
    assert!(edge.spool().is_empty(), "no variant reached the spool");
    let rejects = edge.wait_tracking_n(2 * VARIANTS.len(), |l| l["event"] == "reject" && l["stage"] == "data");
    assert_eq!(rejects.len(), 2 * VARIANTS.len(), "every refusal is in the tracking log");

    // A clean message with a dot-stuffed line and pipelined BDAT passes whole.
    let mut c = transaction(&edge);
    assert_eq!(c.cmd("DATA"), "354 Start mail input; end with <CRLF>.<CRLF>");
    c.send(b"Subject: clean\r\n\r\n..dot\r\n.\r\n");
    assert!(c.reply().unwrap().starts_with("250 2.0.0 Ok: queued as "));
    let body = b"Subject: chunked\r\n\r\nline\r\n.\r\nnot the end\r\n";
    c.send(
        &[
            b"MAIL FROM:<x@example.net>\r\nRCPT TO:<dave@fabrikam.com>\r\nBDAT 10\r\n".as_slice(),
            &body[..10],
            format!("BDAT {} LAST\r\n", body.len() - 10).as_bytes(),
            &body[10..],
        ]
        .concat(),
    );
    assert_eq!(c.reply().unwrap(), "250 2.1.0 Sender OK");
    assert_eq!(c.reply().unwrap(), "250 2.1.5 Recipient OK");
    assert_eq!(c.reply().unwrap(), "250 2.0.0 10 octets received");
    assert!(c.reply().unwrap().starts_with("250 2.0.0 Ok: queued as "));
    let spool = edge.spool();
    assert_eq!(spool.len(), 2);
    assert!(spool[0].message.ends_with(b"Subject: clean\r\n\r\n.dot\r\n"));
    assert!(spool[1].message.ends_with(body), "BDAT content is stored as sent");
    assert_no_bare_cr_or_lf(&edge);
}

#[test]
fn bare_line_ends_in_commands_are_refused() {
    let edge = Edge::start("bare-commands", "", TENANTS);
    let mut c = transaction(&edge);
    c.send(b"RSET\nMAIL FROM:<evil@example.net>\r\n");
    assert_eq!(c.reply().unwrap(), "500 5.5.2 Syntax error: bare LF received; SMTP lines must end with CRLF");
    c.send(b"NOOP\rRSET\r\n");
    assert_eq!(c.reply().unwrap(), "500 5.5.2 Syntax error: bare CR received; SMTP lines must end with CRLF");
    // The transaction is untouched: neither RSET nor the smuggled MAIL ran.
    assert_eq!(c.cmd("MAIL FROM:<y@example.net>"), "503 5.5.1 Sender already specified");
}

#[test]
fn starttls_drops_plaintext_sent_with_the_command() {
    let edge = Edge::start("starttls-injection", "", TENANTS);
    let script = format!(
        r#"
import socket, ssl, json
s = socket.create_connection(("127.0.0.1", {port}), 10)
f = s.makefile("rb")
def reply():
    lines = []
    while True:
        l = f.readline().decode()
        lines.append(l.strip())
        if len(l) < 4 or l[3] != "-":
            return lines
out = {{"greeting": reply()}}
s.sendall(b"EHLO x\r\n"); out["ehlo"] = reply()
s.sendall(b"STARTTLS\r\nRSET\r\n"); out["starttls"] = reply()
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
t = ctx.wrap_socket(s); t.settimeout(1.0)
try:
    out["unasked"] = t.recv(1000).decode()
except (TimeoutError, socket.timeout):
    out["unasked"] = None
t.settimeout(10); tf = t.makefile("rb")
t.sendall(b"NOOP\r\n"); out["noop"] = tf.readline().decode().strip()
print(json.dumps(out))
"#,
        port = edge.port
    );
    let out = std::process::Command::new("python3").arg("-c").arg(script).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["starttls"][0], "220 2.0.0 Ready to start TLS");
    assert!(v["unasked"].is_null(), "the injected RSET was answered inside TLS: {v}");
    assert_eq!(v["noop"], "250 2.0.0 OK");
}

/// RFC 5321 wants a client over the recipient limit to send the rest in a new transaction:
/// the limit's 452s are no errors, so the recipients taken so far still get the message.
#[test]
fn recipients_over_the_limit_are_no_errors_and_the_accepted_ones_get_the_message() {
    let keys = "[server.limits]\nmax_recipients = 2\nmax_errors = 3";
    let edge = Edge::start("recipient-limit", keys, TENANTS);
    let mut c = edge.raw("127.0.0.3");
    c.reply();
    c.cmd("EHLO client.example");
    assert_eq!(c.cmd("MAIL FROM:<x@example.net>"), "250 2.1.0 Sender OK");
    assert_eq!(c.cmd("RCPT TO:<carol@fabrikam.com>"), "250 2.1.5 Recipient OK");
    assert_eq!(c.cmd("RCPT TO:<dave@fabrikam.com>"), "250 2.1.5 Recipient OK");
    for n in 0..10 {
        assert_eq!(c.cmd(&format!("RCPT TO:<more{n}@fabrikam.com>")), "452 4.5.3 Too many recipients", "{n}");
    }
    assert!(c.cmd("DATA").starts_with("354 "));
    c.send(b"Subject: to two of twelve\r\n\r\nHello.\r\n.\r\n");
    assert!(c.reply().unwrap().starts_with("250 2.0.0 "), "the accepted recipients get the message");
    let spool = edge.spool();
    assert_eq!(spool.len(), 1);
    let to: Vec<&str> = spool[0].envelope.recipients.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(to, ["carol@fabrikam.com", "dave@fabrikam.com"]);
    // Other errors still count: three unknown commands end the session.
    for _ in 0..2 {
        assert_eq!(c.cmd("XYZZY"), "500 5.5.2 Command unrecognized");
    }
    c.send(b"XYZZY\r\n");
    assert_eq!(c.reply().unwrap(), "500 5.5.2 Command unrecognized");
    assert_eq!(c.reply().unwrap(), "421 4.7.0 edge.test Too many errors, closing connection");
}

#[test]
fn limits_on_lines_size_recipients_time_and_errors() {
    let keys = r#"[server.limits]
max_message_size = 2000
max_recipients = 2
max_errors = 5
command_timeout = "2s"
max_connections_per_ip = 3
max_connections = 4"#;
    let edge = Edge::start("limits", keys, TENANTS);

    // An oversized command.
    let mut c = edge.raw("127.0.0.3");
    c.reply();
    assert_eq!(c.cmd(&format!("NOOP {}", "x".repeat(600))), "500 5.5.2 Line too long: a command is at most 512 bytes");
    assert_eq!(c.cmd("NOOP"), "250 2.0.0 OK", "the session goes on");

    // An oversized message, declared and not declared.
    c.cmd("EHLO client.example");
    assert!(c.cmd("EHLO client.example").contains("250-SIZE 2000"));
    assert_eq!(
        c.cmd("MAIL FROM:<x@example.net> SIZE=5000"),
        "552 5.3.4 Message size exceeds fixed maximum message size"
    );
    c.cmd("MAIL FROM:<x@example.net>");
    // Too many recipients.
    assert_eq!(c.cmd("RCPT TO:<carol@fabrikam.com>"), "250 2.1.5 Recipient OK");
    assert_eq!(c.cmd("RCPT TO:<dave@fabrikam.com>"), "250 2.1.5 Recipient OK");
    assert_eq!(c.cmd("RCPT TO:<carol@fabrikam.com>"), "452 4.5.3 Too many recipients");
    c.cmd("DATA");
    c.send(format!("Subject: big\r\n\r\n{}\r\n.\r\n", "y".repeat(3000)).as_bytes());
    assert_eq!(c.reply().unwrap(), "552 5.3.4 Message size exceeds fixed maximum message size");
    assert!(edge.spool().is_empty());
    assert_eq!(c.cmd("QUIT"), "221 2.0.0 edge.test closing connection");

    // A slow client is timed out.
    let mut slow = edge.raw("127.0.0.3");
    slow.reply();
    slow.set_timeout(Duration::from_secs(10));
    assert_eq!(slow.reply().unwrap(), "421 4.4.2 edge.test Error: timeout exceeded, closing connection");
    assert!(slow.closed());

    // Too many errors: 421 and disconnect.
    let mut noisy = edge.raw("127.0.0.3");
    noisy.reply();
    for _ in 0..4 {
        assert_eq!(noisy.cmd("XYZZY"), "500 5.5.2 Command unrecognized");
    }
    noisy.send(b"XYZZY\r\n");
    assert_eq!(noisy.reply().unwrap(), "500 5.5.2 Command unrecognized");
    assert_eq!(noisy.reply().unwrap(), "421 4.7.0 edge.test Too many errors, closing connection");
    assert!(noisy.closed());

    // Concurrent connections per client IP.
    let open: Vec<Raw> = (0..3)
        .map(|_| {
            let mut r = edge.raw("127.0.0.3");
            assert!(r.reply().unwrap().starts_with("220 "));
            r
        })
        .collect();
    let mut d = edge.raw("127.0.0.3");
    assert_eq!(
        d.reply().unwrap(),
        "421 4.3.2 Too many concurrent connections from [127.0.0.3], closing transmission channel"
    );
    assert!(d.closed());
    // d's session ends after it closes; then three are open.
    wait_for(Duration::from_secs(3), || edge.metrics().contains("\ndoorman_connections_open 3\n").then_some(()))
        .expect("the refused session ends");
    let mut other = edge.raw("127.0.0.6");
    assert!(other.reply().unwrap().starts_with("220 "), "another client is unaffected");
    // Four open in all: the server-wide cap.
    let mut fifth = edge.raw("127.0.0.7");
    assert_eq!(
        fifth.reply().unwrap(),
        "421 4.3.2 The maximum number of concurrent server connections has exceeded a limit, closing transmission channel"
    );
    drop(open);
}
