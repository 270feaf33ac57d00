//! The protected resource metadata (RFC 9728), served where an OAuth client looks for it.

use crate::callers::resource::ResourceMetadata;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use std::sync::Arc;

/// `GET /.well-known/oauth-protected-resource[/mcp]`: where to get a token for this server.
/// Public: it names only what a client needs to start an authorization.
#[utoipa::path(
    get,
    path = "/.well-known/oauth-protected-resource",
    tag = "auth",
    responses((status = 200, description = "OAuth 2.0 protected resource metadata (RFC 9728)", body = ResourceMetadata)),
    security(())
)]
pub async fn metadata(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Json<ResourceMetadata> {
    Json(
        state.settings.auth.metadata(
            headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok()),
        ),
    )
}

/// `GET /.well-known/oauth-protected-resource/mcp`: the same document, at the path RFC 9728
/// section 3.1 derives from the resource `<origin>/mcp`.
#[utoipa::path(
    get,
    path = "/.well-known/oauth-protected-resource/mcp",
    tag = "auth",
    responses((status = 200, description = "OAuth 2.0 protected resource metadata (RFC 9728)", body = ResourceMetadata)),
    security(())
)]
pub async fn metadata_mcp(
    state: State<Arc<AppState>>,
    headers: HeaderMap,
) -> Json<ResourceMetadata> {
    metadata(state, headers).await
}
