//! cordon as an OAuth 2.0 protected resource: the identity providers it accepts tokens from, and
//! the metadata document (RFC 9728) an MCP client reads to learn where to get one. The MCP
//! authorization specification has every 401 from `/mcp` name that document in
//! `WWW-Authenticate: Bearer resource_metadata="..."`.
//!
//! The document is served (`api/resource.rs`) at `/.well-known/oauth-protected-resource` and, after
//! RFC 9728 section 3.1 (the well-known segment inserted between the host and the resource's path),
//! at `/.well-known/oauth-protected-resource/mcp`. Its `resource` is `auth.resource` when the
//! operator set it (the public URL clients use, e.g. behind a TLS-terminating balancer), else
//! `http://<Host>/mcp` as this request addressed the server.

use crate::callers::oidc::Verifier;
use serde::Serialize;
use std::sync::Arc;

/// What `[auth]` in the config file sets.
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    /// Accepted issuers of JWT bearer tokens (`[[auth.oidc]]`); empty: API keys only.
    pub verifier: Arc<Verifier>,
    /// This server's resource identifier, the public URL of `/mcp` (`auth.resource`).
    pub resource: Option<String>,
    /// The scopes a client may ask for (`auth.scopes_supported`).
    pub scopes: Vec<String>,
    /// Whether the listener speaks HTTPS (`tls/`): a resource identifier made from a request's
    /// `Host` is then an `https://` URL.
    pub https: bool,
    /// Who a verified client certificate is (`[[auth.mtls]]`, `mtls.rs`); empty: nobody.
    pub mtls: crate::callers::mtls::Mapping,
}

/// The well-known path of the metadata document.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The protected resource metadata document (RFC 9728 section 2).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResourceMetadata {
    /// This server's resource identifier: what a token's audience must name.
    pub resource: String,
    /// The issuers this server accepts tokens from.
    pub authorization_servers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// Tokens go in the Authorization header only (never a query string: it ends up in logs).
    pub bearer_methods_supported: Vec<String>,
    pub resource_name: String,
}

/// `auth.resource` checked: an absolute http(s) URL without a fragment or query.
pub fn check_resource(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("auth.resource {url:?} must be an https:// (or http://) URL"))?;
    if rest.is_empty() || rest.starts_with('/') || url.contains(['#', '?', ' ']) {
        return Err(format!(
            "auth.resource {url:?} must be an absolute URL with a host, without a query or fragment, e.g. https://cordon.example.com/mcp"
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

impl AuthSettings {
    /// The resource identifier for a request addressed to `host` (its `Host` header).
    pub fn resource_for(&self, host: Option<&str>) -> String {
        match &self.resource {
            Some(r) => r.clone(),
            None => {
                let host = host
                    .filter(|h| cordon_core::authority::Authority::parse(h).is_some())
                    .unwrap_or("localhost");
                let scheme = if self.https { "https" } else { "http" };
                format!("{scheme}://{host}/mcp")
            }
        }
    }

    /// The metadata document's URL for a resource identifier (RFC 9728 section 3.1).
    pub fn metadata_url(resource: &str) -> String {
        let (scheme, rest) = resource.split_once("://").unwrap_or(("http", resource));
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        format!("{scheme}://{host}{WELL_KNOWN}{path}")
    }

    /// The `WWW-Authenticate` value of a 401 for a request addressed to `host`.
    pub fn challenge(&self, host: Option<&str>) -> String {
        let url = Self::metadata_url(&self.resource_for(host));
        format!("Bearer realm=\"cordon\", resource_metadata=\"{url}\"")
    }
}

impl AuthSettings {
    /// The metadata document for a request addressed to `host`.
    pub fn metadata(&self, host: Option<&str>) -> ResourceMetadata {
        ResourceMetadata {
            resource: self.resource_for(host),
            authorization_servers: self.verifier.issuers().map(str::to_owned).collect(),
            scopes_supported: self.scopes.clone(),
            bearer_methods_supported: vec!["header".into()],
            resource_name: "cordon".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_url_inserts_the_well_known_segment_before_the_path() {
        assert_eq!(
            AuthSettings::metadata_url("https://cordon.example.com/mcp"),
            "https://cordon.example.com/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            AuthSettings::metadata_url("http://127.0.0.1:7878"),
            "http://127.0.0.1:7878/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn a_resource_must_be_an_absolute_url_without_query_or_fragment() {
        assert_eq!(
            check_resource("https://c.example.com/mcp/").unwrap(),
            "https://c.example.com/mcp"
        );
        for bad in [
            "c.example.com/mcp",
            "https:///mcp",
            "https://c/mcp#x",
            "https://c/mcp?a=1",
            "ftp://c",
        ] {
            assert!(check_resource(bad).is_err(), "{bad}");
        }
    }
}
