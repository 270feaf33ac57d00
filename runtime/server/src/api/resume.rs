//! `POST /v1/tools/{name}/resume`: the next round of a call whose last round ended
//! `input_required` (contract 0.2.0). The caller sends the same input, its answers under the
//! keys it was asked with, and the sealed `request_state` it was given; the tool runs again
//! with them. Each round is its own execution, recorded with the round it follows.

use crate::api::execute::{InvokeResponse, admit};
use crate::api::invoke::InvokeQuery;
use crate::callers::caller::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use cordon_core::Action;
use serde::Deserialize;
use std::sync::Arc;

/// The next round of a call that asked for input.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResumeRequest {
    /// The same input as the round that asked (the state is bound to it).
    #[schema(value_type = Object)]
    pub input: serde_json::Map<String, serde_json::Value>,
    /// The answers, each under the key it was asked with: MCP's `ElicitResult`,
    /// `CreateMessageResult` or `ListRootsResult`. Answers to keys that round did not ask are
    /// ignored.
    #[schema(value_type = Object)]
    pub input_responses: serde_json::Map<String, serde_json::Value>,
    /// The `request_state` of the round that asked, exactly as given.
    pub request_state: Option<String>,
}

const EXAMPLE: &str = r#"{"input": {...}, "input_responses": {"confirm": {"action": "accept", "content": {"ok": true}}}, "request_state": "cs1...."}"#;

/// Runs the next round of a call that ended `input_required`, with its answers.
#[utoipa::path(
    post,
    path = "/v1/tools/{name}/resume",
    tag = "invoke",
    params(("name" = String, Path, description = "tool name"), InvokeQuery),
    request_body(content = ResumeRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "outcome `ok`, or `input_required` again (another round: answer it the same way)", body = InvokeResponse),
        (status = 400, description = "the body is not a resume request, or `request_state` is not one this server made for this caller, tool, version and input, or has expired", body = ErrorBody),
        (status = 422, description = "outcome `invalid_input`", body = InvokeResponse),
        (status = 502, description = "outcomes `tool_error`, `fuel_exhausted`, `memory_exceeded`, `output_too_large`, `trap`", body = InvokeResponse),
        (status = 401, description = "missing or unknown API key", body = ErrorBody),
        (status = 403, description = "the key may not invoke this tool", body = ErrorBody),
        (status = 404, description = "no such tool or version", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn resume(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<InvokeQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require(Action::Invoke)?;
    let request: ResumeRequest = crate::extract::json_body(&body, EXAMPLE)?;
    let input = serde_json::Value::Object(request.input).to_string();
    let mut admitted = admit(
        &state,
        &caller,
        &name,
        query.version.as_deref(),
        Bytes::from(input),
        "http",
    )
    .await?;
    admitted
        .resume(request.request_state.as_deref(), &request.input_responses)
        .map_err(|e| ApiError::bad_request("invalid_request_state", e.to_string()))?;
    crate::api::invoke::answer(admitted).await
}
