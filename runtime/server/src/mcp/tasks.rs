//! MCP's long-running side: progress notifications for a request that asked for them, and the
//! tasks extension (`io.modelcontextprotocol/tasks`, 2026-07-28): `tools/call` answered with a
//! task when the call outlives [`TASK_AFTER`], `tasks/get` and `tasks/cancel` on it. A task is
//! the same stored task a REST `Prefer: respond-async` makes (`tasks.rs`), so it can be read or
//! cancelled through any node and over either API, by its caller or an admin.

use crate::api::execute::admit;
use crate::callers::caller::Caller;
use crate::calls::running::{CallEvent, CancelOnDrop, HUNG_UP};
use crate::mcp::call::{call_result, call_result_of, refusal, wraps_output};
use crate::state::AppState;
use axum::body::Bytes;
use cordon_core::{Action, Outcome, Progress};
use cordon_sandbox::ProgressSink;
use cordon_storage::TaskRow;
use rmcp::ErrorData as McpError;
use rmcp::RoleServer;
use rmcp::model::{
    CallToolResponse, CreateTaskResult, DetailedTask, GetTaskResult, JsonObject,
    ProgressNotificationParam, ProgressToken, Task, TaskPayload, TaskStatus,
};
use rmcp::service::Peer;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// How long a call of a client that accepts tasks runs before the answer is a task instead:
/// a quick call is answered directly, with no polling.
pub const TASK_AFTER: Duration = Duration::from_secs(1);

/// Progress notifications waiting for a slow peer before the newest are dropped.
const PROGRESS_BACKLOG: usize = 64;

/// Log messages waiting for a slow peer before the newest are dropped.
const LOG_BACKLOG: usize = 64;

/// Sends each log message of the call, at `least` or more severe, as `notifications/message`,
/// in order, on the request's response stream. rmcp marks MCP logging deprecated (SEP-2577,
/// after the 2026-07-28 revision, which still has it and its per-request `logLevel`): used
/// deliberately, for the clients of every revision cordon serves.
#[allow(deprecated)]
pub fn log_notifier(
    peer: Peer<RoleServer>,
    least: rmcp::model::LoggingLevel,
) -> (cordon_core::LogLevel, cordon_sandbox::LogSink) {
    // Bounded like progress: a slow peer loses the excess, never holds memory for it.
    let (send, mut receive) = tokio::sync::mpsc::channel::<cordon_core::LogMessage>(LOG_BACKLOG);
    tokio::spawn(async move {
        while let Some(m) = receive.recv().await {
            let Ok(level) = serde_json::from_value(json!(m.level)) else {
                continue;
            };
            let mut note = rmcp::model::LoggingMessageNotificationParam::new(level, m.data);
            note.logger = m.logger;
            if peer.notify_logging_message(note).await.is_err() {
                return;
            }
        }
    });
    // MCP's levels are cordon's, by name.
    let least = serde_json::from_value(json!(least)).unwrap_or(cordon_core::LogLevel::Emergency);
    let sink: cordon_sandbox::LogSink = Arc::new(move |m: &cordon_core::LogMessage| {
        let _ = send.try_send(m.clone());
    });
    (least, sink)
}

/// Sends each progress report of the call as `notifications/progress` with `token`, in order,
/// on the request's response stream.
pub fn progress_notifier(peer: Peer<RoleServer>, token: ProgressToken) -> ProgressSink {
    // Bounded: a peer slower than the tool's reports loses the excess (each report carries
    // the whole state), never holds memory for them.
    let (send, mut receive) = tokio::sync::mpsc::channel::<Progress>(PROGRESS_BACKLOG);
    tokio::spawn(async move {
        while let Some(p) = receive.recv().await {
            let mut note = ProgressNotificationParam::new(token.clone(), p.done as f64);
            note.total = p.total.map(|t| t as f64);
            note.message = (!p.message.is_empty()).then_some(p.message);
            if peer.notify_progress(note).await.is_err() {
                return;
            }
        }
    });
    Arc::new(move |p: &Progress| {
        let _ = send.try_send(p.clone());
    })
}

