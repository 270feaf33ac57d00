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
//! | `cancelled` (by its caller or an admin) | 409 |
//! | `interrupted` (the node stopped) | 503 |

use crate::api::execute::{Admission, Admitted, admit_or_hold};
pub use crate::api::execute::{InvokeResponse, may_invoke};
use crate::callers::caller::Caller;
use crate::calls::running::{CallEvent, CancelOnDrop};
use crate::calls::tasks::ExecutionView;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cordon_core::Outcome;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

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
        Outcome::Cancelled => StatusCode::CONFLICT,
        Outcome::Interrupted => StatusCode::SERVICE_UNAVAILABLE,
        // A round that asked is an answer, not a failure: the caller answers and resumes.
        Outcome::InputRequired => StatusCode::OK,
        // Held for approval and refused: the operator's decision, as a 403.
        Outcome::Denied => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// Invokes the newest version of a tool (or the one named with `?version=`) with the request
/// body as its input. The answer carries the full result whatever the outcome; the status
/// follows the outcome (see the module documentation). With `Prefer: respond-async` the call
/// runs on after the answer, `202 Accepted` with `Location: /v1/executions/{id}` (see
/// `docs/long-running.md`).
#[utoipa::path(
    post,
    path = "/v1/tools/{name}/invoke",
    tag = "invoke",
    params(
        ("name" = String, Path, description = "tool name"),
        InvokeQuery,
        ("Prefer" = Option<String>, Header, description = "`respond-async` runs the call asynchronously (`202`, then `GET /v1/executions/{id}`); with `wait=N` the server first waits up to N seconds (at most 60) and answers as a synchronous call if it ended by then. Other preferences are ignored (RFC 7240)."),
    ),
    request_body(content = Object, description = "the tool's input: a JSON object matching the tool's input schema (`GET /v1/tools/{name}`)", content_type = "application/json"),
    responses(
        (status = 200, description = "outcome `ok`, or `input_required`: the tool asks for input (`input_requests`); answer and call `POST /v1/tools/{name}/resume` with `request_state`", body = InvokeResponse),
        (status = 202, description = "started asynchronously (`Prefer: respond-async`), or held for a person's approval by the operator's decisions (`status: awaiting_approval`, whatever `Prefer` says; `Prefer: wait=N` waits up to N seconds for the decision and the result): `Location` names where to follow it", body = crate::calls::tasks::ExecutionView),
        (status = 409, description = "outcome `cancelled`: stopped by its caller or an admin (`DELETE /v1/executions/{id}`)", body = InvokeResponse),
        (status = 422, description = "outcome `invalid_input`: not JSON, too deep, or not matching the tool's input schema (nothing ran)", body = InvokeResponse),
        (status = 502, description = "outcomes `tool_error`, `fuel_exhausted`, `memory_exceeded`, `output_too_large`, `trap`", body = InvokeResponse),
        (status = 503, description = "outcome `interrupted` (the node stopped), or too many executions in flight (`saturated`, `Retry-After`)", body = InvokeResponse),
        (status = 504, description = "outcome `timeout`", body = InvokeResponse),
        (status = 500, description = "outcome `host_error`", body = InvokeResponse),
        (status = 401, description = "missing or unknown API key", body = ErrorBody),
        (status = 403, description = "the key may not invoke this tool (`forbidden`), or the operator's decisions deny the call (`denied_by_policy`, with their `reasons`), or a held call was denied while the caller waited (`approval_denied`)", body = ErrorBody),
        (status = 404, description = "no such tool or version", body = ErrorBody),
        (status = 413, description = "body over the invoke limit", body = ErrorBody),
        (status = 423, description = "the tool is quarantined", body = ErrorBody),
        (status = 429, description = "rate limited, or a quota of the caller is used up (`quota_exceeded`, with the quota's name, limit and use; `Retry-After` until it resets)", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn invoke(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<InvokeQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let prefer = Prefer::of(&headers);
    let admitted = match admit_or_hold(
        &state,
        &caller,
        &name,
        query.version.as_deref(),
        body,
        "http",
    )
    .await?
    {
        Admission::Run(admitted) => admitted,
        Admission::Held(row) => return held(&state, &row, prefer.wait).await,
    };
    if prefer.respond_async && !admitted.is_refused() {
        return start_task(admitted, prefer.wait).await;
    }
    answer(admitted).await
}

/// Runs an admitted call and answers with its result, the status following its outcome. The
/// call runs in a task of its own, so it is always recorded; a client that hangs up before the
/// answer stops it (the guard below is dropped with the handler), and it is recorded
/// `cancelled` with what it used.
pub async fn answer(admitted: Admitted) -> Result<Response, ApiError> {
    let registered = admitted.register(false, None, Default::default());
    let hangup = CancelOnDrop::new(&registered.call.control);
    let answer = tokio::spawn(crate::trace::carry(admitted.run(registered)))
        .await
        .map_err(ApiError::internal)??;
    hangup.disarm();
    Ok((status_for(answer.outcome), Json(answer)).into_response())
}

/// A call held for approval: `202` with `Location` (its execution, `awaiting_approval`), after
/// waiting up to `wait` (`Prefer: wait=N`) for an approver to decide and the call to end; if it
/// did by then, the answer is what a synchronous call answers (its result, or the denial).
async fn held(
    state: &Arc<AppState>,
    row: &cordon_storage::ApprovalRow,
    wait: Option<Duration>,
) -> Result<Response, ApiError> {
    let mut view = ExecutionView::held(row);
    if let Some(wait) = wait {
        let deadline = tokio::time::Instant::now() + wait;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(HELD_POLL).await;
            let id = row.id.clone();
            if let Some(task) = state.db(move |s| s.task(&id)).await? {
                view = ExecutionView::of(&task, None);
            } else {
                let id = row.id.clone();
                if let Some(now) = state.db(move |s| s.approval(&id)).await? {
                    view = ExecutionView::held(&now);
                }
            }
            match (view.outcome, &view.result) {
                (Some(Outcome::Denied), Some(result)) => {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "approval_denied",
                        format!(
                            "held call {}: {}",
                            row.id,
                            result["error"].as_str().unwrap_or("denied")
                        ),
                    ));
                }
                (Some(outcome), Some(result)) => {
                    return Ok((status_for(outcome), Json(result.clone())).into_response());
                }
                _ => {}
            }
        }
    }
    let location = format!("/v1/executions/{}", row.id);
    let mut response = (StatusCode::ACCEPTED, Json(view)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// How often a caller waiting on a held call (`Prefer: wait`) looks again: the approval and the
/// run may be on any node.
const HELD_POLL: Duration = Duration::from_millis(250);

/// The longest `Prefer: wait=N` honoured.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// What a request's `Prefer` header asks (RFC 7240): preferences other than `respond-async` and
/// `wait` are ignored, as are malformed ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prefer {
    pub respond_async: bool,
    pub wait: Option<Duration>,
}

