//! The SMTP client that relays a copy to a next hop: EHLO, STARTTLS when offered (required and
//! verified, or opportunistic), MAIL and every RCPT pipelined when the server allows it, then
//! DATA. It reports a result per recipient, because a next hop may take some and refuse others.

use std::io;
use std::sync::Arc;
use std::time::Duration;

pub use doorman_client::{ClientTlsError, RemoteReply, client_configs};
use doorman_client::{ConversationError, has_extension};
use rustls::pki_types::{InvalidDnsNameError, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// What happened to one attempt on one next hop.
#[derive(Debug)]
pub enum Attempt {
    /// The session ran to DATA's end; one reply per recipient (the RCPT reply when refused,
    /// else the reply after DATA).
    Done(Vec<RemoteReply>),
    /// The whole message was refused before any recipient could be judged (greeting, EHLO,
    /// MAIL, TLS policy): every recipient gets this reply.
    Refused(RemoteReply),
    /// No SMTP answer at all (connection refused, timeout, TLS failure): try the next hop.
    Unreachable(SmtpError),
}

/// The next hop could not be reached, or stopped speaking SMTP.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("connect to {host}:{port}: {source}")]
    Connect { host: String, port: u16, source: io::Error },
    #[error("connect to {host}:{port}: timed out")]
    ConnectTimeout { host: String, port: u16 },
    #[error("the next hop closed the connection")]
    Closed,
    #[error(transparent)]
    Conversation(ConversationError),
    #[error("the next hop sent data before the TLS handshake")]
    DataBeforeTls,
    #[error("{host}: not a TLS server name: {source}")]
    ServerName { host: String, source: InvalidDnsNameError },
    #[error("TLS with {host}: {source}")]
    Tls { host: String, source: io::Error },
    #[error("TLS with {host}: timed out")]
    TlsTimeout { host: String },
    #[error("reading the spooled copy: {0}")]
    Spool(#[source] io::Error),
}

impl From<ConversationError> for SmtpError {
    fn from(e: ConversationError) -> SmtpError {
        match e {
            ConversationError::Closed => SmtpError::Closed,
            other => SmtpError::Conversation(other),
        }
    }
}

pub struct Target<'a> {
    pub host: &'a str,
    pub port: u16,
    /// TLS must be used, and the certificate must verify for `host`.
    pub require_tls: bool,
    pub verified: Arc<rustls::ClientConfig>,
    /// For opportunistic TLS: any certificate is accepted (it still beats plaintext).
    pub unverified: Arc<rustls::ClientConfig>,
}

pub struct Envelope<'a> {
    pub helo: &'a str,
    /// Empty for the null sender.
    pub mail_from: &'a str,
    pub eight_bit: bool,
    /// The client gave SMTPUTF8 (RFC 6531): it is passed on to a next hop that offers it.
    pub smtputf8: bool,
    pub recipients: &'a [String],
}

impl Envelope<'_> {
    /// Whether the copy cannot go as it is to a next hop without SMTPUTF8: a non-ASCII address,
    /// or a non-ASCII header (RFC 6532), with the client's SMTPUTF8. An address is never
    /// mangled into ASCII.
    fn needs_smtputf8(&self, head: &[u8]) -> bool {
        let header_end = head.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(head.len());
        self.smtputf8
            && (!self.mail_from.is_ascii()
                || self.recipients.iter().any(|r| !r.is_ascii())
                || !head[..header_end].is_ascii())
    }
}

const TIMEOUT: Duration = Duration::from_secs(60);

/// The message to relay: its first bytes (for what must be known of its headers), and all of
/// it as a reader, read piece by piece while it is sent.
pub struct Message<'a> {
    pub head: &'a [u8],
    pub body: &'a mut (dyn std::io::Read + Send),
}

