//! Calls held for a person's approval (docs/decisions.md): `GET /v1/approvals` lists those the
//! caller may decide on, `GET /v1/approvals/{id}` shows one, `POST /v1/approvals/{id}`
//! approves or denies it. The id is the held call's execution id (the one in `Location`).

use crate::callers::caller::Caller;
use crate::decisions::approvals::{Resolved, may_approve, may_see};
use crate::decisions::view::ApprovalView;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use cordon_core::Action;
use cordon_storage::ApprovalRow;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The most held calls one listing shows (oldest first).
const MAX_LISTED: usize = 500;
/// Pending calls read from the store at a time, and at most how many reads one listing makes:
/// a listing looks through the 50,000 oldest pending calls (each expires within 7 days, and
/// every caller's calls count against its quotas), so a page of others' calls never hides an
/// approver's.
const PAGE: u32 = 500;
const MAX_PAGES: usize = 100;

/// Held calls waiting for a decision.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApprovalList {
    pub approvals: Vec<ApprovalView>,
}

/// An approver's decision.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalDecision {
    /// `true` runs the call now (once, on this node); `false` denies it (recorded `denied`).
    pub approve: bool,
    /// Why, for the audit log and the caller (at most 1024 bytes).
    #[serde(default)]
    pub reason: String,
}

/// The arguments of `row` for a viewer who may decide on it: the values of the host-held
/// secrets its tool's policy names redacted, as in the record.
fn arguments(state: &AppState, row: &ApprovalRow) -> Option<serde_json::Value> {
    let secrets = state
        .find(&row.tool, Some(&row.version))
        .and_then(|t| state.grants(&t).ok())
        .map(|g| g.secrets)
        .unwrap_or_default();
    let text = cordon_core::grants::redact(&row.input, &secrets);
    Some(serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

fn view(state: &AppState, caller: &Caller, row: &ApprovalRow) -> ApprovalView {
    let shown = may_approve(caller, row) || caller.permits(Action::ManageExecutions);
    ApprovalView::of(row, shown.then(|| arguments(state, row)).flatten())
}

/// The held calls this caller may decide on (every other caller's for an admin), oldest first:
/// the 500 oldest of them, looked for among the 50,000 oldest pending calls.
#[utoipa::path(
    get,
    path = "/v1/approvals",
    tag = "approvals",
    responses(
        (status = 200, body = ApprovalList),
        (status = 401, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<ApprovalList>, ApiError> {
    let now = crate::clock::now_ms();
    let mut approvals = Vec::new();
    let mut after = None;
    // Page through the pending calls, oldest first, keeping those this caller may decide on,
    // until a listing is full or none are left (others' calls do not hide its own).
    for _ in 0..MAX_PAGES {
        let page = state.db(move |s| s.approvals_pending(after, PAGE)).await?;
        let full = page.len() == PAGE as usize;
        after = page.last().map(|r| (r.created_at_ms, r.id.clone()));
        approvals.extend(
            page.iter()
                .filter(|r| r.expires_at_ms > now && r.caller != caller.id)
                .filter(|r| may_approve(&caller, r) || caller.permits(Action::ManageExecutions))
                .map(|r| view(&state, &caller, r)),
        );
        if approvals.len() >= MAX_LISTED || !full {
            break;
        }
    }
    approvals.truncate(MAX_LISTED);
    Ok(Json(ApprovalList { approvals }))
}

/// One held call: to its caller, its approvers, or an admin.
#[utoipa::path(
    get,
    path = "/v1/approvals/{id}",
    tag = "approvals",
    params(("id" = String, Path, description = "the held call's execution id")),
    responses(
        (status = 200, body = ApprovalView),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn show(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ApprovalView>, ApiError> {
    let looking = id.clone();
    let row = state
        .db(move |s| s.approval(&looking))
        .await?
        .filter(|r| may_see(&caller, r))
        .ok_or_else(|| {
            ApiError::not_found(format!("no held call {id} that this caller may see"))
        })?;
    Ok(Json(view(&state, &caller, &row)))
}

/// Approves or denies a held call. Approved, it runs at once (once, whichever node is asked);
/// its caller follows it at `GET /v1/executions/{id}`. Denied, it is recorded with outcome
/// `denied`. The call's own caller can never decide on it.
#[utoipa::path(
    post,
    path = "/v1/approvals/{id}",
    tag = "approvals",
    params(("id" = String, Path, description = "the held call's execution id")),
    request_body = ApprovalDecision,
    responses(
        (status = 200, description = "decided: approved (the call is running) or denied (recorded)", body = ApprovalView),
        (status = 400, description = "not a decision, or a reason over 1024 bytes", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "the caller is not one of the call's approvers (`not_an_approver`), or it is the call's own caller (`self_approval`)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "decided already (`already_decided`), or its time ran out (`approval_expired`: recorded denied)", body = ErrorBody),
        (status = 503, description = "the database is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn decide(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<ApprovalView>, ApiError> {
    let decision: ApprovalDecision = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!("a decision is {{\"approve\": true|false, \"reason\": \"...\"}}: {e}"),
        )
    })?;
    let row = match state
        .decide_approval(&caller, &id, decision.approve, decision.reason)
        .await?
    {
        Resolved::Approved(row) | Resolved::Denied(row) => row,
    };
    Ok(Json(view(&state, &caller, &row)))
}
