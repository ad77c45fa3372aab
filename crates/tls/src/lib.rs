//! Loading what TLS needs from files, one way for both sides: the edge's certificate and the
//! CA its clients' certificates are checked against, and the relay's client certificate and
//! the CA its next hops are checked against. Errors name the file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate, key or CA file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsFileError {
    #[error("{path}: cannot read PEM certificates: {source}")]
    Certificates { path: PathBuf, source: pem::Error },
    #[error("{0}: no certificate in the file")]
    NoCertificate(PathBuf),
    #[error("{path}: cannot read a PEM private key: {source}")]
    Key { path: PathBuf, source: pem::Error },
    #[error("{path}: not a usable CA certificate: {source}")]
    Ca { path: PathBuf, source: rustls::Error },
}

/// The crypto doorman uses everywhere: ring (no cmake, no OpenSSL).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM file; at least one.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsFileError::Certificates { path: path.to_path_buf(), source })?;
    if certs.is_empty() {
        return Err(TlsFileError::NoCertificate(path.to_path_buf()));
    }
    Ok(certs)
}

/// The private key in a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsFileError> {
    PrivateKeyDer::from_pem_file(path).map_err(|source| TlsFileError::Key { path: path.to_path_buf(), source })
}

/// Trust anchors: every certificate of `ca`, or the system's when none is given.
pub fn roots(ca: Option<&Path>) -> Result<RootCertStore, TlsFileError> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(path) => {
            for cert in load_certs(path)? {
                roots.add(cert).map_err(|source| TlsFileError::Ca { path: path.to_path_buf(), source })?;
            }
        }
        None => {
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        }
    }
    Ok(roots)
}

/// Subject CN and DNS subject alternative names, lower case, without duplicates.
pub fn certificate_names(der: &rustls::pki_types::CertificateDer<'_>) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der.as_ref()) else {
        return Vec::new();
    };
    let mut names: Vec<String> = Vec::new();
    let mut add = |n: &str| {
        let n = n.trim_end_matches('.').to_ascii_lowercase();
        if !n.is_empty() && !names.contains(&n) {
            names.push(n);
        }
    };
    for cn in cert.subject().iter_common_name() {
        if let Ok(s) = cn.as_str() {
            add(s);
        }
    }
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = name {
                add(d);
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    #[test]
    fn errors_name_the_file() {
        let missing = std::path::Path::new("/nonexistent/ca.pem");
        assert!(super::load_certs(missing).unwrap_err().to_string().starts_with("/nonexistent/ca.pem: cannot read"));
        assert!(super::load_key(missing).unwrap_err().to_string().starts_with("/nonexistent/ca.pem: cannot read"));
        let empty = std::env::temp_dir().join(format!("doorman-tls-empty-{}.pem", std::process::id()));
        std::fs::write(&empty, "not pem\n").unwrap();
        assert!(super::load_certs(&empty).unwrap_err().to_string().ends_with("no certificate in the file"));
        let _ = std::fs::remove_file(&empty);
    }
}