pub async fn send(target: &Target<'_>, env: &Envelope<'_>, message: Message<'_>) -> Attempt {
    let tcp = match tokio::time::timeout(TIMEOUT, TcpStream::connect((target.host, target.port))).await {
        Ok(Ok(s)) => s,
        Ok(Err(source)) => {
            return Attempt::Unreachable(SmtpError::Connect { host: target.host.into(), port: target.port, source });
        }
        Err(_) => {
            return Attempt::Unreachable(SmtpError::ConnectTimeout { host: target.host.into(), port: target.port });
        }
    };
    let _ = tcp.set_nodelay(true);
    let mut plain = BufReader::new(tcp);
    let greeting = match doorman_client::read_reply(&mut plain, TIMEOUT).await.map_err(SmtpError::from) {
        Ok(r) => r,
        Err(e) => return Attempt::Unreachable(e),
    };
    if greeting.code != 220 {
        return Attempt::Refused(greeting);
    }
    let ehlo = match doorman_client::command(&mut plain, &format!("EHLO {}", env.helo), TIMEOUT)
        .await
        .map_err(SmtpError::from)
    {
        Ok(r) => r,
        Err(e) => return Attempt::Unreachable(e),
    };
    if ehlo.code != 250 {
        return Attempt::Refused(ehlo);
    }
    let offers_tls = has_extension(&ehlo, "STARTTLS");
    if !offers_tls {
        if target.require_tls {
            return Attempt::Refused(RemoteReply {
                code: 450,
                text: format!("4.7.10 TLS is required for {}, and it does not offer STARTTLS", target.host),
            });
        }
        return transaction(&mut plain, &ehlo, env, message).await;
    }
    match doorman_client::command(&mut plain, "STARTTLS", TIMEOUT).await.map_err(SmtpError::from) {
        Ok(r) if r.code == 220 => {}
        Ok(r) if target.require_tls => return Attempt::Refused(r),
        Ok(_) => return transaction(&mut plain, &ehlo, env, message).await,
        Err(e) => return Attempt::Unreachable(e),
    }
    if !plain.buffer().is_empty() {
        return Attempt::Unreachable(SmtpError::DataBeforeTls);
    }
    let config = if target.require_tls { target.verified.clone() } else { target.unverified.clone() };
    let name = match ServerName::try_from(target.host.to_string()) {
        Ok(n) => n,
        Err(source) => return Attempt::Unreachable(SmtpError::ServerName { host: target.host.into(), source }),
    };
    let tls = match tokio::time::timeout(TIMEOUT, TlsConnector::from(config).connect(name, plain.into_inner())).await {
        Ok(Ok(t)) => t,
        Ok(Err(source)) => return Attempt::Unreachable(SmtpError::Tls { host: target.host.into(), source }),
        Err(_) => return Attempt::Unreachable(SmtpError::TlsTimeout { host: target.host.into() }),
    };
    let mut tls = BufReader::new(tls);
    let ehlo = match doorman_client::command(&mut tls, &format!("EHLO {}", env.helo), TIMEOUT)
        .await
        .map_err(SmtpError::from)
    {
        Ok(r) => r,
        Err(e) => return Attempt::Unreachable(e),
    };
    if ehlo.code != 250 {
        return Attempt::Refused(ehlo);
    }
    transaction(&mut tls, &ehlo, env, message).await
}

