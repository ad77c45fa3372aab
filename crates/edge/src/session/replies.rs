//! The edge's own replies: protocol sequence, syntax, framing, timeouts and queueing. Every
//! reply given for a policy reason (Exchange Online's texts, limits, SMTPUTF8, PROXY trust)
//! lives in doorman-policy's `reply.rs`.
//!
//! Every 2xx, 4xx and 5xx reply carries an RFC 3463 enhanced status code; RFC 2034 exempts
//! only the greeting, the EHLO/HELO reply and 354.

use doorman_config::EnhancedCode;
use doorman_policy::Reply;

use crate::framing::{Flaw, LineError};

fn reply(code: u16, (class, subject, detail): (u8, u16, u16), text: impl Into<String>) -> Reply {
    Reply::new(code, Some(EnhancedCode { class, subject, detail }), text.into())
}

pub fn ok() -> Reply {
    reply(250, (2, 0, 0), "OK")
}

pub fn reset() -> Reply {
    reply(250, (2, 0, 0), "Reset state")
}

pub fn closing(host: &str) -> Reply {
    reply(221, (2, 0, 0), format!("{host} closing connection"))
}

pub fn cannot_vrfy() -> Reply {
    reply(252, (2, 5, 2), "Cannot VRFY user; try RCPT to attempt delivery")
}

pub fn help() -> Reply {
    reply(214, (2, 0, 0), "Commands: EHLO HELO STARTTLS MAIL RCPT DATA BDAT RSET NOOP VRFY HELP QUIT")
}

/// 502: a command this edge does not offer.
pub fn not_offered(what: &str) -> Reply {
    reply(502, (5, 5, 1), what)
}

pub fn not_utf8() -> Reply {
    reply(500, (5, 5, 2), "Syntax error: the command is not UTF-8")
}

pub fn unrecognized() -> Reply {
    reply(500, (5, 5, 2), "Command unrecognized")
}

/// 501 or 555 with 5.5.4: bad arguments or parameters.
pub fn syntax(code: u16, text: impl Into<String>) -> Reply {
    reply(code, (5, 5, 4), text)
}

/// 503: the command is out of sequence.
pub fn bad_sequence(text: &str) -> Reply {
    reply(503, (5, 5, 1), text)
}

pub fn need_mail() -> Reply {
    bad_sequence("Need MAIL command")
}

pub fn line_error(e: LineError) -> Reply {
    match e {
        LineError::TooLong => reply(500, (5, 5, 2), "Line too long: a command is at most 512 bytes"),
        LineError::Flawed(f) => reply(500, (5, 5, 2), format!("Syntax error: {}", flaw_text(f))),
    }
}

pub fn flaw_text(f: Flaw) -> &'static str {
    match f {
        Flaw::BareLf => "bare LF received; SMTP lines must end with CRLF",
        Flaw::BareCr => "bare CR received; SMTP lines must end with CRLF",
        Flaw::Nul => "NUL character received",
    }
}

// -- TLS ----------------------------------------------------------------------------------

pub fn ready_for_tls() -> Reply {
    reply(220, (2, 0, 0), "Ready to start TLS")
}

pub fn tls_not_available() -> Reply {
    reply(454, (4, 7, 0), "TLS not available on this listener")
}

// -- the message ----------------------------------------------------------------------------

/// Postfix's reply to improper pipelining (`smtpd_forbid_unauth_pipelining`).
pub fn pipelining_before_354() -> Reply {
    reply(554, (5, 5, 0), "Error: SMTP protocol synchronization")
}

pub fn start_input() -> Reply {
    Reply::new(354, None, "Start mail input; end with <CRLF>.<CRLF>")
}

pub fn chunk_received(size: u64) -> Reply {
    reply(250, (2, 0, 0), format!("{size} octets received"))
}

/// A bare CR or LF, or a NUL, anywhere in the message.
pub fn flawed_message(f: Flaw) -> Reply {
    let detail = if f == Flaw::Nul { (5, 6, 0) } else { (5, 6, 11) };
    reply(550, detail, format!("Message refused: {}", flaw_text(f)))
}

/// Every kept copy is durable: one queue id per copy (none when every copy was deleted).
pub fn queued(ids: &[&str]) -> Reply {
    if ids.is_empty() {
        reply(250, (2, 0, 0), "Ok: accepted")
    } else {
        reply(250, (2, 0, 0), format!("Ok: queued as {}", ids.join(", ")))
    }
}

pub fn cannot_queue() -> Reply {
    reply(451, (4, 3, 0), "Temporary local problem: the message could not be queued; try again later")
}

// -- ending the session -------------------------------------------------------------------------

pub fn timeout(host: &str) -> Reply {
    reply(421, (4, 4, 2), format!("{host} Error: timeout exceeded, closing connection"))
}

pub fn session_too_long(host: &str) -> Reply {
    reply(421, (4, 4, 2), format!("{host} Error: session time limit exceeded, closing connection"))
}

pub fn too_slow(host: &str) -> Reply {
    reply(421, (4, 4, 2), format!("{host} Error: data rate too low, closing connection"))
}

pub fn shutting_down(host: &str) -> Reply {
    reply(421, (4, 3, 2), format!("{host} Service shutting down, closing connection"))
}

pub fn too_many_errors(host: &str) -> Reply {
    reply(421, (4, 7, 0), format!("{host} Too many errors, closing connection"))
}
