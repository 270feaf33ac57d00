//! `POST /v1/tools/{name}/invoke`: one execution, recorded durably before the answer is sent.
//!
//! HTTP status by outcome (the body always carries the full result): the tool is treated like an
//! upstream service, so the caller's fault is 4xx, the tool's fault 502, the tool's slowness
//! 504, and cordon's own fault 500.
//!
//! | outcome | status |
//! |---|---|
//! | `ok` | 200 |
//! | `invalid_input` | 422 |
//! | `tool_error`, `fuel_exhausted`, `memory_exceeded`, `output_too_large`, `trap` | 502 |
//! | `timeout` | 504 |
//! | `host_error` | 500 |

use crate::audit_log::ReceiptView;
use crate::caller::Caller;
use crate::clock::{now_ms, sha256_hex};
use crate::error::{ApiError, ErrorBody};
use crate::live::LiveTool;
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cordon_core::{Action, Execution, Outcome, Usage};
use cordon_storage::NewExecution;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvokeQuery {
    /// Run this version instead of the newest.
    pub version: Option<String>,
}

pub fn status_for(outcome: Outcome) -> StatusCode {
    match outcome {
        Outcome::Ok => StatusCode::OK,
        Outcome::InvalidInput => StatusCode::UNPROCESSABLE_ENTITY,
        Outcome::Timeout => StatusCode::GATEWAY_TIMEOUT,
        Outcome::HostError => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_GATEWAY,
    }
}

fn refuse(tool: &LiveTool, input: &[u8], message: String) -> Execution {
    Execution::refused(
        Outcome::InvalidInput,
        message,
        Usage {
            input_bytes: input.len() as u64,
            ..Usage::default()
        },
        tool.tool.digest().to_owned(),
        tool.tool.signer().map(str::to_owned),
    )
}

/// What an invocation answers, over HTTP and (as structured content) over MCP.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InvokeResponse {
    /// The execution record's id (`GET /v1/executions/{id}`).
    pub execution_id: String,
    pub outcome: Outcome,
    /// The tool's JSON output; present only when the outcome is `ok`.
    pub output: Option<serde_json::Value>,
    /// A one-line reason for every outcome other than `ok`.
    pub error: Option<String>,
    pub usage: Usage,
    /// This execution's receipt, signed with the server's log key: keep it to prove later
    /// what ran, on what input, under which policy, with what result
    /// (`cordon receipt verify`).
    pub receipt: ReceiptView,
}

/// Invokes the newest version of a tool (or the one named with `?version=`) with the request
/// body as its input. The answer carries the full result whatever the outcome; the status
/// follows the outcome (see the module documentation).
#[utoipa::path(
    post,
    path = "/v1/tools/{name}/invoke",
    tag = "invoke",
    params(("name" = String, Path, description = "tool name"), InvokeQuery),
    request_body(content = Object, description = "the tool's input: a JSON object matching the tool's input schema (`GET /v1/tools/{name}`)", content_type = "application/json"),
    responses(
        (status = 200, description = "outcome `ok`", body = InvokeResponse),
        (status = 422, description = "outcome `invalid_input`: not JSON, too deep, or not matching the tool's input schema (nothing ran)", body = InvokeResponse),
        (status = 502, description = "outcomes `tool_error`, `fuel_exhausted`, `memory_exceeded`, `output_too_large`, `trap`", body = InvokeResponse),
        (status = 504, description = "outcome `timeout`", body = InvokeResponse),
        (status = 500, description = "outcome `host_error`", body = InvokeResponse),
        (status = 401, description = "missing or unknown API key", body = ErrorBody),
        (status = 403, description = "the key may not invoke this tool", body = ErrorBody),
        (status = 404, description = "no such tool or version", body = ErrorBody),
        (status = 413, description = "body over the invoke limit", body = ErrorBody),
        (status = 423, description = "the tool is quarantined", body = ErrorBody),
        (status = 429, description = "rate limited, or a quota of the caller is used up (`quota_exceeded`, with the quota's name, limit and use; `Retry-After` until it resets)", body = ErrorBody),
        (status = 503, description = "too many executions in flight (`Retry-After`)", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn invoke(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<InvokeQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    // Detached from the connection: a client that hangs up mid-call does not cancel it, so a call
    // that started always finishes (within its deadline) and is recorded. MCP calls run the same
    // way (rmcp runs each request in its own task).
    let execution = tokio::spawn(async move {
        execute(
            &state,
            &caller,
            &name,
            query.version.as_deref(),
            &body,
            "http",
        )
        .await
    });
    let (answer, _) = execution.await.map_err(ApiError::internal)??;
    Ok((status_for(answer.outcome), Json(answer)).into_response())
}

/// The one execution path, shared by HTTP invoke and MCP `tools/call`: access checks, the
/// in-flight bound, input checks (UTF-8, depth, JSON, schema) before anything is instantiated,
/// the sandboxed call, and the durable record, committed before this returns. Also returns the
/// tool version that ran.
pub async fn execute(
    state: &Arc<AppState>,
    caller: &Caller,
    name: &str,
    version: Option<&str>,
    body: &[u8],
    transport: &'static str,
) -> Result<(InvokeResponse, Arc<LiveTool>), ApiError> {
    caller.require(Action::Invoke)?;
    let tool = state
        .find(name, version)
        .ok_or_else(|| ApiError::not_found(format!("no tool {name} {}", version.unwrap_or(""))))?;
    if let Some(reason) = state.quarantine_reason(name) {
        return Err(ApiError::new(
            StatusCode::LOCKED,
            "quarantined",
            format!("{name} is quarantined: {reason}"),
        ));
    }
    if !may_invoke(caller, &tool) {
        tracing::warn!(target: "cordon::security", tool = name, caller = caller.id, transport, "invoke refused by the tool's access policy");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this caller may not invoke {name} (its policy's [access])"),
        ));
    }
    let Ok(_permit) = state.in_flight.clone().try_acquire_owned() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "saturated",
            "too many executions in flight; retry shortly",
        )
        .retry_after(1));
    };

    let started = now_ms();
    crate::metrics::in_flight(1);
    let _gauge = scopeguard(|| crate::metrics::in_flight(-1));
    let (exec, reservation) = match crate::input::check(body, tool.validator.as_ref()) {
        Err(message) => (refuse(&tool, body, message), None),
        Ok(text) => {
            let grants = state.grants(&tool)?;
            // Counted against the caller's quotas (in the store, shared by every node) only
            // once the call will run: a refusal before here costs the caller nothing.
            let reservation = crate::quota::reserve(
                &state.settings.quotas,
                &state.storage,
                caller,
                &tool,
                transport,
            )
            .await?;
            let span = tracing::info_span!(
                "invoke",
                tool = name,
                version = tool.record.version,
                caller = caller.id,
                transport
            );
            let exec = tracing::Instrument::instrument(
                state.sandbox.call(&tool.tool, text, &grants),
                span,
            )
            .await;
            (exec, reservation)
        }
    };

    let id = new_id(started)?;
    let record = NewExecution {
        id: id.clone(),
        started_at_ms: started,
        finished_at_ms: now_ms(),
        caller: caller.id.clone(),
        transport: transport.into(),
        tool: tool.record.name.clone(),
        version: tool.record.version.clone(),
        digest: exec.digest.clone(),
        publisher: Some(tool.record.publisher.clone()),
        signer: exec.signer.clone(),
        policy_hash: tool.record.policy_hash.clone(),
        input_bytes: body.len() as u64,
        input_sha256: sha256_hex(body),
        input: state
            .settings
            .store_inputs
            .then(|| String::from_utf8_lossy(body).into_owned()),
        outcome: exec.outcome,
        error: exec.error.clone(),
        usage: exec.usage.clone(),
        caller_name: Some(caller.name.clone()),
        // The output exactly as the answer carries it (compact JSON).
        output_sha256: exec
            .output
            .as_ref()
            .map(|o| sha256_hex(o.to_string().as_bytes())),
    };
    // Durable before the answer: the journal commits it (fsync, shared with whatever else is
    // waiting) and only then returns.
    // The quota counters are settled beside the commit, not after it.
    let fuel = exec.usage.fuel_consumed;
    let settle = async {
        if let Some(r) = reservation {
            r.finish(fuel).await;
        }
    };
    let (committed, ()) = tokio::join!(state.journal.append(record), settle);
    let committed = committed?;
    let receipt = state.audit.receipt(committed).map_err(ApiError::internal)?;

    crate::metrics::execution(&tool.record.name, &exec);
    let answer = InvokeResponse {
        execution_id: id,
        outcome: exec.outcome,
        output: exec.output,
        error: exec.error,
        usage: exec.usage,
        receipt,
    };
    Ok((answer, tool))
}

