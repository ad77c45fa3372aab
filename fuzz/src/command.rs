//! SMTP command lines as the edge reads them: only CRLF ends a line, a line with a bare CR,
//! a bare LF or a NUL in it is refused whole (never split into two commands), a line longer
//! than 512 octets is refused, and parsing never depends on the verb's case.

use doorman_edge::command::{Command, parse};
use doorman_edge::framing::{Flaw, LineError, LineScan, MAX_COMMAND_LINE, scan_line};

pub fn check(wire: &[u8]) {
    let mut buf = wire;
    loop {
        let first_crlf = buf.windows(2).position(|w| w == b"\r\n");
        match scan_line(buf) {
            LineScan::Incomplete => {
                assert_eq!(first_crlf, None, "incomplete with a CRLF in the buffer");
                return;
            }
            LineScan::Line { len } => {
                assert_eq!(Some(len - 2), first_crlf, "a line ends at its first CRLF");
                let content = &buf[..len - 2];
                assert!(!content.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)), "a flawed line was taken");
                assert!(len <= MAX_COMMAND_LINE);
                command(content);
                buf = &buf[len..];
            }
            LineScan::Bad { len, why } => {
                assert_eq!(Some(len - 2), first_crlf, "a refused line ends at its first CRLF");
                let content = &buf[..len - 2];
                let expected = if content.contains(&b'\n') {
                    LineError::Flawed(Flaw::BareLf)
                } else if content.contains(&b'\r') {
                    LineError::Flawed(Flaw::BareCr)
                } else if content.contains(&0) {
                    LineError::Flawed(Flaw::Nul)
                } else {
                    assert!(len > MAX_COMMAND_LINE, "a clean line of {len} bytes refused");
                    LineError::TooLong
                };
                assert_eq!(why, expected);
                buf = &buf[len..];
            }
        }
    }
}

fn command(line: &[u8]) {
    let parsed = parse(line);
    // The verb's case does not matter (RFC 5321 section 2.4).
    let verb_end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    for fold in [u8::to_ascii_lowercase, u8::to_ascii_uppercase] {
        let mut other = line.to_vec();
        other[..verb_end].iter_mut().for_each(|b| *b = fold(b));
        assert_eq!(parse(&other), parsed, "the verb's case changed the parse");
    }
    match parsed {
        Ok(Command::Mail { path, .. }) | Ok(Command::Rcpt { path }) => {
            crate::address::check(path.as_bytes());
        }
        Ok(Command::Bdat { size, last }) => {
            let again = format!("BDAT {size}{}", if last { " LAST" } else { "" });
            assert_eq!(parse(again.as_bytes()), Ok(Command::Bdat { size, last }));
        }
        Ok(Command::Unknown(verb)) => assert_eq!(verb, verb.to_ascii_uppercase()),
        Ok(_) => {}
        Err(reply) => {
            let text = reply.to_string();
            assert!(text.starts_with('5'), "a syntax error is a 5xx reply: {text}");
        }
    }
}
