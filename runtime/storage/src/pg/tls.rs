//! The database URL and TLS to PostgreSQL. The URL takes libpq's TLS parameters:
//!
//! - `sslmode`: `disable` (plain TCP), `prefer` (the default: TLS when the server offers it),
//!   `require`, `verify-ca` or `verify-full`. Whenever TLS is used, the server's certificate is
//!   verified, chain and host name both (as libpq's `verify-full`): a connection that is
//!   encrypted to whoever answers protects nothing against the one who answers.
//! - `sslrootcert`: a PEM file of the CA certificates to trust for the database (a private
//!   CA, a cloud provider's bundle). Without it, the Mozilla root set (`webpki-roots`).
//!
//! TLS uses rustls with the ring provider, like the rest of cordon.

use crate::StorageError;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::sync::Arc;
use tokio_postgres_rustls::MakeRustlsConnect;

/// A parsed database URL: the client configuration and the TLS connector to use with it.
pub(crate) struct DbUrl {
    pub config: postgres::Config,
    pub tls: MakeRustlsConnect,
}

/// The CA file a URL names in `sslrootcert`, if any (what a confined process must keep).
pub fn root_cert_file(url: &str) -> Option<std::path::PathBuf> {
    let (_, query) = url.split_once('?')?;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "sslrootcert")
        .map(|(_, v)| std::path::PathBuf::from(percent_decode(v)))
}

/// Parses `url`, taking out what the PostgreSQL client does not know (`sslrootcert`, the
/// `verify-*` modes). Errors never repeat the URL (it may hold a password).
pub(crate) fn parse(url: &str) -> Result<DbUrl, StorageError> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut kept = Vec::new();
    let mut root_file = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslrootcert" => root_file = Some(percent_decode(value)),
            "sslmode" if matches!(value, "verify-ca" | "verify-full") => {
                kept.push("sslmode=require".to_owned())
            }
            _ => kept.push(pair.to_owned()),
        }
    }
    let rebuilt = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let config: postgres::Config = rebuilt
        .parse()
        .map_err(|e: postgres::Error| StorageError::Postgres(format!("bad database URL: {e}")))?;
    let roots = match root_file {
        Some(path) => roots_from(&path)?,
        None => RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StorageError::Postgres(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(DbUrl {
        config,
        tls: MakeRustlsConnect::new(client),
    })
}

/// The CA certificates in a PEM file.
fn roots_from(path: &str) -> Result<RootCertStore, StorageError> {
    let unreadable = |why: String| {
        StorageError::Postgres(format!(
            "sslrootcert {path}: {why} (it must be a PEM file of CA certificates)"
        ))
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| unreadable(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| unreadable(e.to_string()))?;
    if certs.is_empty() {
        return Err(unreadable("no certificate in it".into()));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| unreadable(format!("a certificate is not usable: {e}")))?;
    }
    Ok(roots)
}

/// `%2F` and the like in a URL parameter.
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_tls_parameters_are_understood_and_bad_ones_named() {
        let ok = parse("postgres://u:p@db.internal:5432/cordon?sslmode=verify-full").unwrap();
        assert_eq!(ok.config.get_ssl_mode(), postgres::config::SslMode::Require);
        assert_eq!(ok.config.get_dbname(), Some("cordon"));
        let plain = parse("postgres://u:p@db/cordon?sslmode=disable").unwrap();
        assert_eq!(
            plain.config.get_ssl_mode(),
            postgres::config::SslMode::Disable
        );
        let missing = parse("postgres://u:s3cret@db/cordon?sslrootcert=%2Fno%2Fsuch.pem")
            .err()
            .unwrap()
            .to_string();
        assert!(missing.contains("sslrootcert /no/such.pem"), "{missing}");
        assert!(!missing.contains("s3cret"), "{missing}");
        let bad = parse("postgres://u:s3cret@db/cordon?sslmode=sometimes")
            .err()
            .unwrap()
            .to_string();
        assert!(
            bad.contains("bad database URL") && !bad.contains("s3cret"),
            "{bad}"
        );
    }
}
