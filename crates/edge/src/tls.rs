//! TLS for the edge: the server certificate (configured, or self-signed at start) and client
//! certificates that are asked for, never required.
//!
//! A client certificate that does not verify must not end the handshake: a sender with a
//! stale or private certificate still deserves the same treatment as one with none. So the
//! handshake only checks that the client holds the key; the chain is verified afterwards and
//! the result recorded as [`ClientCertificate`]. Only a verified certificate's names can
//! match a connector.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use doorman_config::ServerTls;
use doorman_policy::{ClientCertificate, TlsInfo};
use doorman_tls::provider;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConnection, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};

/// The edge's TLS set-up could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot make a self-signed certificate for {hostname}: {source}")]
    SelfSigned { hostname: String, source: rcgen::Error },
    #[error(transparent)]
    File(#[from] doorman_tls::TlsFileError),
    #[error(transparent)]
    Protocols(rustls::Error),
    #[error("server.tls: the certificate and key do not fit together: {0}")]
    KeyMismatch(#[source] rustls::Error),
    #[error("server.tls.client_ca: {0}")]
    ClientCa(#[source] rustls::server::VerifierBuilderError),
}

/// A certificate made at start when none is configured; kept across reloads.
pub struct SelfSigned {
    cert: CertificateDer<'static>,
    key: Vec<u8>,
}

impl SelfSigned {
    /// A certificate for `hostname` (its CN and its one SAN), valid for a year from now.
    pub fn generate(hostname: &str) -> Result<SelfSigned, TlsError> {
        let failed = |source| TlsError::SelfSigned { hostname: hostname.to_string(), source };
        let mut params = rcgen::CertificateParams::new(vec![hostname.to_string()]).map_err(failed)?;
        let mut name = rcgen::DistinguishedName::new();
        name.push(rcgen::DnType::CommonName, hostname);
        params.distinguished_name = name;
        // A minute back, for clients whose clocks run a little behind.
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::minutes(1);
        params.not_after = now + time::Duration::days(365);
        let key = rcgen::KeyPair::generate().map_err(failed)?;
        let cert = params.self_signed(&key).map_err(failed)?;
        Ok(SelfSigned { cert: cert.der().clone(), key: key.serialize_der() })
    }
}

/// The rustls configuration and the verifier that checks client certificates after the
/// handshake.
#[derive(Clone)]
pub struct TlsSetup {
    pub config: Arc<ServerConfig>,
    client: Arc<LenientClientVerifier>,
}

/// Builds the rustls configuration from `server.tls`.
pub fn server_config(tls: &ServerTls, self_signed: &SelfSigned) -> Result<TlsSetup, TlsError> {
    let (chain, key) = match (&tls.certificate, &tls.key) {
        (Some(cert), Some(key)) => (doorman_tls::load_certs(cert)?, doorman_tls::load_key(key)?),
        _ => (vec![self_signed.cert.clone()], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self_signed.key.clone()))),
    };
    let verifier = Arc::new(LenientClientVerifier::new(tls.client_ca.as_deref())?);
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Protocols)?
        .with_client_cert_verifier(verifier.clone())
        .with_single_cert(chain, key)
        .map_err(TlsError::KeyMismatch)?;
    config.ignore_client_order = true;
    Ok(TlsSetup { config: Arc::new(config), client: verifier })
}

/// Asks for a client certificate, accepts any, and verifies it after the handshake.
struct LenientClientVerifier {
    /// `None` when no trust anchor could be loaded: then no certificate verifies.
    webpki: Option<Arc<dyn ClientCertVerifier>>,
    hints: Vec<DistinguishedName>,
}

impl fmt::Debug for LenientClientVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LenientClientVerifier")
    }
}

impl LenientClientVerifier {
    fn new(client_ca: Option<&Path>) -> Result<LenientClientVerifier, TlsError> {
        let roots = doorman_tls::roots(client_ca)?;
        if roots.is_empty() {
            return Ok(LenientClientVerifier { webpki: None, hints: Vec::new() });
        }
        // Name the CAs in the request only when they were configured; the system's 150 would
        // bloat every handshake.
        let hints = if client_ca.is_some() { roots.subjects() } else { Vec::new() };
        let webpki = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .allow_unauthenticated()
            .build()
            .map_err(TlsError::ClientCa)?;
        Ok(LenientClientVerifier { webpki: Some(webpki), hints })
    }
}

impl ClientCertVerifier for LenientClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &provider().signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &provider().signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider().signature_verification_algorithms.supported_schemes()
    }
}

/// How long a client may take over a handshake: the command timeout, at most a minute.
pub fn handshake_timeout(limits: &doorman_config::Limits) -> std::time::Duration {
    limits.command_timeout.0.min(std::time::Duration::from_secs(60))
}

/// What the policy needs to know about a finished handshake.
pub fn session_info(conn: &ServerConnection, setup: &TlsSetup) -> TlsInfo {
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
        Some(v) => format!("{v:?}"),
        None => "unknown".to_string(),
    };
    let cipher = conn.negotiated_cipher_suite().map_or("unknown".to_string(), |s| format!("{:?}", s.suite()));
    let certificate = match conn.peer_certificates() {
        Some([leaf, intermediates @ ..]) => verify_after_handshake(&setup.client, leaf, intermediates),
        _ => ClientCertificate::None,
    };
    TlsInfo::new(version, cipher, certificate)
}

fn verify_after_handshake(
    lenient: &LenientClientVerifier,
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
) -> ClientCertificate {
    let Some(webpki) = &lenient.webpki else {
        return ClientCertificate::Unverified;
    };
    match webpki.verify_client_cert(leaf, intermediates, UnixTime::now()) {
        Ok(_) => ClientCertificate::Verified { names: certificate_names(leaf) },
        Err(e) => {
            tracing::debug!("client certificate {:?} did not verify: {e}", certificate_names(leaf));
            ClientCertificate::Unverified
        }
    }
}

pub use doorman_tls::certificate_names;

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::extensions::GeneralName;

    #[test]
    fn the_self_signed_certificate_names_the_host_and_lasts_a_year_from_start() {
        let made = SelfSigned::generate("edge.contoso.example").unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&made.cert).unwrap();
        let cn: Vec<&str> = cert.subject().iter_common_name().map(|n| n.as_str().unwrap()).collect();
        assert_eq!(cn, ["edge.contoso.example"]);
        assert_eq!(cert.subject(), cert.issuer(), "self-signed");
        let san = cert.subject_alternative_name().unwrap().expect("a SAN");
        let names: Vec<&GeneralName> = san.value.general_names.iter().collect();
        assert_eq!(names, [&GeneralName::DNSName("edge.contoso.example")]);
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let (from, to) = (cert.validity().not_before.timestamp(), cert.validity().not_after.timestamp());
        assert!((now - 120..=now).contains(&from), "valid from start: {from} against {now}");
        let year = 365 * 86_400;
        assert!((now + year - 120..=now + year + 5).contains(&to), "valid for a year: {to} against {now}");
    }
}
