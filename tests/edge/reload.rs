//! Live reload: only whole files, never one that would empty the edge, `doorman reload`,
//! one compile per change, and the tracking log reopened for rotation.

use std::io::Write;
use std::time::Duration;

use crate::TENANTS;
use crate::support::{Edge, wait_for};

const BLOCKED: &str =
    "550 5.7.513 Service unavailable, Client host [127.0.0.3] blocked by fabrikam.com using Customer Block list";

#[test]
fn reload_takes_effect_for_the_next_transaction_and_a_broken_config_keeps_the_old_one() {
    let mut edge = Edge::start("reload", "", TENANTS);
    let mut c = edge.raw("127.0.0.3");
    c.reply();
    c.cmd("EHLO client.example");
    assert_eq!(c.cmd("MAIL FROM:<x@example.net>"), "250 2.1.0 Sender OK");
    assert_eq!(c.cmd("RCPT TO:<carol@fabrikam.com>"), "250 2.1.5 Recipient OK");

    let blocked = format!("{TENANTS}\n[tenants.connection_filter]\nip_block_list = [\"127.0.0.3\"]\n");
    edge.rewrite_config("", &blocked);

    // The transaction under way finishes under the config it started with.
    assert_eq!(c.cmd("DATA"), "354 Start mail input; end with <CRLF>.<CRLF>");
    c.send(b"Subject: before\r\n\r\nx\r\n.\r\n");
    assert!(c.reply().unwrap().starts_with("250 2.0.0 Ok: queued as "));

    // The next transactions, on the same session, see the block list.
    wait_for(Duration::from_secs(3), || {
        c.cmd("MAIL FROM:<x@example.net>");
        let r = c.cmd("RCPT TO:<carol@fabrikam.com>");
        c.cmd("RSET");
        (r == BLOCKED).then_some(())
    })
    .expect("the block list never took effect");
    // The generation is in force a moment before the line that says so.
    wait_for(Duration::from_secs(3), || edge.log().contains("reloaded (the file changed): generation 2").then_some(()))
        .unwrap_or_else(|| panic!("{}", edge.log()));

    // A broken config is refused with file:line:key, and the old one keeps serving.
    let broken = blocked.replace("\"127.0.0.3\"]", "\"127.0.0.3\", \"10.0.0.0/33\"]");
    edge.rewrite_config("", &broken);
    wait_for(Duration::from_secs(3), || edge.log().contains("refused").then_some(())).expect("no refusal logged");
    let log = edge.log();
    let written = std::fs::read_to_string(&edge.config).unwrap();
    let line = written.lines().position(|l| l.contains("10.0.0.0/33")).unwrap() + 1;
    assert!(
        log.contains(&format!("doorman.toml:{line}:")) && log.contains("tenants[1].connection_filter.ip_block_list[1]"),
        "{log}"
    );
    c.cmd("MAIL FROM:<x@example.net>");
    assert_eq!(c.cmd("RCPT TO:<carol@fabrikam.com>"), BLOCKED);
    c.cmd("RSET");

    // Back to the original, which lets 127.0.0.3 in again. A SIGHUP after the change finds
    // nothing new: one change, one compile.
    edge.rewrite_config("", TENANTS);
    wait_for(Duration::from_secs(3), || edge.log().contains("generation 3").then_some(())).unwrap();
    edge.signal("-HUP");
    wait_for(Duration::from_secs(3), || edge.log().contains("unchanged (SIGHUP): generation 3 stays").then_some(()))
        .unwrap_or_else(|| panic!("{}", edge.log()));
    assert_eq!(edge.log().matches("compiled in").count(), 2, "{}", edge.log());
    c.cmd("MAIL FROM:<x@example.net>");
    assert_eq!(c.cmd("RCPT TO:<carol@fabrikam.com>"), "250 2.1.5 Recipient OK");

    // A SIGHUP with a change compiles it.
    edge.rewrite_config("", &blocked);
    edge.signal("-HUP");
    edge.wait_generation(4);
    std::thread::sleep(crate::support::SETTLE_AND_MORE);
    assert!(!edge.log().contains("generation 5"), "one change, one compile:\n{}", edge.log());
    edge.kill9();
}

/// Opens a session from 127.0.0.3 that has said EHLO.
fn session(edge: &Edge) -> crate::support::Raw {
    let mut c = edge.raw("127.0.0.3");
    c.reply();
    c.cmd("EHLO client.example");
    c
}

