//! The router: every endpoint of the API and `/mcp`, and what wraps every response (a request id,
//! the security headers, error bodies, the 401 challenge). Testable without a socket.

use crate::api::{
    alerts, approvals, audit, decisions, executions, invoke, keys, openapi, policies, quotas,
    receipt, resource, stats, status, suspensions, tools, whoami,
};
use crate::callers::caller;
use crate::error::{ApiError, ErrorBody, ErrorDetail};
use crate::settings::MetricsAccess;
use crate::state::AppState;
use crate::{mcp, metrics};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tower_http::timeout::{RequestBodyDeadlineLayer, RequestBodyTimeoutLayer};

/// The whole API on `state`.
pub fn app(state: Arc<AppState>) -> Router {
    let upload = state.settings.max_upload_bytes;
    let invoke = state.settings.max_invoke_bytes;
    // MCP has its own guard (Host, Origin, then the API key) in front of rmcp's service.
    let mcp = Router::new()
        .route(
            "/mcp",
            axum::routing::any(mcp::sessions::dispatch::<mcp::Gateway>),
        )
        .with_state((state.clone(), mcp::services(state.clone())))
        .layer(middleware::from_fn_with_state(state.clone(), mcp::guard));
    Router::new()
        .route(
            "/v1/tools",
            get(tools::list)
                .post(tools::publish)
                .layer(DefaultBodyLimit::max(upload)),
        )
        .route("/v1/tools/{name}", get(tools::show).delete(tools::delete))
        .route("/v1/tools/{name}/quarantine", post(tools::quarantine))
        .route("/v1/tools/{name}/release", post(tools::release))
        .route(
            "/v1/tools/{name}/policy",
            get(policies::get).put(policies::put),
        )
        .route("/v1/tools/{name}/policy/{hash}", get(policies::text))
        .route(
            "/v1/decisions",
            get(decisions::get)
                .put(decisions::put)
                .delete(decisions::remove),
        )
        .route("/v1/decisions/{hash}", get(decisions::by_hash))
        .route("/v1/approvals", get(approvals::list))
        .route("/v1/alerts", get(alerts::list))
        .route("/v1/alerts/test", post(alerts::test))
        .route(
            "/v1/suspensions",
            get(suspensions::list)
                .post(suspensions::suspend)
                .delete(suspensions::lift),
        )
        .route(
            "/v1/approvals/{id}",
            get(approvals::show).post(approvals::decide),
        )
        .route(
            "/v1/tools/{name}/invoke",
            post(invoke::invoke).layer(DefaultBodyLimit::max(invoke)),
        )
        .route(
            "/v1/tools/{name}/resume",
            post(crate::api::resume::resume).layer(DefaultBodyLimit::max(invoke)),
        )
        .route("/v1/keys", get(keys::list).post(keys::create))
        .route("/v1/keys/{id}", axum::routing::delete(keys::revoke))
        .route("/v1/quotas/{caller}", get(quotas::show))
        .route("/v1/executions", get(executions::list))
        .route(
            "/v1/executions/{id}",
            get(executions::show).delete(executions::cancel),
        )
        .route("/v1/executions/{id}/events", get(executions::events))
        .route("/v1/executions/{id}/receipt", get(receipt::receipt))
        .route("/v1/audit/verify", get(executions::verify))
        .route("/v1/audit/events", get(audit::events))
        .route("/v1/audit/key", get(audit::key))
        .route("/v1/audit/checkpoint", get(audit::checkpoint))
        .route("/v1/whoami", get(whoami::whoami))
        .route("/v1/stats", get(stats::stats))
        .route("/v1/status", get(status::status))
        .route("/v1/openapi.json", get(openapi::serve))
        .route(
            crate::callers::resource::WELL_KNOWN,
            get(resource::metadata),
        )
        .route(
            &format!("{}/mcp", crate::callers::resource::WELL_KNOWN),
            get(resource::metadata_mcp),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_endpoint))
        .merge(mcp)
        .merge(crate::console::routes(state.settings.ui))
        .merge(test_routes(state.settings.confinement_probe))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            finish_response,
        ))
        .layer(RequestBodyTimeoutLayer::new(state.settings.client_timeout))
        // A client trickling a byte just inside the per-part timeout still has to finish the
        // whole body within ten times it (5 min by default: a 64 MiB upload at ~220 KB/s).
        .layer(RequestBodyDeadlineLayer::new(
            state.settings.client_timeout.saturating_mul(10),
        ))
        .with_state(state)
}

/// Test-only routes (`probe.rs`): only in a debug build, and only when asked for.
fn test_routes(probe: bool) -> Router<Arc<AppState>> {
    let routes = Router::new();
    #[cfg(debug_assertions)]
    let routes = if probe {
        tracing::warn!(
            "test-only: POST /v1/test/confinement is served (CORDON_TEST_CONFINEMENT_PROBE)"
        );
        routes.route("/v1/test/confinement", post(crate::api::probe::confinement))
    } else {
        routes
    };
    #[cfg(not(debug_assertions))]
    let _ = probe;
    routes
}