/// `tools/call` of a client that declared the tasks extension.
pub async fn call(
    state: &Arc<AppState>,
    caller: &Caller,
    name: &str,
    arguments: JsonObject,
    options: crate::mcp::call::CallOptions,
) -> Result<CallToolResponse, McpError> {
    let crate::mcp::call::CallOptions {
        request,
        progress,
        logs,
        hangup,
        // A task does not take an `InputRequiredResult` round yet: its tool asks nothing of a
        // client (its call context says so).
        ..
    } = options;
    let body = serde_json::to_vec(&Value::Object(arguments))
        .map_err(|e| McpError::internal_error(e.to_string(), None))?;
    let mut admitted = match admit(state, caller, name, None, Bytes::from(body), "mcp").await {
        Ok(a) => a,
        Err(e) => return refusal(name, e).map(Into::into),
    };
    // See `CallOptions` above: nothing to ask in a task yet.
    admitted.client_answers(cordon_core::Asking::default());
    let wrap = wraps_output(&admitted.tool.record);
    // An input refused: answered at once, nothing to wait for.
    if admitted.is_refused() {
        let registered = admitted.register(false, request, Default::default());
        return match admitted.run(registered).await {
            Ok(answer) => Ok(call_result(answer, wrap).into()),
            Err(e) => refusal(name, e).map(Into::into),
        };
    }
    // A task is answered by `tasks/cancel`, not by the request's id: none is kept for it.
    let _ = request;
    let listeners = crate::calls::running::Listeners { progress, logs };
    let (call, mut events, run) = match admitted.start_task(None, listeners).await {
        Ok(started) => started,
        Err(e) => return refusal(name, e).map(Into::into),
    };
    // Until the handle is answered, a client that goes away stops the call, as for any call.
    let dropped = CancelOnDrop::new(&call.control);
    let ended = tokio::time::timeout(TASK_AFTER, async {
        loop {
            let event = match &hangup {
                Some(hangup) => tokio::select! {
                    event = events.recv() => event,
                    () = hangup.cancelled() => {
                        call.control.cancel(HUNG_UP);
                        continue;
                    }
                },
                None => events.recv().await,
            };
            match event {
                Ok(CallEvent::Done(_)) => return true,
                Ok(CallEvent::Progress(_))
                | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return false,
            }
        }
    })
    .await;
    dropped.disarm();
    if ended == Ok(true) {
        return match run.await {
            Ok(Ok(answer)) => Ok(call_result(answer, wrap).into()),
            Ok(Err(e)) => refusal(name, e).map(Into::into),
            Err(e) => Err(McpError::internal_error(e.to_string(), None)),
        };
    }
    let now = rfc3339(call.started_at_ms);
    let task = Task::new(call.id.clone(), TaskStatus::Working, now.clone(), now)
        .with_ttl_ms(ttl_ms(state))
        .with_poll_interval_ms(crate::calls::tasks::POLL_INTERVAL_MS)
        .with_status_message("running");
    Ok(CallToolResponse::Task(CreateTaskResult::new(task)))
}

/// `tasks/get`: the task as it is now.
pub async fn get(
    state: &Arc<AppState>,
    caller: &Caller,
    task_id: &str,
) -> Result<GetTaskResult, McpError> {
    let row = own(state, caller, task_id).await?;
    let wrap = state
        .find(&row.tool, Some(&row.version))
        .is_some_and(|t| wraps_output(&t.record));
    let here = state.running.get(task_id);
    let progress = here
        .as_deref()
        .and_then(crate::calls::running::RunningCall::progress);
    Ok(GetTaskResult::new(detailed(state, &row, progress, wrap)))
}