/// A tool's `[access]` rules, each absent one allowing everyone: one of the caller's roles must
/// be listed in `roles`; the caller must be named in `keys` or `subjects` (when either is
/// given); its token must carry one of `groups`.
pub fn may_invoke(caller: &Caller, tool: &LiveTool) -> bool {
    let access = &tool.policy.access;
    let role_ok = access.roles.as_ref().is_none_or(|roles| {
        roles
            .iter()
            .any(|r| caller.roles.iter().any(|c| c.as_str() == r))
    });
    let named = access.keys.is_some() || access.subjects.is_some();
    let who_ok = !named
        || access.keys.iter().flatten().any(|k| caller.is_key(k))
        || access
            .subjects
            .iter()
            .flatten()
            .any(|s| caller.is_subject(s));
    let group_ok = access
        .groups
        .as_ref()
        .is_none_or(|groups| groups.iter().any(|g| caller.in_group(g)));
    role_ok && who_ok && group_ok
}

/// Runs `f` when dropped (also when the request is cancelled mid-call).
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

/// `ex_` and 12 bytes in hex: the start time in milliseconds (6 bytes, big-endian), then 6
/// random bytes. Ids of one node grow with time, so each new record's entry in the log's id index
/// lands beside the last one (one page per commit) instead of on a random page of it (one page
/// per record); two calls of one millisecond still differ in 48 random bits. Nothing is granted
/// by knowing an id: reading a record takes a role that may read executions.
fn new_id(started_ms: i64) -> Result<String, ApiError> {
    let mut bytes = [0u8; 12];
    bytes[..6].copy_from_slice(&started_ms.to_be_bytes()[2..]);
    getrandom::fill(&mut bytes[6..]).map_err(ApiError::internal)?;
    Ok(format!("ex_{}", hex::encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_grow_with_time_and_differ_within_a_millisecond() {
        let (a, b) = (
            new_id(1_700_000_000_000).unwrap(),
            new_id(1_700_000_000_000).unwrap(),
        );
        let later = new_id(1_700_000_000_001).unwrap();
        assert!(a.starts_with("ex_018bcfe56800") && a.len() == 27, "{a}");
        assert_ne!(a, b);
        assert!(later > a && later > b, "{a} {b} {later}");
    }

    #[test]
    fn statuses_follow_the_documented_rule() {
        assert_eq!(status_for(Outcome::Ok), StatusCode::OK);
        assert_eq!(
            status_for(Outcome::InvalidInput),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(status_for(Outcome::FuelExhausted), StatusCode::BAD_GATEWAY);
        assert_eq!(status_for(Outcome::Timeout), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(
            status_for(Outcome::HostError),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
