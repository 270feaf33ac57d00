//! Sessions for clients of the older revisions (2025-11-25 and before) that can be asked
//! things: a client whose `initialize` declares elicitation, sampling or roots keeps a session
//! (rmcp's, `Mcp-Session-Id`), because those revisions ask a client on the request's stream and
//! take its answer as a separate POST, which must reach the call waiting for it. Every other
//! client, and every request of 2026-07-28 (which asks with `InputRequiredResult` instead), is
//! served statelessly, so any node answers it.
//!
//! A session lives in the memory of the node that made it (until it is idle for
//! [`SESSION_IDLE`]); behind a load balancer, an older client must keep reaching the same node
//! (`deploy/nginx.conf`). A session belongs to the caller that made it
//! (`callers::sessions`): another caller naming it is told it does not exist.

use crate::callers::caller::Caller;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use rmcp::transport::StreamableHttpService;
use rmcp::transport::streamable_http_server::session::local::{LocalSessionManager, SessionConfig};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt as _;

/// How long rmcp keeps a session without any message either way: an answer to a question a
/// tool asked is expected within the round's sealed state's lifetime (15 minutes); past that
/// the tool would ask again anyway.
pub const SESSION_IDLE: Duration = Duration::from_secs(15 * 60);

/// Marks a request for the session service.
#[derive(Debug, Clone, Copy)]
pub struct Sessioned;

/// True for a legacy `initialize` (a revision before 2026-07-28) whose client declares what a
/// tool may ask it: elicitation, sampling or roots.
pub fn wants_session(body: &[u8]) -> bool {
    if memchr::memmem::find(body, b"initialize").is_none() {
        return false;
    }
    let Ok(message) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    let params = &message["params"];
    message["method"] == "initialize"
        && params["protocolVersion"]
            .as_str()
            .is_some_and(|v| v < "2026-07-28")
        && ["elicitation", "sampling", "roots"]
            .iter()
            .any(|c| params["capabilities"].get(c).is_some_and(|v| !v.is_null()))
}

/// The two MCP services `/mcp` dispatches to, of the handler `H` (`mcp::Gateway`).
pub struct Services<H> {
    pub stateless: StreamableHttpService<H, NeverSessionManager>,
    pub sessions: StreamableHttpService<H, LocalSessionManager>,
    /// The sessions' manager, to close one a caller lost.
    pub manager: Arc<LocalSessionManager>,
}

impl<H> Clone for Services<H> {
    fn clone(&self) -> Self {
        Services {
            stateless: self.stateless.clone(),
            sessions: self.sessions.clone(),
            manager: self.manager.clone(),
        }
    }
}

impl<H> std::fmt::Debug for Services<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").finish_non_exhaustive()
    }
}

/// The session manager: sessions closed after [`SESSION_IDLE`] without a request.
pub fn manager() -> LocalSessionManager {
    let mut manager = LocalSessionManager::default();
    let mut config = SessionConfig::default();
    config.keep_alive = Some(SESSION_IDLE);
    manager.session_config = config;
    manager
}

/// `/mcp`: a request of a session (or one that starts one) to the session service, with its
/// owner checked; everything else to the stateless one.
pub async fn dispatch<H>(
    State((state, services)): State<(Arc<AppState>, Services<H>)>,
    request: Request,
) -> Response
where
    H: rmcp::ServerHandler + Send + 'static,
{
    let caller = request.extensions().get::<Caller>().cloned();
    let session = request
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let starts = request.extensions().get::<Sessioned>().is_some();
    let Some(caller) = caller else {
        return crate::error::ApiError::internal("an MCP request without its caller")
            .into_response();
    };
    if let Some(session) = &session {
        if !state.mcp_sessions.owned_by(session, &caller.id) {
            // Unknown, expired, or another caller's: as the protocol says, a client told its
            // session does not exist starts a new one.
            return (
                axum::http::StatusCode::NOT_FOUND,
                "Not Found: Session not found",
            )
                .into_response();
        }
        return answer(services.sessions.oneshot(request).await);
    }
    if !starts {
        return answer(services.stateless.oneshot(request).await);
    }
    // A node full of sessions serves the client statelessly: it is not asked things, but it
    // is served.
    if state.mcp_sessions.full() {
        tracing::warn!(
            caller = caller.id,
            "MCP session refused: this node keeps as many as it may"
        );
        return answer(services.stateless.oneshot(request).await);
    }
    let response = answer(services.sessions.oneshot(request).await);
    if let Some(id) = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
    {
        // A caller over its share loses its own oldest session, nobody else's.
        if let Some(evicted) = state.mcp_sessions.insert(id.to_owned(), &caller.id) {
            let manager = services.manager.clone();
            tokio::spawn(async move {
                let _ = rmcp::transport::streamable_http_server::session::SessionManager::close_session(
                    manager.as_ref(),
                    &evicted.into(),
                )
                .await;
            });
        }
        tracing::debug!(caller = caller.id, "MCP session started");
    }
    response
}

fn answer<B>(response: Result<axum::http::Response<B>, std::convert::Infallible>) -> Response
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    match response {
        Ok(r) => r.map(Body::new),
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_legacy_client_that_can_be_asked_starts_a_session() {
        let init = |version: &str, caps: &str| {
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"{version}","capabilities":{caps},"clientInfo":{{"name":"t","version":"1"}}}}}}"#
            )
        };
        assert!(wants_session(
            init("2025-11-25", r#"{"elicitation":{}}"#).as_bytes()
        ));
        assert!(wants_session(
            init("2025-06-18", r#"{"sampling":{}}"#).as_bytes()
        ));
        assert!(wants_session(
            init("2025-06-18", r#"{"roots":{"listChanged":true}}"#).as_bytes()
        ));
        assert!(!wants_session(init("2025-11-25", "{}").as_bytes()));
        assert!(!wants_session(
            init("2026-07-28", r#"{"elicitation":{}}"#).as_bytes()
        ));
        assert!(!wants_session(
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"initialize"}}"#
        ));
    }
}