async fn transaction<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut BufReader<S>,
    ehlo: &RemoteReply,
    env: &Envelope<'_>,
    message: Message<'_>,
) -> Attempt {
    let pipelining = has_extension(ehlo, "PIPELINING");
    let utf8 = env.smtputf8 && has_extension(ehlo, "SMTPUTF8");
    if !utf8 && env.needs_smtputf8(message.head) {
        let _ = doorman_client::quit(s, TIMEOUT).await;
        return Attempt::Refused(RemoteReply {
            code: 553,
            text: "5.6.7 The message needs SMTPUTF8 (a non-ASCII address or header), which the next hop does not offer"
                .into(),
        });
    }
    let body = if env.eight_bit && has_extension(ehlo, "8BITMIME") { " BODY=8BITMIME" } else { "" };
    let utf8 = if utf8 { " SMTPUTF8" } else { "" };
    let mut commands = vec![format!("MAIL FROM:<{}>{body}{utf8}", env.mail_from)];
    commands.extend(env.recipients.iter().map(|r| format!("RCPT TO:<{r}>")));
    commands.push("DATA".into());

    let mut replies = Vec::with_capacity(commands.len());
    if pipelining {
        let batch: String = commands.iter().map(|c| format!("{c}\r\n")).collect();
        if let Err(e) = doorman_client::write(s, batch.as_bytes(), TIMEOUT).await.map_err(SmtpError::from) {
            return Attempt::Unreachable(e);
        }
        for _ in &commands {
            match doorman_client::read_reply(s, TIMEOUT).await.map_err(SmtpError::from) {
                Ok(r) => replies.push(r),
                Err(e) => return Attempt::Unreachable(e),
            }
        }
    } else {
        // One at a time: stop after a refused MAIL, and send DATA only with a recipient.
        for (i, c) in commands.iter().enumerate() {
            let is_data = i == commands.len() - 1;
            if (i > 0 && replies[0].code != 250) || (is_data && !replies[1..].iter().any(is_positive)) {
                break;
            }
            match doorman_client::command(s, c, TIMEOUT).await.map_err(SmtpError::from) {
                Ok(r) => replies.push(r),
                Err(e) => return Attempt::Unreachable(e),
            }
        }
    }
    let mail = &replies[0];
    if mail.code != 250 {
        let _ = doorman_client::write(s, b"RSET\r\n", TIMEOUT).await;
        return Attempt::Refused(mail.clone());
    }
    let rcpt_replies: Vec<RemoteReply> = replies[1..replies.len().min(env.recipients.len() + 1)].to_vec();
    let accepted = rcpt_replies.iter().filter(|r| is_positive(r)).count();
    let data = replies.get(env.recipients.len() + 1);
    if accepted == 0 || data.is_none_or(|d| d.code != 354) {
        // Nothing to send: report the refusals (or the refused DATA for everyone accepted).
        let data_refusal = data.cloned();
        let _ = doorman_client::quit(s, TIMEOUT).await;
        return Attempt::Done(
            rcpt_replies
                .into_iter()
                .map(|r| match (&data_refusal, r.code / 100 == 2) {
                    (Some(d), true) => d.clone(),
                    _ => r,
                })
                .collect(),
        );
    }
    let mut stuffer = DotStuffer::default();
    let mut piece = vec![0u8; 64 * 1024];
    loop {
        let n = match message.body.read(&mut piece) {
            Ok(n) => n,
            Err(e) => return Attempt::Unreachable(SmtpError::Spool(e)),
        };
        let out = if n == 0 { stuffer.finish() } else { stuffer.stuff(&piece[..n]) };
        if let Err(e) = doorman_client::write(s, &out, TIMEOUT).await.map_err(SmtpError::from) {
            return Attempt::Unreachable(e);
        }
        if n == 0 {
            break;
        }
    }
    let after_data = match doorman_client::read_reply(s, TIMEOUT).await.map_err(SmtpError::from) {
        Ok(r) => r,
        Err(e) => return Attempt::Unreachable(e),
    };
    let _ = doorman_client::quit(s, TIMEOUT).await;
    Attempt::Done(rcpt_replies.into_iter().map(|r| if r.code / 100 == 2 { after_data.clone() } else { r }).collect())
}

fn is_positive(r: &RemoteReply) -> bool {
    r.code / 100 == 2
}

/// The message as DATA sends it, piece by piece: a dot doubled at the start of a line, and
/// CRLF.CRLF at the end.
#[derive(Default)]
pub struct DotStuffer {
    mid_line: bool,
    /// The last two bytes sent.
    tail: [u8; 2],
    sent: u64,
}

impl DotStuffer {
    pub fn stuff(&mut self, piece: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(piece.len() + 64);
        for &b in piece {
            if !self.mid_line && b == b'.' {
                out.push(b'.');
            }
            out.push(b);
            self.mid_line = b != b'\n';
        }
        self.sent += piece.len() as u64;
        match piece {
            [.., a, b] => self.tail = [*a, *b],
            [b] => self.tail = [self.tail[1], *b],
            [] => {}
        }
        out
    }

    /// The end marker, after a CRLF if the message did not end with one.
    pub fn finish(&mut self) -> Vec<u8> {
        if self.sent > 0 && self.tail != *b"\r\n" { b"\r\n.\r\n".to_vec() } else { b".\r\n".to_vec() }
    }
}

/// A whole message as DATA sends it.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut s = DotStuffer::default();
    let mut out = s.stuff(message);
    out.extend_from_slice(&s.finish());
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn dot_stuffing() {
        assert_eq!(super::dot_stuff(b"a\r\n.b\r\n..c\r\n"), b"a\r\n..b\r\n...c\r\n.\r\n");
        assert_eq!(super::dot_stuff(b".x"), b"..x\r\n.\r\n");
        // Piece by piece: a line start carries over, and so does a CRLF split in two.
        let mut s = super::DotStuffer::default();
        let mut out = s.stuff(b"a\r");
        out.extend(s.stuff(b"\n.b\r\n"));
        out.extend(s.stuff(b".c\r\n"));
        out.extend(s.finish());
        assert_eq!(out, b"a\r\n..b\r\n..c\r\n.\r\n");
    }
}