/// `tasks/cancel`: asks the call to stop (it ends `cancelled` within moments, or with whatever
/// it ended with first); an empty acknowledgement.
pub async fn cancel(state: &Arc<AppState>, caller: &Caller, task_id: &str) -> Result<(), McpError> {
    own(state, caller, task_id).await?;
    if let Some(call) = state.running.get(task_id) {
        call.control.cancel(&caller.id);
    }
    let (id, by) = (task_id.to_owned(), caller.id.clone());
    state
        .db(move |s| s.task_cancel(&id, &by, crate::clock::now_ms()))
        .await
        .map_err(|e| McpError::internal_error(e.message, None))?;
    tracing::info!(target: "cordon::admin", execution_id = task_id, by = caller.id, "cancel asked (tasks/cancel)");
    Ok(())
}

/// `tasks/update`: an empty acknowledgement for a task of the caller's. cordon's tools never ask
/// their caller for input, so nothing is outstanding and every response is ignored, as the
/// extension says; an unknown task is still "not found".
pub async fn update(state: &Arc<AppState>, caller: &Caller, task_id: &str) -> Result<(), McpError> {
    own(state, caller, task_id).await.map(|_| ())
}

/// The task `id` if `caller` may see it; otherwise the extension's "not found" (the same for
/// an id that does not exist: nothing tells one from the other).
async fn own(state: &Arc<AppState>, caller: &Caller, id: &str) -> Result<TaskRow, McpError> {
    let looking = id.to_owned();
    let row = state
        .db(move |s| s.task(&looking))
        .await
        .map_err(|e| McpError::internal_error(e.message, None))?;
    row.filter(|r| r.caller == caller.id || caller.permits(Action::ManageExecutions))
        .ok_or_else(|| McpError::invalid_params("Failed to retrieve task: Task not found", None))
}

/// A stored task as the extension shows it: `working` (its newest progress as the status
/// message), then `completed` with the `tools/call` result (an error result for a tool's
/// failure or a limit), `cancelled`, or `failed` with a JSON-RPC error when its node stopped.
fn detailed(
    state: &AppState,
    row: &TaskRow,
    progress: Option<Progress>,
    wrap: bool,
) -> DetailedTask {
    let mut task = Task::new(
        row.id.clone(),
        TaskStatus::Working,
        rfc3339(row.started_at_ms),
        rfc3339(row.updated_at_ms),
    )
    .with_ttl_ms(ttl_ms(state))
    .with_poll_interval_ms(crate::calls::tasks::POLL_INTERVAL_MS);
    let answer: Option<Value> = row
        .result
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok());
    let payload = match (row.outcome.as_deref(), answer) {
        (None, _) | (Some(_), None) => {
            let progress = progress.or_else(|| {
                row.progress
                    .as_deref()
                    .and_then(|p| serde_json::from_str(p).ok())
            });
            if let Some(p) = progress {
                task = task.with_status_message(match p.total {
                    Some(total) => format!("{} of {total}: {}", p.done, p.message),
                    None => format!("{}: {}", p.done, p.message),
                });
            }
            TaskPayload::Working
        }
        (Some(o), Some(answer)) if o == Outcome::Cancelled.as_str() => {
            if let Some(error) = answer["error"].as_str() {
                task = task.with_status_message(error.to_owned());
            }
            TaskPayload::Cancelled
        }
        (Some(o), Some(answer)) if o == Outcome::Interrupted.as_str() => {
            let message = answer["error"].as_str().unwrap_or("interrupted").to_owned();
            task = task.with_status_message(message.clone());
            let mut error = JsonObject::new();
            error.insert("code".into(), json!(-32603));
            error.insert("message".into(), json!(message));
            TaskPayload::Failed { error }
        }
        (Some(_), Some(answer)) => {
            let result = serde_json::to_value(call_result_of(&answer, wrap))
                .ok()
                .and_then(|v| match v {
                    Value::Object(o) => Some(o),
                    _ => None,
                })
                .unwrap_or_default();
            TaskPayload::Completed { result }
        }
    };
    DetailedTask::new(task, payload)
}

fn ttl_ms(state: &AppState) -> u64 {
    u64::try_from(state.settings.async_result_ttl.as_millis()).unwrap_or(u64::MAX)
}

fn rfc3339(ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(at).to_string()
}