impl Prefer {
    pub fn of(headers: &HeaderMap) -> Prefer {
        let mut prefer = Prefer::default();
        for value in headers.get_all("prefer") {
            let Ok(text) = value.to_str() else { continue };
            for preference in text.split(',') {
                // A preference's parameters (`; ...`) are not used by either preference here.
                let token = preference.split(';').next().unwrap_or("").trim();
                let (name, value) = match token.split_once('=') {
                    Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                    None => (token, None),
                };
                if name.eq_ignore_ascii_case("respond-async") {
                    prefer.respond_async = true;
                } else if name.eq_ignore_ascii_case("wait")
                    && let Some(secs) = value.and_then(|v| v.parse::<u64>().ok())
                {
                    prefer.wait = Some(Duration::from_secs(secs).min(MAX_WAIT));
                }
            }
        }
        prefer
    }
}

/// Starts `admitted` as a task: stored (so every node can answer for it) before the `202`, run
/// in a task of its own, followed by [`follow`]. With `wait`, the answer waits up to that long
/// and is the synchronous one if the call ended by then.
async fn start_task(admitted: Admitted, wait: Option<Duration>) -> Result<Response, ApiError> {
    let (call, mut events, running) = admitted.start_task(None, Default::default()).await?;
    if let Some(wait) = wait {
        let done = tokio::time::timeout(wait, async {
            loop {
                match events.recv().await {
                    Ok(CallEvent::Done(_)) => return true,
                    Ok(CallEvent::Progress(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return false,
                }
            }
        })
        .await;
        if done == Ok(true) {
            let answer = running.await.map_err(ApiError::internal)??;
            let status = status_for(answer.outcome);
            return Ok((status, Json(answer)).into_response());
        }
    }
    let view = ExecutionView::started(&call);
    let location = format!("/v1/executions/{}", call.id);
    let mut response = (StatusCode::ACCEPTED, Json(view)).into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, v);
    }
    headers.insert(
        "preference-applied",
        HeaderValue::from_static("respond-async"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(status_for(Outcome::Cancelled), StatusCode::CONFLICT);
        assert_eq!(
            status_for(Outcome::Interrupted),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    fn prefer(values: &[&str]) -> Prefer {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("prefer", HeaderValue::from_str(v).unwrap());
        }
        Prefer::of(&h)
    }

    #[test]
    fn prefer_is_read_as_rfc_7240_says() {
        assert_eq!(prefer(&[]), Prefer::default());
        assert!(prefer(&["respond-async"]).respond_async);
        assert!(prefer(&["Respond-Async ; foo=bar"]).respond_async);
        let p = prefer(&["handling=lenient, respond-async, wait=5"]);
        assert!(p.respond_async);
        assert_eq!(p.wait, Some(Duration::from_secs(5)));
        let p = prefer(&["wait=\"7\"", "respond-async"]);
        assert!(p.respond_async && p.wait == Some(Duration::from_secs(7)));
        assert_eq!(prefer(&["wait=100000"]).wait, Some(MAX_WAIT));
        // Anything else is ignored, never an error.
        for ignored in [
            "return=minimal",
            "respond-asynchronously",
            "wait=soon",
            "",
            ",,;",
        ] {
            let p = prefer(&[ignored]);
            assert!(!p.respond_async && p.wait.is_none(), "{ignored}");
        }
    }
}