/// `GET /metrics`: Prometheus text, for a key with `ReadMetrics` unless the server opened it.
async fn metrics_endpoint(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Response, ApiError> {
    if state.settings.metrics_access == MetricsAccess::Key {
        use axum::extract::FromRequestParts;
        let (mut parts, _) = request.into_parts();
        let caller = caller::Caller::from_request_parts(&mut parts, &state).await?;
        caller.require(cordon_core::Action::ReadMetrics)?;
    }
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics::render(),
    )
        .into_response())
}

/// Ready once every stored tool is loaded, and while the store answers (within a second): a
/// load balancer stops sending calls to a node whose database is gone.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if !state.ready.load(Ordering::Acquire) {
        return (StatusCode::SERVICE_UNAVAILABLE, "loading tools").into_response();
    }
    let confinement = cordon_host::confine::status().map_or_else(String::new, |s| s.describe());
    match state.store_answers().await {
        Ok(()) => format!("ready\n{confinement}\n").into_response(),
        Err(crate::state::StoreDown::Failed(e)) => {
            tracing::warn!(error = %e, "not ready: the store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is unavailable",
            )
                .into_response()
        }
        Err(crate::state::StoreDown::Silent) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the database does not answer",
        )
            .into_response(),
    }
}

/// Gives every response a request id and the security headers, and writes error bodies:
/// `{"error": {"code", "message", "request_id"}}`, with the detail in the server log under the
/// same id.
async fn finish_response(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    // A 401 names where to get a token (RFC 9728), for the Host this request addressed.
    let host = request.headers().get(header::HOST).cloned();
    let mut id_bytes = [0u8; 8];
    let _ = getrandom::fill(&mut id_bytes);
    let request_id = hex::encode(id_bytes);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    // The request's span (docs/observability.md), in the caller's trace when it sent one.
    let span = crate::trace::request(request.headers(), &method, &path, &request_id);
    let mut response = span.instrument(next.run(request)).await;
    if span.is_on() {
        span.set(
            "http.response.status_code",
            i64::from(response.status().as_u16()),
        );
        if response.status().is_server_error() {
            span.fail(response.status().as_str());
        }
    }
    span.end();

    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let error = response.extensions_mut().remove::<ApiError>().or_else(|| {
        // Errors produced by axum itself (body too large, bad JSON, wrong method...).
        let failed = status.is_client_error() || status.is_server_error();
        (failed && !is_json).then(|| {
            let (code, message) = match status {
                StatusCode::PAYLOAD_TOO_LARGE => (
                    "too_large",
                    "the request body is over this endpoint's limit (max_upload_bytes for components, max_invoke_bytes for inputs)",
                ),
                StatusCode::METHOD_NOT_ALLOWED => (
                    "method_not_allowed",
                    "this endpoint does not take that method; see /v1/openapi.json",
                ),
                StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                    "unsupported_media_type",
                    "send the body with Content-Type: application/json",
                ),
                StatusCode::NOT_ACCEPTABLE => (
                    "not_acceptable",
                    "send Accept: application/json, text/event-stream (the MCP streamable HTTP transport requires both)",
                ),
                _ if status.is_server_error() => ("internal", "internal error; see the server log for this request id"),
                _ => ("bad_request", "the request is not valid for this endpoint; see /v1/openapi.json"),
            };
            ApiError::new(status, code, message)
        })
    });
    if let Some(e) = error {
        metrics::rejected(e.code);
        crate::callers::refusals::note(e.code, crate::clock::now_ms());
        tracing::info!(request_id, %method, path, status = status.as_u16(), code = e.code, message = e.message, "request failed");
        let kept = response.headers().clone();
        let body = ErrorBody {
            error: ErrorDetail {
                code: e.code.to_owned(),
                message: e.message.clone(),
                request_id: request_id.clone(),
                quota: e.quota.as_deref().cloned(),
                reasons: e.reasons.clone(),
            },
        };
        response = (status, axum::Json(body)).into_response();
        for (name, value) in kept.iter() {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                response.headers_mut().insert(name.clone(), value.clone());
            }
        }
        if let Some((limit, wait)) = e.rate_limit {
            let h = response.headers_mut();
            h.insert(header::RETRY_AFTER, HeaderValue::from(wait));
            h.insert("ratelimit-limit", HeaderValue::from(limit));
            h.insert("ratelimit-remaining", HeaderValue::from_static("0"));
            h.insert("ratelimit-reset", HeaderValue::from(wait));
        }
        if let Some(wait) = e.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_str(
                    &state
                        .settings
                        .auth
                        .challenge(host.as_ref().and_then(|h| h.to_str().ok())),
                )
                .unwrap_or(HeaderValue::from_static("Bearer realm=\"cordon\"")),
            );
        }
    }
    let h = response.headers_mut();
    h.insert(
        "x-request-id",
        HeaderValue::from_str(&request_id).unwrap_or(HeaderValue::from_static("-")),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The console's pages set their own (`ui.rs`); everything else is data, never a page.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
