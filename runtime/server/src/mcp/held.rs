//! A call the operator's decisions hold for approval, as MCP sees it. A client that declared the
//! tasks extension is given a task (the held call's execution id) that is `working` with a
//! status message naming who must approve, until an approver decides: approved, the task is the
//! call that runs; denied or expired, it completes as a tool error saying so. `tasks/cancel`
//! withdraws it. Any other client is told, as a tool error, the held call's id and how it is
//! decided and followed.

use crate::callers::caller::Caller;
use crate::decisions::approvals::{approvers_text, may_see};
use crate::error::ApiError;
use crate::mcp::task_clock::{rfc3339, ttl_ms};
use crate::state::AppState;
use axum::http::StatusCode;
use cordon_storage::{ApprovalRow, ApprovalState};
use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolResult, ContentBlock, CreateTaskResult, DetailedTask, GetTaskResult, Task, TaskPayload,
    TaskStatus,
};
use serde_json::json;
use std::sync::Arc;

/// What a held call's task says while it waits.
fn waiting(row: &ApprovalRow) -> String {
    format!(
        "waiting for approval by {} until {} (held call {})",
        approvers_text(row),
        rfc3339(row.expires_at_ms),
        row.id
    )
}

fn task(state: &AppState, row: &ApprovalRow, status: TaskStatus, updated_ms: i64) -> Task {
    Task::new(
        row.id.clone(),
        status,
        rfc3339(row.created_at_ms),
        rfc3339(updated_ms),
    )
    .with_ttl_ms(ttl_ms(state))
    .with_poll_interval_ms(crate::calls::tasks::POLL_INTERVAL_MS)
}

/// The task a held call is answered with.
pub fn created(state: &AppState, row: &ApprovalRow) -> CreateTaskResult {
    CreateTaskResult::new(
        task(state, row, TaskStatus::Working, row.created_at_ms).with_status_message(waiting(row)),
    )
}

/// The refusal a client without tasks gets: it names the held call, who decides it, and where
/// its result will be.
pub fn refused(row: &ApprovalRow) -> ApiError {
    ApiError::new(
        StatusCode::ACCEPTED,
        "approval_pending",
        format!(
            "the operator's decisions hold this call of {} for approval by {}: held call {} (an approver decides with `cordon approvals approve {}`; its result will be at GET /v1/executions/{}); it expires {}",
            row.tool,
            approvers_text(row),
            row.id,
            row.id,
            row.id,
            rfc3339(row.expires_at_ms)
        ),
    )
}

/// The held call `id` as `tasks/get` shows it, if there is one this caller may see (its own,
/// or an admin's view).
pub async fn get(
    state: &Arc<AppState>,
    caller: &Caller,
    id: &str,
) -> Result<Option<GetTaskResult>, McpError> {
    let Some(row) = read(state, caller, id).await? else {
        return Ok(None);
    };
    let trace = crate::decisions::held::HeldCaller::trace_of(&row.held_caller);
    let _poll = crate::trace::resumed("tasks/get", &row.tool, &row.id, trace.as_deref());
    let updated = row.decided_at_ms.unwrap_or(row.created_at_ms);
    let detailed = match row.state {
        ApprovalState::Pending => DetailedTask::new(
            task(state, &row, TaskStatus::Working, updated).with_status_message(waiting(&row)),
            TaskPayload::Working,
        ),
        // Approved: its run is being stored under the same id (then the task is that run).
        ApprovalState::Approved => DetailedTask::new(
            task(state, &row, TaskStatus::Working, updated)
                .with_status_message("approved; starting"),
            TaskPayload::Working,
        ),
        ApprovalState::Denied | ApprovalState::Expired => {
            let why = match (row.state, &row.decided_by, &row.reason) {
                (ApprovalState::Expired, _, _) => {
                    "denied: no approver decided before the approval expired".to_owned()
                }
                (_, Some(by), Some(reason)) if !reason.is_empty() => {
                    format!("denied by {}: {reason}", by.name)
                }
                (_, Some(by), _) => format!("denied by {}", by.name),
                _ => "denied".to_owned(),
            };
            let mut result = CallToolResult::error(vec![ContentBlock::text(why.clone())]);
            let mut meta = rmcp::model::JsonObject::new();
            meta.insert("cordon/execution_id".into(), json!(row.id));
            meta.insert("cordon/outcome".into(), json!("denied"));
            result.meta = Some(rmcp::model::MetaObject(meta));
            let result = match serde_json::to_value(&result) {
                Ok(serde_json::Value::Object(o)) => o,
                _ => rmcp::model::JsonObject::new(),
            };
            DetailedTask::new(
                task(state, &row, TaskStatus::Completed, updated).with_status_message(why),
                TaskPayload::Completed { result },
            )
        }
    };
    Ok(Some(GetTaskResult::new(detailed)))
}

/// `tasks/cancel` of a held call: its caller withdraws it (recorded `denied`); `false` when
/// there is no held call `id` this caller may see.
pub async fn cancel(state: &Arc<AppState>, caller: &Caller, id: &str) -> Result<bool, McpError> {
    if read(state, caller, id).await?.is_none() {
        return Ok(false);
    }
    state
        .withdraw_held(caller, id)
        .await
        .map_err(|e| McpError::invalid_request(format!("{}: {}", e.code, e.message), None))?;
    Ok(true)
}

async fn read(
    state: &Arc<AppState>,
    caller: &Caller,
    id: &str,
) -> Result<Option<ApprovalRow>, McpError> {
    let looking = id.to_owned();
    Ok(state
        .db(move |s| s.approval(&looking))
        .await
        .map_err(|e| McpError::internal_error(e.message, None))?
        .filter(|r| r.caller == caller.id || may_see(caller, r)))
}
