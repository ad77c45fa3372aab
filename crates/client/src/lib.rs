//! The client side of SMTP, as doorman speaks it to other servers: the queue when it relays
//! a copy, the probe when it asks a host up to RCPT. Replies are read whole and bounded in
//! time, commands are written whole, and the TLS client settings are one set. What to say,
//! and what a reply means, is each caller's business.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

/// A reply from the server: `250 2.0.0 Ok` (the lines of a multi-line reply joined by `\n`).
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

/// The server stopped speaking SMTP, or did not in time.
#[derive(Debug, thiserror::Error)]
pub enum ConversationError {
    #[error("write: {0}")]
    Write(#[source] io::Error),
    #[error("write: timed out")]
    WriteTimeout,
    #[error("read: {0}")]
    Read(#[source] io::Error),
    #[error("no reply within {} s", .0.as_secs())]
    ReplyTimeout(Duration),
    #[error("the server closed the connection")]
    Closed,
    #[error("not an SMTP reply: {0:?}")]
    NotAReply(String),
}

/// The TLS client settings for next hops could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientTlsError {
    #[error(transparent)]
    File(#[from] doorman_tls::TlsFileError),
    #[error(transparent)]
    Rustls(#[from] rustls::Error),
}

/// Whether an EHLO reply offers `name` (`STARTTLS`, `PIPELINING`, …).
pub fn has_extension(ehlo: &RemoteReply, name: &str) -> bool {
    ehlo.text.split('\n').any(|l| l.split_whitespace().next().is_some_and(|w| w.eq_ignore_ascii_case(name)))
}

/// QUIT, and its reply.
pub async fn quit<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut BufReader<S>,
    timeout: Duration,
) -> Result<(), ConversationError> {
    command(s, "QUIT", timeout).await.map(|_| ())
}

/// Sends `line` and reads its reply.
pub async fn command<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut BufReader<S>,
    line: &str,
    timeout: Duration,
) -> Result<RemoteReply, ConversationError> {
    write(s, format!("{line}\r\n").as_bytes(), timeout).await?;
    read_reply(s, timeout).await
}

/// Writes `bytes` whole.
pub async fn write<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut BufReader<S>,
    bytes: &[u8],
    timeout: Duration,
) -> Result<(), ConversationError> {
    let w = async {
        s.get_mut().write_all(bytes).await?;
        s.get_mut().flush().await
    };
    match tokio::time::timeout(timeout, w).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ConversationError::Write(e)),
        Err(_) => Err(ConversationError::WriteTimeout),
    }
}

/// Reads one reply; lines of a multi-line reply are joined with `\n` after their codes.
pub async fn read_reply<S: AsyncRead + Unpin>(
    s: &mut BufReader<S>,
    timeout: Duration,
) -> Result<RemoteReply, ConversationError> {
    let mut text = String::new();
    loop {
        let mut line = String::new();
        match tokio::time::timeout(timeout, s.read_line(&mut line)).await {
            Err(_) => return Err(ConversationError::ReplyTimeout(timeout)),
            Ok(Err(e)) => return Err(ConversationError::Read(e)),
            Ok(Ok(0)) => return Err(ConversationError::Closed),
            Ok(Ok(_)) => {}
        }
        let line = line.trim_end_matches(['\r', '\n']);
        let code = line
            .get(..3)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| ConversationError::NotAReply(line.to_string()))?;
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(line.get(4..).unwrap_or(""));
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(RemoteReply { code, text });
        }
    }
}

/// TLS client settings: verified against `ca` (or the system roots), with an
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

/// Client settings that accept any server certificate, without a client certificate: for
/// looking at a server (the probe records what it is shown and judges nothing by it).
pub fn any_certificate() -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let provider = doorman_tls::provider();
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
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
