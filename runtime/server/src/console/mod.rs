//! The web console at `/ui` (`docs/console.md`): static files compiled into the binary, served
//! with a Content-Security-Policy that allows only this server's own scripts and styles. The
//! console is a client of the public `/v1` API like any other: it holds the operator's API key
//! or token in the tab's session storage (never a cookie, so no request carries it unless the
//! console's own code adds it, and there is no CSRF surface), and it can show or do nothing the
//! API would refuse that credential.
//!
//! `GET /ui/config.json` tells the page how it may sign in: the issuers with a `client_id`
//! (`[[auth.oidc]]`), their endpoints (configured, or read once from the issuer's discovery
//! document and kept ten minutes), and this server's resource identifier.

pub mod clients;

use crate::console::clients::Provider;
use crate::state::AppState;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use std::sync::Arc;

/// The console's files: name, media type, bytes.
macro_rules! assets {
    ($($name:literal => $kind:literal),* $(,)?) => {
        &[$(($name, $kind, include_bytes!(concat!("../../ui/", $name)) as &[u8])),*]
    };
}

static ASSETS: &[(&str, &str, &[u8])] = assets! {
    "index.html" => "text/html; charset=utf-8",
    "console.css" => "text/css; charset=utf-8",
    "favicon.svg" => "image/svg+xml",
    "app.js" => "text/javascript; charset=utf-8",
    "api.js" => "text/javascript; charset=utf-8",
    "dom.js" => "text/javascript; charset=utf-8",
    "signin.js" => "text/javascript; charset=utf-8",
    "charts.js" => "text/javascript; charset=utf-8",
    "verify.js" => "text/javascript; charset=utf-8",
    "receipts.js" => "text/javascript; charset=utf-8",
    "policy.js" => "text/javascript; charset=utf-8",
    "form.js" => "text/javascript; charset=utf-8",
    "page-overview.js" => "text/javascript; charset=utf-8",
    "page-tools.js" => "text/javascript; charset=utf-8",
    "page-executions.js" => "text/javascript; charset=utf-8",
    "page-audit.js" => "text/javascript; charset=utf-8",
    "page-keys.js" => "text/javascript; charset=utf-8",
    "page-approvals.js" => "text/javascript; charset=utf-8",
    "page-alerts.js" => "text/javascript; charset=utf-8",
};

/// What `/ui/config.json` holds.
#[derive(Debug, serde::Serialize)]
struct ConsoleConfig {
    version: &'static str,
    /// This server's resource identifier (RFC 8707 `resource` in the token request).
    resource: Option<String>,
    providers: Arc<Vec<Provider>>,
}

/// The console's routes; none when `ui` is off.
pub fn routes(enabled: bool) -> Router<Arc<AppState>> {
    if !enabled {
        return Router::new();
    }
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(index))
        .route("/ui/config.json", get(config))
        .route("/ui/{file}", get(asset))
}

async fn index(State(state): State<Arc<AppState>>) -> Response {
    serve(&state, "index.html").await
}

async fn asset(State(state): State<Arc<AppState>>, Path(file): Path<String>) -> Response {
    serve(&state, &file).await
}

async fn serve(state: &Arc<AppState>, file: &str) -> Response {
    let Some((_, kind, bytes)) = ASSETS.iter().find(|(name, _, _)| *name == file) else {
        return crate::error::ApiError::not_found("no such file in the console").into_response();
    };
    // Only the page itself posts to a token endpoint; scripts, styles and images get the
    // policy without it (and cost no discovery).
    let providers = if file == "index.html" {
        providers(state).await
    } else {
        Arc::new(Vec::new())
    };
    let mut response = (StatusCode::OK, *bytes).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Ok(v) = HeaderValue::from_str(&policy(&providers)) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    response
}

async fn config(State(state): State<Arc<AppState>>) -> Response {
    let providers = providers(&state).await;
    Json(ConsoleConfig {
        version: env!("CARGO_PKG_VERSION"),
        resource: state.settings.auth.resource.clone(),
        providers,
    })
    .into_response()
}

async fn providers(state: &Arc<AppState>) -> Arc<Vec<Provider>> {
    state
        .console
        .providers(state.settings.auth.verifier.clone())
        .await
}

/// The console's Content-Security-Policy: scripts, styles, images and requests from this
/// server only (and the token endpoints the sign-in posts to); no inline script or style, no
/// `eval`; DOM sinks that parse HTML (`innerHTML`...) refused by Trusted Types, so a string from
/// a tool or a caller can only ever become text; never framed; no form posts anywhere.
pub fn policy(providers: &[Provider]) -> String {
    let mut connect = String::from("'self'");
    for p in providers {
        if let Provider::Ready(c) = p
            && let Some(origin) = origin_of(&c.token_endpoint)
        {
            connect.push(' ');
            connect.push_str(&origin);
        }
    }
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src {connect}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; \
         require-trusted-types-for 'script'; trusted-types 'none'"
    )
}

/// `scheme://host[:port]` of a URL, for a CSP source; `None` when it has characters a CSP
/// source cannot hold.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let ok = !authority.is_empty()
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    (ok && (scheme == "https" || scheme == "http")).then(|| format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callers::oidc::ConsoleClient;

    #[test]
    fn every_asset_is_there_and_the_index_loads_only_local_files() {
        let (_, kind, index) = ASSETS.iter().find(|(n, _, _)| *n == "index.html").unwrap();
        assert!(kind.starts_with("text/html"));
        let index = std::str::from_utf8(index).unwrap();
        assert!(!index.contains("<script>"), "no inline script");
        assert!(!index.contains("style="), "no inline style");
        assert!(!index.contains("http://") && !index.contains("https://"));
    }

    #[test]
    fn the_policy_names_token_endpoints_and_nothing_inline() {
        let p = policy(&[Provider::Ready(ConsoleClient {
            issuer: "https://id.example.com".into(),
            client_id: "c".into(),
            authorization_endpoint: "https://id.example.com/auth".into(),
            token_endpoint: "https://id.example.com:8443/token?x=1".into(),
            scopes: vec![],
        })]);
        assert!(
            p.contains("connect-src 'self' https://id.example.com:8443;"),
            "{p}"
        );
        assert!(p.contains("frame-ancestors 'none'"));
        assert!(!p.contains("unsafe"));
        assert_eq!(origin_of("https://a b/"), None);
        assert_eq!(origin_of("javascript:alert(1)"), None);
        assert_eq!(origin_of("https://x;script-src *"), None);
    }
}
