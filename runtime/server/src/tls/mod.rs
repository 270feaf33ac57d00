//! HTTPS on cordon's own listener (docs/deploy.md): rustls with its safe defaults, HTTP/2 beside
//! HTTP/1.1 through ALPN, and a certificate renewed without a restart.
//!
//! Defaults, and why:
//! - **TLS 1.3 and 1.2 only.** rustls implements nothing older; 1.2 stays for clients (and
//!   proxies) that have not moved on.
//! - **Forward-secret suites only.** rustls' ring provider offers ECDHE key exchange alone, with
//!   AES-GCM and ChaCha20-Poly1305.
//! - **ALPN `h2`, then `http/1.1`.** A client that offers neither gets HTTP/1.1.
//! - **A plain-HTTP request on the HTTPS port is answered `400` in plain text saying to use
//!   https://**, not served: nothing of the API is reachable without TLS (`listen.rs`).

pub mod certs;
pub mod clients;
pub mod reload;

pub use certs::TlsFiles;

use std::sync::Arc;

/// The rustls configuration of the listener, its certificate served by `resolver`, client
/// certificates asked for when `clients` says which CA they chain to (`clients.rs`).
pub fn server_config(
    resolver: Arc<reload::Reloading>,
    clients: Option<&clients::ClientCerts>,
) -> Result<Arc<rustls::ServerConfig>, certs::TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(certs::TlsError::Rustls)?;
    let builder = match clients {
        Some(clients) => builder.with_client_cert_verifier(clients::verifier(clients)?),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
