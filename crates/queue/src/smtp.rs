//! The SMTP client that relays a copy to a next hop: EHLO, STARTTLS when offered (required and
//! verified, or opportunistic), MAIL and every RCPT pipelined when the server allows it, then
//! DATA. It reports a result per recipient, because a next hop may take some and refuse others.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{InvalidDnsNameError, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A reply from the next hop: `250 2.0.0 Ok` (lines joined by a space).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteReply {
    pub code: u16,
    pub text: String,
}

impl RemoteReply {
    pub fn line(&self) -> String {
        format!("{} {}", self.code, self.text)
    }
}

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
    #[error("write: {0}")]
    Write(#[source] io::Error),
    #[error("write: timed out")]
    WriteTimeout,
    #[error("read: {0}")]
    Read(#[source] io::Error),
    #[error("no reply within 60 s")]
    ReplyTimeout,
    #[error("the next hop closed the connection")]
    Closed,
    #[error("not an SMTP reply: {0:?}")]
    NotAReply(String),
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

/// The TLS client settings for next hops could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientTlsError {
    #[error(transparent)]
    File(#[from] doorman_tls::TlsFileError),
    #[error(transparent)]
    Rustls(#[from] rustls::Error),
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
    let greeting = match read_reply(&mut plain).await {
        Ok(r) => r,
        Err(e) => return Attempt::Unreachable(e),
    };
    if greeting.code != 220 {
        return Attempt::Refused(greeting);
    }
    let ehlo = match command(&mut plain, &format!("EHLO {}", env.helo)).await {
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
    match command(&mut plain, "STARTTLS").await {
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
    let ehlo = match command(&mut tls, &format!("EHLO {}", env.helo)).await {
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
        let _ = quit(s).await;
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
        if let Err(e) = write(s, batch.as_bytes()).await {
            return Attempt::Unreachable(e);
        }
        for _ in &commands {
            match read_reply(s).await {
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
            match command(s, c).await {
                Ok(r) => replies.push(r),
                Err(e) => return Attempt::Unreachable(e),
            }
        }
    }
    let mail = &replies[0];
    if mail.code != 250 {
        let _ = write(s, b"RSET\r\n").await;
        return Attempt::Refused(mail.clone());
    }
    let rcpt_replies: Vec<RemoteReply> = replies[1..replies.len().min(env.recipients.len() + 1)].to_vec();
    let accepted = rcpt_replies.iter().filter(|r| is_positive(r)).count();
    let data = replies.get(env.recipients.len() + 1);
    if accepted == 0 || data.is_none_or(|d| d.code != 354) {
        // Nothing to send: report the refusals (or the refused DATA for everyone accepted).
        let data_refusal = data.cloned();
        let _ = quit(s).await;
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
        if let Err(e) = write(s, &out).await {
            return Attempt::Unreachable(e);
        }
        if n == 0 {
            break;
        }
    }
    let after_data = match read_reply(s).await {
        Ok(r) => r,
        Err(e) => return Attempt::Unreachable(e),
    };
    let _ = quit(s).await;
    Attempt::Done(rcpt_replies.into_iter().map(|r| if r.code / 100 == 2 { after_data.clone() } else { r }).collect())
}

fn is_positive(r: &RemoteReply) -> bool {
    r.code / 100 == 2
}

fn has_extension(ehlo: &RemoteReply, name: &str) -> bool {
    ehlo.text.split('\n').any(|l| l.split_whitespace().next().is_some_and(|w| w.eq_ignore_ascii_case(name)))
}

async fn quit<S: AsyncRead + AsyncWrite + Unpin>(s: &mut BufReader<S>) -> Result<(), SmtpError> {
    command(s, "QUIT").await.map(|_| ())
}

async fn command<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut BufReader<S>,
    line: &str,
) -> Result<RemoteReply, SmtpError> {
    write(s, format!("{line}\r\n").as_bytes()).await?;
    read_reply(s).await
}

async fn write<S: AsyncRead + AsyncWrite + Unpin>(s: &mut BufReader<S>, bytes: &[u8]) -> Result<(), SmtpError> {
    let w = async {
        s.get_mut().write_all(bytes).await?;
        s.get_mut().flush().await
    };
    match tokio::time::timeout(TIMEOUT, w).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(SmtpError::Write(e)),
        Err(_) => Err(SmtpError::WriteTimeout),
    }
}

/// Reads one reply; lines of a multi-line reply are joined with `\n` after their codes.
async fn read_reply<S: AsyncRead + Unpin>(s: &mut BufReader<S>) -> Result<RemoteReply, SmtpError> {
    let mut text = String::new();
    loop {
        let mut line = String::new();
        match tokio::time::timeout(TIMEOUT, s.read_line(&mut line)).await {
            Err(_) => return Err(SmtpError::ReplyTimeout),
            Ok(Err(e)) => return Err(SmtpError::Read(e)),
            Ok(Ok(0)) => return Err(SmtpError::Closed),
            Ok(Ok(_)) => {}
        }
        let line = line.trim_end_matches(['\r', '\n']);
        let code =
            line.get(..3).and_then(|c| c.parse::<u16>().ok()).ok_or_else(|| SmtpError::NotAReply(line.to_string()))?;
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(line.get(4..).unwrap_or(""));
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(RemoteReply { code, text });
        }
    }
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

/// TLS client settings for next hops: verified against `ca` (or the system roots), with an
/// optional client certificate; and the opportunistic variant that accepts any certificate.
pub fn client_configs(
    ca: Option<&std::path::Path>,
    client_cert: Option<(&std::path::Path, &std::path::Path)>,
) -> Result<(Arc<rustls::ClientConfig>, Arc<rustls::ClientConfig>), ClientTlsError> {
    let provider = doorman_tls::provider();
    let roots = doorman_tls::roots(ca)?;
    let identity = match client_cert {
        Some((cert, key)) => Some((doorman_tls::load_certs(cert)?, doorman_tls::load_key(key)?)),
        None => None,
    };
    let builder = |verifier: Option<Arc<dyn rustls::client::danger::ServerCertVerifier>>| {
        let b = rustls::ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
        let b = match verifier {
            Some(v) => b.dangerous().with_custom_certificate_verifier(v),
            None => b.with_root_certificates(roots.clone()),
        };
        match &identity {
            Some((chain, key)) => b.with_client_auth_cert(chain.clone(), key.clone_key()).map_err(ClientTlsError::from),
            None => Ok(b.with_no_client_auth()),
        }
    };
    let verified = builder(None)?;
    let unverified = builder(Some(Arc::new(AnyCertificate(provider.clone()))))?;
    Ok((Arc::new(verified), Arc::new(unverified)))
}

/// Opportunistic TLS: encrypt even when the certificate cannot be checked (RFC 7435).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
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
