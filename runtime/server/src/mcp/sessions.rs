//! Sessions for clients of the older revisions (2025-11-25 and before) that can be asked
//! things: a client whose `initialize` declares elicitation, sampling or roots keeps a session
//! (rmcp's, `Mcp-Session-Id`), because those revisions ask a client on the request's stream and
//! take its answer as a separate POST, which must reach the call waiting for it. Every other
//! client, and every request of 2026-07-28 (which asks with `InputRequiredResult` instead), is
//! served statelessly, so any node answers it.
//!
//! A session lives in the memory of the node that made it (until it is idle for
//! [`SESSION_IDLE`]); behind a load balancer, route by `Mcp-Session-Id`. A session belongs to
//! the caller that made it: another caller naming it is told it does not exist.

use crate::callers::caller::Caller;
use crate::mcp::Gateway;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use rmcp::transport::StreamableHttpService;
use rmcp::transport::streamable_http_server::session::local::{LocalSessionManager, SessionConfig};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tower::ServiceExt as _;

/// How long a session is kept without a request: an answer to a question a tool asked is
/// expected within the round's sealed state's lifetime (15 minutes); past that the tool would
/// ask again anyway.
pub const SESSION_IDLE: Duration = Duration::from_secs(15 * 60);

/// Sessions one node keeps at most: beyond it, the oldest idle one is forgotten (its client
/// is told it does not exist, and starts a new one).
const MAX_SESSIONS: usize = 10_000;

/// Marks a request for the session service.
#[derive(Debug, Clone, Copy)]
pub struct Sessioned;

/// Who made each session on this node, and when it was last used.
#[derive(Debug, Default)]
pub struct Owners(Mutex<HashMap<String, (String, Instant)>>);

impl Owners {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Instant)>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a new session of `caller`, forgetting idle ones.
    fn insert(&self, session: String, caller: &str) {
        let mut owners = self.lock();
        owners.retain(|_, (_, seen)| seen.elapsed() < SESSION_IDLE);
        if owners.len() >= MAX_SESSIONS
            && let Some(oldest) = owners
                .iter()
                .min_by_key(|(_, (_, seen))| *seen)
                .map(|(id, _)| id.clone())
        {
            owners.remove(&oldest);
        }
        owners.insert(session, (caller.to_owned(), Instant::now()));
    }

    /// True when `session` is one `caller` made here (and notes its use).
    fn owned_by(&self, session: &str, caller: &str) -> bool {
        let mut owners = self.lock();
        match owners.get_mut(session) {
            Some((owner, seen)) if owner == caller && seen.elapsed() < SESSION_IDLE => {
                *seen = Instant::now();
                true
            }
            _ => false,
        }
    }
}

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

/// The two MCP services `/mcp` dispatches to.
#[derive(Clone)]
pub struct Services {
    pub stateless: StreamableHttpService<Gateway, NeverSessionManager>,
    pub sessions: StreamableHttpService<Gateway, LocalSessionManager>,
}

impl std::fmt::Debug for Services {
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
pub async fn dispatch(
    State((state, services)): State<(Arc<AppState>, Services)>,
    request: Request,
) -> Response {
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
    let response = answer(services.sessions.oneshot(request).await);
    if let Some(id) = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
    {
        state.mcp_sessions.insert(id.to_owned(), &caller.id);
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

    #[test]
    fn a_session_answers_only_its_owner() {
        let owners = Owners::default();
        owners.insert("s1".into(), "alice");
        assert!(owners.owned_by("s1", "alice"));
        assert!(!owners.owned_by("s1", "bob"));
        assert!(!owners.owned_by("s2", "alice"));
    }
}
