//! Delivery status notifications (RFC 3464): a multipart/report with a readable part, the
//! machine-readable status per failed recipient, and the original message's headers.
//! Sent only for failures after acceptance (a 5xx from the next hop, expiry, a rule's reject
//! of one tenant's copy); a recipient refused at RCPT already had its answer, and a DSN would
//! be backscatter.

/// One failed recipient.
pub struct Failure<'a> {
    pub recipient: &'a str,
    /// The reply that failed it, e.g. `550 5.1.1 <x@y>: Recipient address rejected`.
    pub reply: &'a str,
    /// The next hop that gave the reply, when one did.
    pub remote: Option<&'a str>,
}

pub struct Report<'a> {
    pub reporting_mta: &'a str,
    pub queue_id: &'a str,
    pub sender: &'a str,
    /// RFC 5322 date of the report.
    pub date: &'a str,
    pub failures: &'a [Failure<'a>],
    pub original: &'a [u8],
}

/// The RFC 3464 status of a reply: its enhanced code when it has one, else 5.0.0 or 4.0.0.
pub fn status(reply: &str) -> String {
    let mut words = reply.split_whitespace();
    let code = words.next().unwrap_or("");
    match words.next() {
        Some(w)
            if w.split('.').count() == 3
                && w.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) =>
        {
            w.to_string()
        }
        _ if code.starts_with('4') => "4.0.0".into(),
        _ => "5.0.0".into(),
    }
}

/// Builds the DSN message, CRLF line ends throughout.
pub fn build(r: &Report<'_>) -> Vec<u8> {
    let boundary = format!("{}.dsn/{}", r.queue_id, r.reporting_mta);
    let mut m = String::new();
    m.push_str(&format!("From: Mail Delivery System <MAILER-DAEMON@{}>\r\n", r.reporting_mta));
    m.push_str(&format!("To: <{}>\r\n", r.sender));
    m.push_str("Subject: Undelivered Mail Returned to Sender\r\n");
    m.push_str(&format!("Date: {}\r\n", r.date));
    m.push_str(&format!("Message-ID: <{}.dsn@{}>\r\n", r.queue_id, r.reporting_mta));
    m.push_str("Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
    m.push_str(&format!(
        "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\r\n"
    ));
    m.push_str("This is a MIME-encapsulated message.\r\n\r\n");

    m.push_str(&format!("--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"));
    m.push_str(&format!(
        "This is the mail system at {}.\r\n\r\nYour message (queue id {}) could not be delivered to one or more\r\nrecipients. The reply for each is below.\r\n\r\n",
        r.reporting_mta, r.queue_id
    ));
    for f in r.failures {
        let via = f.remote.map(|h| format!(" (from {h})")).unwrap_or_default();
        m.push_str(&format!("<{}>: {}{via}\r\n", f.recipient, one_line(f.reply)));
    }
    m.push_str("\r\n");

    m.push_str(&format!("--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"));
    m.push_str(&format!("Reporting-MTA: dns; {}\r\nX-Doorman-Queue-ID: {}\r\n", r.reporting_mta, r.queue_id));
    for f in r.failures {
        m.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {}\r\nAction: failed\r\nStatus: {}\r\n",
            f.recipient,
            status(f.reply)
        ));
        if let Some(h) = f.remote {
            m.push_str(&format!("Remote-MTA: dns; {h}\r\n"));
        }
        m.push_str(&format!("Diagnostic-Code: smtp; {}\r\n", one_line(f.reply)));
    }
    m.push_str("\r\n");

    m.push_str(&format!("--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"));
    let mut out = m.into_bytes();
    out.extend_from_slice(headers_of(r.original));
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

/// The header block of a message, without the blank line.
fn headers_of(message: &[u8]) -> &[u8] {
    match message.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(end) => &message[..end + 2],
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_carries_status_remote_and_original_headers() {
        let failures = [Failure {
            recipient: "bob@fabrikam.com",
            reply: "550 5.1.1 No such user",
            remote: Some("mx.fabrikam.test"),
        }];
        let dsn = build(&Report {
            reporting_mta: "edge.test",
            queue_id: "Q1",
            sender: "alice@example.net",
            date: "Sat, 28 Nov 2026 03:25:50 +0000",
            failures: &failures,
            original: b"From: alice@example.net\r\nSubject: hi\r\n\r\nsecret body\r\n",
        });
        let text = String::from_utf8(dsn).unwrap();
        assert!(text.contains("Content-Type: multipart/report; report-type=delivery-status;"));
        assert!(text.contains("Final-Recipient: rfc822; bob@fabrikam.com\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.fabrikam.test\r\nDiagnostic-Code: smtp; 550 5.1.1 No such user\r\n"));
        assert!(text.contains("Content-Type: text/rfc822-headers\r\n\r\nFrom: alice@example.net\r\nSubject: hi\r\n"));
        assert!(!text.contains("secret body"), "only the headers are returned");
        assert_eq!(status("451 4.4.3 later"), "4.4.3");
        assert_eq!(status("550 no code"), "5.0.0");
    }
}