/// What 127.0.0.3, which is not contoso's gateway, gets for contoso's alice.
fn side_door(c: &mut crate::support::Raw) -> String {
    assert_eq!(c.cmd("MAIL FROM:<x@example.net>"), "250 2.1.0 Sender OK");
    let reply = c.cmd("RCPT TO:<alice@contoso.com>");
    assert_eq!(c.cmd("RSET"), "250 2.0.0 Reset state");
    reply
}

/// The field case: a config written in place in two parts, cut before the line that closes
/// the side door, with a pause between. The edge reads only the whole file.
#[test]
fn a_config_written_in_two_parts_never_opens_the_side_door() {
    let edge = Edge::start("reload-two-parts", "", TENANTS);
    // A session per try: each refusal counts towards max_errors.
    let try_side_door = || side_door(&mut session(&edge));
    let closed = try_side_door();
    assert!(closed.starts_with("550 "), "{closed}");

    let text = edge.config_text("", &format!("{TENANTS}\n# edited\n"));
    let cut = text.find("restrict_domains_to_ip_addresses = true").unwrap();
    let mut file = std::fs::File::create(&edge.config).unwrap();
    file.write_all(&text.as_bytes()[..cut]).unwrap();
    let mut tries = 0;
    let pause = std::time::Instant::now();
    while pause.elapsed() < Duration::from_millis(1200) {
        assert_eq!(try_side_door(), closed, "the side door opened while the file was half written");
        tries += 1;
    }
    file.write_all(&text.as_bytes()[cut..]).unwrap();
    drop(file);
    edge.wait_generation(2);
    assert_eq!(try_side_door(), closed);
    assert!(tries >= 10, "only {tries} tries during the pause");
    assert!(!edge.log().contains("refused"), "{}", edge.log());

    // The control: the first part alone, as a whole file, does open it.
    crate::support::write_atomically(&edge.config, &text[..cut]);
    edge.wait_generation(3);
    assert_eq!(try_side_door(), "250 2.1.5 Recipient OK");
}

/// `: > doorman.toml` is refused: the edge keeps its tenants. `server.allow_empty` allows it.
#[test]
fn an_emptied_config_is_refused_unless_allow_empty() {
    let edge = Edge::start("reload-empty", "", TENANTS);
    std::fs::File::create(&edge.config).unwrap();
    let refused = "it has no tenants, where generation 1 has 2: an emptied or half-written file? Write the whole \
                   file and rename it into place; to run without any, set server.allow_empty = true";
    wait_for(Duration::from_secs(5), || edge.log().contains(refused).then_some(()))
        .unwrap_or_else(|| panic!("{}", edge.log()));
    assert!(edge.log().contains("refused; still serving generation 1"), "{}", edge.log());
    let mut c = session(&edge);
    assert_eq!(c.cmd("MAIL FROM:<x@example.net>"), "250 2.1.0 Sender OK");
    assert_eq!(c.cmd("RCPT TO:<carol@fabrikam.com>"), "250 2.1.5 Recipient OK");
    c.cmd("RSET");

    // Tenants without an accepted domain are as empty.
    let no_domains = TENANTS
        .split("[[tenants.accepted_domains]]")
        .map(|part| part.split_once("type = \"authoritative\"").map_or(part, |(_, rest)| rest))
        .collect::<String>();
    edge.rewrite_config("", &no_domains);
    wait_for(Duration::from_secs(5), || {
        edge.log().contains("it has no accepted domain, where generation 1 has 2").then_some(())
    })
    .unwrap_or_else(|| panic!("{}", edge.log()));

    edge.rewrite_config("allow_empty = true", "");
    edge.wait_generation(2);
    assert_eq!(c.cmd("MAIL FROM:<x@example.net>"), "250 2.1.0 Sender OK");
    assert!(c.cmd("RCPT TO:<carol@fabrikam.com>").starts_with("550 "));
}

