//! `cordon serve`'s TLS options, checked together: the listener's certificate and key, the CA
//! client certificates chain to, and `[[auth.mtls]]` (docs/deploy.md, docs/identity.md).

use super::serve::ServeArgs;
use cordon_server::callers::mtls::{Mapping, MtlsEntry};
use cordon_server::tls::TlsFiles;
use cordon_server::tls::clients::ClientCerts;

/// The listener's certificate, its client certificates and who they are; each option that
/// needs another says which.
pub fn resolve(
    args: &ServeArgs,
    mtls: Vec<MtlsEntry>,
) -> anyhow::Result<(Option<TlsFiles>, Option<ClientCerts>, Mapping)> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            if cordon_server::tls::certs::readable_by_others(key) {
                tracing::warn!(target: "cordon::security", path = %key.display(), "the TLS key is readable by other users: chmod 600 it");
            }
            Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            })
        }
        (None, None) => None,
        _ => {
            anyhow::bail!("tls_cert and tls_key go together: give both, or neither for plain HTTP")
        }
    };
    let required = match args.tls_client_auth.as_deref() {
        None | Some("optional") => false,
        Some("required") => true,
        Some(other) => anyhow::bail!("tls_client_auth is `optional` or `required`, not {other:?}"),
    };
    let clients = match &args.tls_client_ca {
        Some(_) if tls.is_none() => anyhow::bail!(
            "tls_client_ca asks for client certificates, which only HTTPS carries: give tls_cert and tls_key too"
        ),
        Some(ca) => Some(ClientCerts {
            ca: ca.clone(),
            required,
        }),
        None if args.tls_client_auth.is_some() => anyhow::bail!(
            "tls_client_auth needs tls_client_ca: the CA file client certificates must chain to"
        ),
        None => None,
    };
    let mapping = Mapping::new(mtls).map_err(|e| anyhow::anyhow!(e))?;
    if !mapping.is_empty() && clients.is_none() {
        anyhow::bail!(
            "[[auth.mtls]] maps client certificates, but none are asked for: give tls_client_ca (and tls_cert, tls_key)"
        );
    }
    if clients.is_some() && mapping.is_empty() {
        tracing::warn!(
            "tls_client_ca is set but [[auth.mtls]] maps no certificate: verified client certificates name no caller (docs/identity.md)"
        );
    }
    Ok((tls, clients, mapping))
}
