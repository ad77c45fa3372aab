//! The headers doorman adds to a tenant copy: `Received` first (RFC 5321 section 4.4), then
//! the rule-set headers and `X-Doorman-Report`, replacing any field of the same name the client
//! sent, so that a report header cannot be forged. The body is never copied: the new header
//! block is written in front of the untouched rest.

use std::net::IpAddr;

use doorman_policy::{HeaderField, TlsInfo};

/// What the `Received` field says.
pub struct ReceivedFields<'a> {
    pub helo: Option<&'a str>,
    pub client_ip: IpAddr,
    pub hostname: &'a str,
    pub esmtp: bool,
    pub smtputf8: bool,
    pub tls: Option<&'a TlsInfo>,
    pub queue_id: &'a str,
    /// Named only when the copy has a single recipient, so a copy does not reveal the others.
    pub recipient: Option<&'a str>,
    pub date: &'a str,
}

pub fn received(f: &ReceivedFields<'_>) -> String {
    let helo = f.helo.map(sanitize).unwrap_or_else(|| "unknown".to_string());
    // RFC 3848 protocol names.
    let protocol = match (f.smtputf8, f.esmtp, f.tls.is_some()) {
        (true, _, true) => "UTF8SMTPS",
        (true, _, false) => "UTF8SMTP",
        (false, true, true) => "ESMTPS",
        (false, true, false) => "ESMTP",
        (false, false, true) => "SMTPS",
        (false, false, false) => "SMTP",
    };
    let mut out = format!("Received: from {helo} ([{}])\r\n\tby {} (doorman) with {protocol}", f.client_ip, f.hostname);
    if let Some(tls) = f.tls {
        out.push_str(&format!("\r\n\t(version={} cipher={})", tls.version, tls.cipher));
    }
    out.push_str(&format!("\r\n\tid {}", f.queue_id));
    if let Some(r) = f.recipient {
        out.push_str(&format!("\r\n\tfor <{}>", sanitize(r)));
    }
    out.push_str(&format!("; {}\r\n", f.date));
    out
}

/// Keeps a client-chosen name from breaking the header: printable ASCII without parentheses.
fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_graphic() && c != '(' && c != ')' { c } else { '?' }).collect()
}

/// Builds the new header block. Returns it and the offset in `message` where the untouched
/// rest (remaining original fields are copied into the block; the rest is the blank line and
/// body) begins.
pub fn new_head(message: &[u8], received: &str, set: &[HeaderField], subject_prefix: Option<&str>) -> (Vec<u8>, usize) {
    let mut head = Vec::with_capacity(received.len() + 256);
    head.extend_from_slice(received.as_bytes());
    for h in set {
        head.extend_from_slice(format!("{}: {}\r\n", h.name, h.value.replace(['\r', '\n'], " ")).as_bytes());
    }
    let (fields, end) = header_fields(message);
    for field in fields {
        let raw = &message[field.clone()];
        let name = raw.split(|&b| b == b':').next().unwrap_or_default();
        let name = String::from_utf8_lossy(name);
        let name = name.trim();
        if set.iter().any(|h| h.name.eq_ignore_ascii_case(name)) {
            continue;
        }
        match subject_prefix {
            Some(prefix) if name.eq_ignore_ascii_case("subject") => {
                let colon = raw.iter().position(|&b| b == b':').unwrap_or(0);
                let value = &raw[colon + 1..];
                let skip = value.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
                head.extend_from_slice(b"Subject: ");
                head.extend_from_slice(prefix.as_bytes());
                head.extend_from_slice(&value[skip..]);
            }
            _ => head.extend_from_slice(raw),
        }
    }
    if end < message.len() && !message[end..].starts_with(b"\r\n") {
        // A line that is not a header field ends the block: keep it in the body.
        head.extend_from_slice(b"\r\n");
    }
    (head, end)
}

/// Byte ranges of the header fields (with folded lines and CRLF), and where they end.
fn header_fields(message: &[u8]) -> (Vec<std::ops::Range<usize>>, usize) {
    let mut fields: Vec<std::ops::Range<usize>> = Vec::new();
    let mut at = 0;
    while at < message.len() {
        let end = message[at..].windows(2).position(|w| w == b"\r\n").map_or(message.len(), |p| at + p + 2);
        let line = &message[at..end];
        if line == b"\r\n" {
            break;
        }
        let folded = line[0] == b' ' || line[0] == b'\t';
        match fields.last_mut() {
            Some(last) if folded => last.end = end,
            _ if folded => break,
            _ => {
                let name_len = line.iter().position(|&b| b == b':');
                let valid = name_len.is_some_and(|n| n > 0 && line[..n].iter().all(|&b| b.is_ascii_graphic()));
                if !valid {
                    break;
                }
                fields.push(at..end);
            }
        }
        at = end;
    }
    (fields, at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use doorman_policy::ClientCertificate;

    #[test]
    fn received_names_tls_and_protocol() {
        let tls = TlsInfo::new("TLSv1.3", "TLS13_AES_256_GCM_SHA384", ClientCertificate::None);
        let r = received(&ReceivedFields {
            helo: Some("gw (evil)\r\nX: y"),
            client_ip: "80.66.20.13".parse().unwrap(),
            hostname: "edge.example",
            esmtp: true,
            smtputf8: false,
            tls: Some(&tls),
            queue_id: "ABC",
            recipient: Some("alice@contoso.com"),
            date: "Sat, 28 Nov 2026 03:25:50 +0000",
        });
        assert_eq!(
            r,
            "Received: from gw??evil???X:?y ([80.66.20.13])\r\n\tby edge.example (doorman) with ESMTPS\r\n\t(version=TLSv1.3 cipher=TLS13_AES_256_GCM_SHA384)\r\n\tid ABC\r\n\tfor <alice@contoso.com>; Sat, 28 Nov 2026 03:25:50 +0000\r\n"
        );
    }

    #[test]
    fn replaces_set_headers_and_prefixes_subject() {
        let msg = b"From: a@example.net\r\nX-Doorman-Report: forged\r\nSubject: Hello\r\n world\r\n\r\nbody\r\n";
        let set = [HeaderField { name: "X-Doorman-Report".into(), value: "tenant=contoso".into() }];
        let (head, rest) = new_head(msg, "Received: x\r\n", &set, Some("[EXT] "));
        let mut out = head;
        out.extend_from_slice(&msg[rest..]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Received: x\r\nX-Doorman-Report: tenant=contoso\r\nFrom: a@example.net\r\nSubject: [EXT] Hello\r\n world\r\n\r\nbody\r\n"
        );
    }

    #[test]
    fn a_message_without_headers_keeps_its_body() {
        let msg = b"just text\r\n";
        let (head, rest) = new_head(msg, "Received: x\r\n", &[], None);
        assert_eq!(head, b"Received: x\r\n\r\n");
        assert_eq!(rest, 0);
    }
}
