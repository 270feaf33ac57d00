//! Client certificates on the listener (docs/identity.md, "Client certificates"): which CA they
//! must chain to, whether one is required, and what a verified one says of its holder.
//!
//! Defaults, and why:
//! - **Verified by rustls' WebPKI verifier against the CAs of `tls_client_ca` only**, never the
//!   system's roots: a workload CA is the organization's own, and a public CA vouches for
//!   domain names, not for callers.
//! - **Optional unless `required`.** Without a certificate the handshake completes and the
//!   request needs another credential (a key or a token), so browsers and API clients keep
//!   working beside workloads. A certificate that is presented must verify (chain, expiry, key
//!   usage): a bad one ends the handshake in either mode, since rustls does not fall back to
//!   "no certificate" on one that fails.
//! - **What identifies a holder is read from the verified leaf only**: its subject, its DNS and
//!   URI subject alternative names (`spiffe://...`), and its SHA-256 fingerprint for the record.

use super::certs::TlsError;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use sha2::Digest as _;
use std::path::PathBuf;
use std::sync::Arc;
use x509_cert::der::Decode as _;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

/// Client certificates as configured (`tls_client_ca`, `tls_client_auth`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCerts {
    /// A PEM file of the CA certificates a client's certificate must chain to.
    pub ca: PathBuf,
    /// Whether a handshake without a certificate is refused.
    pub required: bool,
}

/// The verifier of client certificates for `clients`.
pub fn verifier(clients: &ClientCerts) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let pem = std::fs::read(&clients.ca).map_err(|source| TlsError::Read {
        path: clients.ca.clone(),
        source,
    })?;
    let mut roots = RootCertStore::empty();
    let mut added = 0;
    for cert in CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok) {
        roots.add(cert).map_err(|e| TlsError::BadClientCa {
            path: clients.ca.clone(),
            reason: e.to_string(),
        })?;
        added += 1;
    }
    if added == 0 {
        return Err(TlsError::BadClientCa {
            path: clients.ca.clone(),
            reason: "it holds no PEM certificate (give the CA certificates client certificates chain to)".to_owned(),
        });
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    let builder = if clients.required {
        builder
    } else {
        builder.allow_unauthenticated()
    };
    builder.build().map_err(|e| TlsError::BadClientCa {
        path: clients.ca.clone(),
        reason: e.to_string(),
    })
}

/// What a verified client certificate says of its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    /// `sha256:` and the hex SHA-256 of the certificate's DER: what the record keeps.
    pub fingerprint: String,
    /// The subject as an RFC 4514 string (`CN=agent-1,O=Acme`).
    pub subject: String,
    /// The DNS names among its subject alternative names.
    pub dns: Vec<String>,
    /// The URIs among its subject alternative names (a SPIFFE ID is one).
    pub uris: Vec<String>,
    /// When it stops being valid, in seconds since the Unix epoch.
    pub not_after_secs: u64,
}

impl PeerCertificate {
    /// Reads a (verified) leaf certificate; `None` when its DER does not parse, which a
    /// certificate rustls accepted does.
    pub fn parse(der: &[u8]) -> Option<PeerCertificate> {
        let cert = x509_cert::Certificate::from_der(der).ok()?;
        let tbs = &cert.tbs_certificate;
        let (mut dns, mut uris) = (Vec::new(), Vec::new());
        // Two SAN extensions make a certificate rustls refuses; none is fine.
        if let Ok(Some((_, SubjectAltName(names)))) = tbs.get::<SubjectAltName>() {
            for name in names {
                match name {
                    GeneralName::DnsName(n) => dns.push(n.as_str().to_owned()),
                    GeneralName::UniformResourceIdentifier(u) => uris.push(u.as_str().to_owned()),
                    _ => {}
                }
            }
        }
        Some(PeerCertificate {
            fingerprint: format!("sha256:{}", hex::encode(sha2::Sha256::digest(der))),
            subject: tbs.subject.to_string(),
            dns,
            uris,
            not_after_secs: tbs.validity.not_after.to_unix_duration().as_secs(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leaf_gives_its_subject_sans_fingerprint_and_expiry() {
        let mut params =
            rcgen::CertificateParams::new(vec!["agent.acme.internal".to_owned()]).unwrap();
        // Stored as issued, most general first; RFC 4514 writes them most specific first.
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Acme");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "agent-1");
        params.subject_alt_names.push(rcgen::SanType::URI(
            "spiffe://acme.example/agents/a".try_into().unwrap(),
        ));
        params.not_after = rcgen::date_time_ymd(2030, 1, 2);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let peer = PeerCertificate::parse(cert.der()).unwrap();
        assert_eq!(peer.subject, "CN=agent-1,O=Acme");
        assert_eq!(peer.dns, ["agent.acme.internal"]);
        assert_eq!(peer.uris, ["spiffe://acme.example/agents/a"]);
        assert_eq!(peer.not_after_secs, 1_893_542_400);
        assert_eq!(
            peer.fingerprint,
            format!("sha256:{}", hex::encode(sha2::Sha256::digest(cert.der())))
        );
        assert_eq!(peer.fingerprint.len(), 7 + 64);
        assert!(PeerCertificate::parse(b"not a certificate").is_none());
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused_with_its_path() {
        let ca = std::env::temp_dir().join(format!("cordon-empty-ca-{}.pem", std::process::id()));
        std::fs::write(&ca, "nothing here").unwrap();
        let e = verifier(&ClientCerts {
            ca: ca.clone(),
            required: false,
        })
        .err()
        .unwrap();
        let _ = std::fs::remove_file(&ca);
        assert!(e.to_string().contains(&*ca.to_string_lossy()), "{e}");
    }
}
