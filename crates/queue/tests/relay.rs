//! The relay client against a scripted next hop on loopback: a real TCP server, bound to port
//! 0, that answers each command from a script and records what it was sent.

use std::sync::{Arc, Mutex};

use doorman_queue::smtp::{Attempt, Envelope, Message, RemoteReply, Target, client_configs, send};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// How the next hop answers.
#[derive(Clone)]
struct Script {
    /// The EHLO keywords after the first line (`PIPELINING`, `SMTPUTF8`, `STARTTLS`).
    extensions: Vec<&'static str>,
    /// The reply to each RCPT, in order.
    rcpt: Vec<&'static str>,
    /// What to do at STARTTLS: answer 220, then answer the client's TLS hello with this.
    after_starttls: Option<&'static [u8]>,
    /// Close the connection right after this reply is sent (`421 …`).
    close_after: Option<&'static str>,
}

/// What the next hop saw: each line it read, and whether lines came before it answered the
/// one before (they were pipelined).
#[derive(Default)]
struct Seen {
    lines: Vec<String>,
    pipelined: bool,
}

async fn next_hop(script: Script) -> (u16, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let record = seen.clone();
    tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let (read, mut write) = socket.into_split();
        let mut read = BufReader::new(read);
        write.write_all(b"220 hop.test ESMTP\r\n").await.unwrap();
        let mut rcpts = script.rcpt.iter();
        let mut in_data = false;
        loop {
            let mut line = String::new();
            if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            if in_data {
                if line == ".\r\n" {
                    in_data = false;
                    write.write_all(b"250 2.0.0 Ok: queued\r\n").await.unwrap();
                }
                continue;
            }
            let line = line.trim_end().to_string();
            {
                let mut s = record.lock().unwrap();
                s.pipelined |= !read.buffer().is_empty();
                s.lines.push(line.clone());
            }
            let verb = line.split([' ', ':']).next().unwrap_or("").to_ascii_uppercase();
            let reply: String = match verb.as_str() {
                "EHLO" => {
                    let mut r = String::from("250-hop.test");
                    for e in &script.extensions {
                        r.push_str(&format!("\r\n250-{e}"));
                    }
                    r.push_str("\r\n250 8BITMIME");
                    r
                }
                "STARTTLS" => "220 2.0.0 Ready".into(),
                "MAIL" => "250 2.1.0 Ok".into(),
                "RCPT" => rcpts.next().copied().unwrap_or("250 2.1.5 Ok").into(),
                "DATA" => "354 go ahead".into(),
                "QUIT" => "221 2.0.0 Bye".into(),
                _ => "500 5.5.1 what".into(),
            };
            write.write_all(format!("{reply}\r\n").as_bytes()).await.unwrap();
            if verb == "STARTTLS"
                && let Some(junk) = script.after_starttls
            {
                // Answer the client's hello (once it has come) with something that is not TLS.
                let _ = read.fill_buf().await;
                write.write_all(junk).await.unwrap();
                return;
            }
            if script.close_after.is_some_and(|c| reply.starts_with(c)) {
                return;
            }
            in_data = verb == "DATA";
        }
    });
    (port, seen)
}

fn script() -> Script {
    Script { extensions: vec!["PIPELINING"], rcpt: vec![], after_starttls: None, close_after: None }
}

async fn relay(port: u16, require_tls: bool, env: &Envelope<'_>, message: &[u8]) -> Attempt {
    let (verified, unverified) = client_configs(None, None).unwrap();
    let target = Target { host: "127.0.0.1", port, require_tls, verified, unverified };
    let mut body = message;
    send(&target, env, Message { head: message, body: &mut body }).await
}

fn envelope<'a>(mail_from: &'a str, recipients: &'a [String]) -> Envelope<'a> {
    Envelope { helo: "edge.test", mail_from, eight_bit: false, smtputf8: false, recipients }
}

const MESSAGE: &[u8] = b"Subject: hi\r\n\r\nbody\r\n";

fn codes(a: &Attempt) -> Vec<u16> {
    match a {
        Attempt::Done(replies) => replies.iter().map(|r| r.code).collect(),
        other => panic!("not done: {other:?}"),
    }
}

#[tokio::test]
async fn with_pipelining_mail_rcpt_and_data_go_in_one_batch() {
    let (port, seen) = next_hop(script()).await;
    let rcpts = vec!["a@hop.test".to_string(), "b@hop.test".to_string()];
    let done = relay(port, false, &envelope("s@example.net", &rcpts), MESSAGE).await;
    assert_eq!(codes(&done), [250, 250]);
    let seen = seen.lock().unwrap();
    assert!(seen.pipelined, "{:?}", seen.lines);
    assert_eq!(seen.lines[1..5], ["MAIL FROM:<s@example.net>", "RCPT TO:<a@hop.test>", "RCPT TO:<b@hop.test>", "DATA"]);
}

