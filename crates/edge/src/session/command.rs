//! Parsing one command line (CRLF already stripped and checked by the framing layer).

use doorman_policy::Reply;

use super::replies::{self, syntax};

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Ehlo(String),
    Helo(String),
    Mail { path: String, params: MailParams },
    Rcpt { path: String },
    Data,
    Bdat { size: u64, last: bool },
    Rset,
    Noop,
    Quit,
    Vrfy,
    Expn,
    Help,
    StartTls,
    Auth,
    Unknown(String),
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct MailParams {
    pub size: Option<u64>,
    pub eight_bit: bool,
    pub smtputf8: bool,
}

impl MailParams {
    /// The parameters the policy decides on.
    pub fn policy(&self) -> doorman_policy::MailParams {
        doorman_policy::MailParams { size: self.size, smtputf8: self.smtputf8 }
    }
}

/// Parses a line; a syntax error comes back as the reply to send.
pub fn parse(line: &[u8]) -> Result<Command, Reply> {
    let line = std::str::from_utf8(line).map_err(|_| replies::not_utf8())?;
    let (verb, rest) = match line.find(' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, ""),
    };
    let verb = verb.to_ascii_uppercase();
    let no_args = |c: Command| {
        if rest.trim().is_empty() { Ok(c) } else { Err(syntax(501, "Syntax error: no parameters allowed")) }
    };
    match verb.as_str() {
        "EHLO" | "HELO" => {
            // An empty name is passed on: whether it is acceptable is the policy's decision.
            let name = rest.split_whitespace().next().unwrap_or_default().to_string();
            Ok(if verb == "EHLO" { Command::Ehlo(name) } else { Command::Helo(name) })
        }
        "MAIL" => {
            let (path, params) = split_path(rest, "FROM:").ok_or_else(|| syntax(501, "Syntax: MAIL FROM:<address>"))?;
            Ok(Command::Mail { path, params: mail_params(&params)? })
        }
        "RCPT" => {
            let (path, params) = split_path(rest, "TO:").ok_or_else(|| syntax(501, "Syntax: RCPT TO:<address>"))?;
            if let Some(p) = params.first() {
                return Err(syntax(555, format!("Unsupported RCPT parameter {p}")));
            }
            Ok(Command::Rcpt { path })
        }
        "DATA" => no_args(Command::Data),
        "BDAT" => {
            let mut words = rest.split_whitespace();
            let size = words.next().and_then(|s| s.parse::<u64>().ok());
            let last = match words.next() {
                None => Some(false),
                Some(w) if w.eq_ignore_ascii_case("LAST") => Some(true),
                Some(_) => None,
            };
            match (size, last, words.next()) {
                (Some(size), Some(last), None) => Ok(Command::Bdat { size, last }),
                _ => Err(syntax(501, "Syntax: BDAT size [LAST]")),
            }
        }
        "RSET" => no_args(Command::Rset),
        "NOOP" => Ok(Command::Noop),
        "QUIT" => no_args(Command::Quit),
        "VRFY" => Ok(Command::Vrfy),
        "EXPN" => Ok(Command::Expn),
        "HELP" => Ok(Command::Help),
        "STARTTLS" => no_args(Command::StartTls),
        "AUTH" => Ok(Command::Auth),
        _ => Ok(Command::Unknown(verb)),
    }
}

/// `FROM:<a@b> SIZE=10` → (`<a@b>`, [`SIZE=10`]). Tolerates a space after the colon, as
/// Postfix and Exchange do.
fn split_path(rest: &str, keyword: &str) -> Option<(String, Vec<String>)> {
    let head = rest.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = rest[keyword.len()..].trim_start();
    let (path, params) = if rest.starts_with('<') {
        // The first '>' outside a quoted local part closes the path.
        let mut quoted = false;
        let mut escaped = false;
        let mut close = None;
        for (i, c) in rest.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                '>' if !quoted => {
                    close = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let close = close?;
        (&rest[..=close], &rest[close + 1..])
    } else {
        match rest.find(' ') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        }
    };
    if path.is_empty() {
        return None;
    }
    if !params.is_empty() && !params.starts_with(' ') {
        return None;
    }
    Some((path.to_string(), params.split_whitespace().map(str::to_string).collect()))
}

fn mail_params(params: &[String]) -> Result<MailParams, Reply> {
    let mut out = MailParams::default();
    for p in params {
        let (key, value) = match p.split_once('=') {
            Some((k, v)) => (k.to_ascii_uppercase(), Some(v)),
            None => (p.to_ascii_uppercase(), None),
        };
        match (key.as_str(), value) {
            ("SIZE", Some(v)) => {
                out.size = Some(v.parse().map_err(|_| syntax(501, format!("Bad SIZE parameter {v:?}")))?)
            }
            ("BODY", Some(v)) if v.eq_ignore_ascii_case("8BITMIME") => out.eight_bit = true,
            ("BODY", Some(v)) if v.eq_ignore_ascii_case("7BIT") => out.eight_bit = false,
            ("BODY", Some(v)) => return Err(syntax(555, format!("Unsupported BODY type {v}"))),
            ("SMTPUTF8", None) => out.smtputf8 = true,
            _ => return Err(syntax(555, format!("Unsupported MAIL parameter {p}"))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(parse(b"ehlo gw.example").unwrap(), Command::Ehlo("gw.example".into()));
        assert_eq!(
            parse(b"MAIL FROM:<a@b.example> SIZE=1000 BODY=8BITMIME SMTPUTF8").unwrap(),
            Command::Mail {
                path: "<a@b.example>".into(),
                params: MailParams { size: Some(1000), eight_bit: true, smtputf8: true }
            }
        );
        assert_eq!(
            parse(b"mail from: <>").unwrap(),
            Command::Mail { path: "<>".into(), params: MailParams::default() }
        );
        assert_eq!(
            parse(b"RCPT TO:<\"a>b\"@c.example>").unwrap(),
            Command::Rcpt { path: "<\"a>b\"@c.example>".into() }
        );
        assert_eq!(parse(b"BDAT 100 LAST").unwrap(), Command::Bdat { size: 100, last: true });
        assert_eq!(parse(b"BDAT 0").unwrap(), Command::Bdat { size: 0, last: false });
        assert_eq!(parse(b"XYZZY").unwrap(), Command::Unknown("XYZZY".into()));
    }

    #[test]
    fn errors_are_replies() {
        assert_eq!(parse(b"MAIL TO:<a@b>").unwrap_err().to_string(), "501 5.5.4 Syntax: MAIL FROM:<address>");
        assert_eq!(parse(b"RCPT TO:<a@b> NOTIFY=NEVER").unwrap_err().code, 555);
        assert_eq!(
            parse(b"MAIL FROM:<a@b> RET=HDRS").unwrap_err().to_string(),
            "555 5.5.4 Unsupported MAIL parameter RET=HDRS"
        );
        assert_eq!(parse(b"BDAT x").unwrap_err().code, 501);
        assert_eq!(parse(b"DATA now").unwrap_err().code, 501);
        assert_eq!(parse(b"EHLO").unwrap(), Command::Ehlo(String::new()));
        assert_eq!(parse(b"helo  ").unwrap(), Command::Helo(String::new()));
        assert_eq!(parse(&[0xff, 0xfe]).unwrap_err().code, 500);
    }
}
