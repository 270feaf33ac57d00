//! Reading the listener's certificate chain and key from PEM files, with errors that say which
//! file and what to do.

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} holds no certificate: give a PEM file with the server's certificate first, then its intermediates",
        path.display()
    )]
    NoCertificate { path: PathBuf },
    #[error(
        "{} holds no private key: give a PEM file with a PKCS#8, SEC1 (EC) or RSA key, not encrypted",
        path.display()
    )]
    NoKey { path: PathBuf },
    #[error("the key in {} cannot sign for TLS: {reason}", path.display())]
    Unusable { path: PathBuf, reason: String },
    #[error(
        "the key in {} is not the key of the certificate in {}: give the pair that belong together",
        key.display(),
        cert.display()
    )]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("the client CA file {} cannot be used: {reason}", path.display())]
    BadClientCa { path: PathBuf, reason: String },
    #[error("TLS configuration: {0}")]
    Rustls(rustls::Error),
}

/// Where the listener's certificate chain and private key are (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The chain, the server's own certificate first.
    pub cert: PathBuf,
    /// Its private key: PKCS#8, SEC1 (EC) or PKCS#1 (RSA).
    pub key: PathBuf,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// The chain in `cert` with the key in `key`, checked to belong together.
pub fn load(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let pem = read(cert)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert.to_owned(),
        });
    }
    let pem = read(key)?;
    let private = PrivateKeyDer::from_pem_slice(&pem).map_err(|_| TlsError::NoKey {
        path: key.to_owned(),
    })?;
    let provider = rustls::crypto::ring::default_provider();
    let certified = CertifiedKey::from_der(chain, private, &provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => TlsError::Mismatch {
            cert: cert.to_owned(),
            key: key.to_owned(),
        },
        other => TlsError::Unusable {
            path: key.to_owned(),
            reason: other.to_string(),
        },
    })?;
    Ok(Arc::new(certified))
}

/// Whether the key file may be read by other users than its owner (a warning at start, as for
/// any private key the server holds).
#[cfg(unix)]
pub fn readable_by_others(key: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(key).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

#[cfg(not(unix))]
pub fn readable_by_others(_key: &Path) -> bool {
    false
}