#[tokio::test]
async fn without_pipelining_each_command_waits_for_its_reply() {
    let (port, seen) = next_hop(Script { extensions: vec![], ..script() }).await;
    let rcpts = vec!["a@hop.test".to_string()];
    let done = relay(port, false, &envelope("s@example.net", &rcpts), MESSAGE).await;
    assert_eq!(codes(&done), [250]);
    assert!(!seen.lock().unwrap().pipelined);
}

#[tokio::test]
async fn mixed_recipient_replies_are_kept_per_recipient() {
    let (port, _) =
        next_hop(Script { rcpt: vec!["250 2.1.5 Ok", "550 5.1.1 No such user", "451 4.3.0 Later"], ..script() }).await;
    let rcpts: Vec<String> = ["ok@hop.test", "ghost@hop.test", "busy@hop.test"].map(String::from).to_vec();
    let done = relay(port, false, &envelope("s@example.net", &rcpts), MESSAGE).await;
    let Attempt::Done(replies) = done else { panic!("{done:?}") };
    let lines: Vec<String> = replies.iter().map(RemoteReply::line).collect();
    assert_eq!(lines, ["250 2.0.0 Ok: queued", "550 5.1.1 No such user", "451 4.3.0 Later"]);
}

#[tokio::test]
async fn a_failed_tls_handshake_is_unreachable_and_required_tls_never_falls_back() {
    let (port, seen) = next_hop(Script {
        extensions: vec!["STARTTLS", "PIPELINING"],
        after_starttls: Some(b"not tls at all\r\n"),
        ..script()
    })
    .await;
    let rcpts = vec!["a@hop.test".to_string()];
    let done = relay(port, true, &envelope("s@example.net", &rcpts), MESSAGE).await;
    assert!(
        matches!(&done, Attempt::Unreachable(why) if why.to_string().starts_with("TLS with 127.0.0.1")),
        "{done:?}"
    );
    assert!(!seen.lock().unwrap().lines.iter().any(|l| l.starts_with("MAIL")), "nothing sent in plaintext");
}

#[tokio::test]
async fn a_421_in_the_middle_of_a_transaction_defers_every_recipient() {
    let (port, _) =
        next_hop(Script { rcpt: vec!["421 4.3.2 Shutting down"], close_after: Some("421"), ..script() }).await;
    let rcpts = vec!["a@hop.test".to_string(), "b@hop.test".to_string()];
    let done = relay(port, false, &envelope("s@example.net", &rcpts), MESSAGE).await;
    // The connection is gone: nothing was delivered, so the copy waits for another attempt.
    assert!(matches!(done, Attempt::Unreachable(_)), "{done:?}");
}

#[tokio::test]
async fn smtputf8_is_passed_on_to_a_next_hop_that_offers_it() {
    let (port, seen) = next_hop(Script { extensions: vec!["PIPELINING", "SMTPUTF8"], ..script() }).await;
    let rcpts = vec!["jörg@hop.test".to_string()];
    let env = Envelope { smtputf8: true, ..envelope("sé@example.net", &rcpts) };
    assert_eq!(codes(&relay(port, false, &env, MESSAGE).await), [250]);
    assert!(seen.lock().unwrap().lines.contains(&"MAIL FROM:<sé@example.net> SMTPUTF8".to_string()));
}

#[tokio::test]
async fn a_next_hop_without_smtputf8_gets_no_mangled_address_but_a_5_6_7() {
    let (port, seen) = next_hop(script()).await;
    let rcpts = vec!["jörg@hop.test".to_string()];
    let env = Envelope { smtputf8: true, ..envelope("s@example.net", &rcpts) };
    let done = relay(port, false, &env, MESSAGE).await;
    let Attempt::Refused(r) = done else { panic!("{done:?}") };
    assert_eq!(r.code, 553);
    assert!(r.text.starts_with("5.6.7 "), "{}", r.text);
    assert!(!seen.lock().unwrap().lines.iter().any(|l| l.starts_with("MAIL") || l.starts_with("RCPT")));

    // All ASCII, even with the client's SMTPUTF8: it goes as it is.
    let (port, seen) = next_hop(script()).await;
    let rcpts = vec!["joerg@hop.test".to_string()];
    let env = Envelope { smtputf8: true, ..envelope("s@example.net", &rcpts) };
    assert_eq!(codes(&relay(port, false, &env, MESSAGE).await), [250]);
    assert!(seen.lock().unwrap().lines.contains(&"MAIL FROM:<s@example.net>".to_string()));
}