/// `doorman reload` checks the file first, signals the server, and prints what took effect;
/// the server reopens its tracking log on it, as logrotate needs.
#[test]
fn doorman_reload_checks_signals_and_prints_the_generation() {
    let mut edge = Edge::start("reload-command", "", TENANTS);
    let config = edge.config.display().to_string();
    let reload = |edge: &Edge| edge.doorman(&["reload", "--config", &config]);

    // A broken file never reaches the server.
    let good = std::fs::read_to_string(&edge.config).unwrap();
    std::fs::write(&edge.config, good.replace("[[tenants]]", "[[tenants]]\nnot_a_key = 1")).unwrap();
    let (code, out, _) = reload(&edge);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("unknown field `not_a_key`") && out.contains("not reloaded: 2 error(s)"), "{out}");

    // A good one: whether the file event or the signal compiles it, it is compiled once.
    edge.rewrite_config("", &format!("{TENANTS}\n# changed\n"));
    let (code, out, err) = reload(&edge);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.ends_with("generation 2 in force\n"), "{out}");
    std::thread::sleep(crate::support::SETTLE_AND_MORE);
    let log = edge.log();
    assert_eq!(log.matches("reloaded (").count(), 1, "{log}");
    let (code, out, _) = reload(&edge);
    assert_eq!(code, 0);
    assert!(out.ends_with(&format!("{config}: unchanged since the last reload: generation 2 in force\n")), "{out}");

    // The tracking log, renamed away, is written anew after the reload.
    let tracking = edge.dir.join("tracking.jsonl");
    let rotated = edge.dir.join("tracking.jsonl.1");
    std::fs::rename(&tracking, &rotated).unwrap();
    assert_eq!(reload(&edge).0, 0);
    let mut c = session(&edge);
    c.cmd("QUIT");
    let fresh = wait_for(Duration::from_secs(5), || {
        std::fs::read_to_string(&tracking).ok().filter(|t| t.contains("\"connect\""))
    })
    .expect("no new tracking log after the reload");
    assert!(fresh.contains("127.0.0.3"), "{fresh}");
    assert!(!std::fs::read_to_string(&rotated).unwrap().contains("\"client_ip\":\"127.0.0.3\""));

    // What the server refuses is printed, and exits 1.
    edge.rewrite_config("", "");
    let (code, out, _) = reload(&edge);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("it has no tenants") && out.ends_with("the server refused it: generation 2 still in force\n"),
        "{out}"
    );

    // Another file than the server's, or no server: exit 2.
    let other = edge.dir.join("other.toml");
    std::fs::write(&other, &good).unwrap();
    let (code, _, err) = edge.doorman(&["reload", "--config", &other.display().to_string()]);
    assert_eq!(code, 2);
    assert!(err.contains(&format!("reads {config}, not {}", other.display())), "{err}");
    edge.signal("-TERM");
    assert!(edge.wait_exit(Duration::from_secs(40)).is_some());
    std::fs::write(&edge.config, &good).unwrap();
    let (code, _, err) = reload(&edge);
    assert_eq!(code, 2);
    assert!(err.contains("no doorman serve runs on this spool"), "{err}");
}

/// The SIGHUP handler is in place by the time the edge says it listens: an early SIGHUP (a
/// logrotate run at start) reloads, never ends the server.
#[test]
fn a_sighup_right_after_start_reloads() {
    let mut edge = Edge::start("reload-early-hup", "", TENANTS);
    edge.signal("-HUP");
    wait_for(Duration::from_secs(5), || edge.log().contains("(SIGHUP)").then_some(()))
        .unwrap_or_else(|| panic!("{}", edge.log()));
    assert!(edge.wait_exit(Duration::ZERO).is_none(), "the SIGHUP ended the server");
}

/// A change that names a new recipients file is one compile too, and a change of that file
/// alone is seen on SIGHUP.
#[test]
fn a_new_recipients_file_is_compiled_once_and_watched_for_changes() {
    let edge = Edge::start("reload-recipients", "", TENANTS);
    std::fs::write(edge.dir.join("fabrikam.txt"), "carol@fabrikam.com\n").unwrap();
    let with_file = TENANTS
        .replace("recipients = [\"carol@fabrikam.com\", \"dave@fabrikam.com\"]", "recipients_file = \"fabrikam.txt\"");
    assert_ne!(with_file, TENANTS);
    edge.rewrite_config("", &with_file);
    edge.wait_generation(2);
    edge.signal("-HUP");
    wait_for(Duration::from_secs(5), || edge.log().contains("unchanged (SIGHUP): generation 2 stays").then_some(()))
        .unwrap_or_else(|| panic!("{}", edge.log()));
    let mut c = session(&edge);
    assert_eq!(c.cmd("MAIL FROM:<x@example.net>"), "250 2.1.0 Sender OK");
    assert!(c.cmd("RCPT TO:<dave@fabrikam.com>").starts_with("550 "));
    c.cmd("RSET");

    std::fs::write(edge.dir.join("fabrikam.txt"), "carol@fabrikam.com\ndave@fabrikam.com\n").unwrap();
    edge.signal("-HUP");
    edge.wait_generation(3);
    assert_eq!(c.cmd("MAIL FROM:<x@example.net>"), "250 2.1.0 Sender OK");
    assert_eq!(c.cmd("RCPT TO:<dave@fabrikam.com>"), "250 2.1.5 Recipient OK");
}
