//! MCP's tasks extension (`io.modelcontextprotocol/tasks`, 2026-07-28): `tools/call` answered
//! with a task when the call outlives [`TASK_AFTER`], then `tasks/get`, `tasks/update` and
//! `tasks/cancel` on it. A task is the same stored task a REST `Prefer: respond-async` makes
//! (`calls/tasks.rs`), so it can be read or cancelled through any node and over either API, by
//! its caller or an admin.
//!
//! A task's tool may ask its client for input. The round that asked ends (recorded
//! `input_required`) and the task shows `input_required` with what is still unanswered; the
//! client answers through `tasks/update`, one request or several at a time, and the answers
//! gather in the task's row (`cordon_storage::task_input`). Once every request is answered, the
//! node that received the last answer runs the tool again with them, as the task's next round:
//! an execution of its own whose record follows the one before, and whose row the task's row
//! points to. The task id stays the one the client was given.

use crate::api::execute::{Admission, admit, admit_or_hold};
use crate::callers::caller::Caller;
use crate::calls::running::{CallEvent, CancelOnDrop, HUNG_UP};
use crate::mcp::call::{answered, call_result_of, refusal, wraps_output};
use crate::mcp::task_clock::{rfc3339, ttl_ms};
use crate::state::AppState;
use axum::body::Bytes;
use cordon_core::{Action, Outcome, Progress};
use cordon_storage::TaskRow;
use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolResponse, CreateTaskResult, DetailedTask, GetTaskResult, JsonObject, Task, TaskPayload,
    TaskStatus,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// How long a call of a client that accepts tasks runs before the answer is a task instead:
/// what a tool answers within this (its result, or an input request) is answered in the
/// request, with no polling; a call still running then is a task.
pub const TASK_AFTER: Duration = Duration::from_millis(500);

/// The most rounds one task follows: a tool that keeps asking ends there (a guard against a
/// loop, far beyond any exchange a person answers).
const MAX_ROUNDS: usize = 64;

/// `tools/call` of a client that declared the tasks extension, for a tool whose calls may be
/// tasks.
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
        asking,
        resume,
        // Tasks are a 2026-07-28 client's: it answers through `tasks/update`.
        push: _,
    } = options;
    let body = serde_json::to_vec(&Value::Object(arguments))
        .map_err(|e| McpError::internal_error(e.to_string(), None))?;
    let mut admitted =
        match admit_or_hold(state, caller, name, None, Bytes::from(body), "mcp").await {
            Ok(Admission::Run(a)) => a,
            // Held for a person's approval: a task that works until an approver decides.
            Ok(Admission::Held(row)) => {
                return Ok(CallToolResponse::Task(crate::mcp::held::created(
                    state, &row,
                )));
            }
            Err(e) => return refusal(name, e).map(Into::into),
        };
    admitted.client_answers(asking.unwrap_or_default());
    // Past the first moments nobody could be told what the client lacks: a request for it ends
    // the round instead of leaving the task waiting for an answer that cannot come.
    admitted.client_must_answer();
    if let Some((request_state, responses)) = &resume
        && let Err(e) = admitted.resume(request_state.as_deref(), responses)
    {
        // A requestState this server did not make, or not for this call: invalid params.
        return Err(McpError::invalid_params(e.to_string(), None));
    }
    let wrap = wraps_output(&admitted.tool.record);
    // An input refused: answered at once, nothing to wait for.
    if admitted.is_refused() {
        let registered = admitted.register(false, request, Default::default());
        return match admitted.run(registered).await {
            Ok(answer) => answered(answer, wrap, asking),
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
            Ok(Ok(answer)) => answered(answer, wrap, asking),
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

/// `tasks/get`: the task as it is now (its newest round).
pub async fn get(
    state: &Arc<AppState>,
    caller: &Caller,
    task_id: &str,
) -> Result<GetTaskResult, McpError> {
    let (first, round, _) = match rounds(state, caller, task_id).await {
        Ok(found) => found,
        Err(e) => {
            return match crate::mcp::held::get(state, caller, task_id).await? {
                Some(held) => Ok(held),
                None => Err(e),
            };
        }
    };
    // The poll, in the trace the task began in.
    let _poll = crate::trace::resumed("tasks/get", &first.tool, &first.id, first.trace.as_deref());
    let wrap = state
        .find(&first.tool, Some(&first.version))
        .is_some_and(|t| wraps_output(&t.record));
    let progress = match &round {
        Round::Stored(row) => state
            .running
            .get(&row.id)
            .as_deref()
            .and_then(crate::calls::running::RunningCall::progress),
        Round::Starting(_) => None,
    };
    Ok(GetTaskResult::new(detailed(
        state, &first, &round, progress, wrap,
    )))
}

/// `tasks/cancel`: asks the task's current round to stop (it ends `cancelled` within moments,
/// or with whatever it ended with first); a task waiting for input is cancelled at once. An
/// empty acknowledgement, also for a task that ended already.
pub async fn cancel(state: &Arc<AppState>, caller: &Caller, task_id: &str) -> Result<(), McpError> {
    // A round answered just now may be starting, or start between the read and the mark: the
    // cancel follows it to the round that takes it.
    for _ in 0..CANCEL_TRIES {
        let (first, round, _) = match rounds(state, caller, task_id).await {
            Ok(found) => found,
            // A call held for approval: its caller withdraws it.
            Err(e) => {
                return match crate::mcp::held::cancel(state, caller, task_id).await? {
                    true => Ok(()),
                    false => Err(e),
                };
            }
        };
        let row = match round {
            Round::Stored(row) => row,
            Round::Starting(_) => {
                tokio::time::sleep(CANCEL_RETRY).await;
                continue;
            }
        };
        let _cancel = crate::trace::resumed(
            "tasks/cancel",
            &first.tool,
            &first.id,
            first.trace.as_deref(),
        );
        if let Some(call) = state.running.get(&row.id) {
            call.control.cancel(&caller.id);
        }
        let (id, by) = (row.id.clone(), caller.id.clone());
        let now = state
            .db(move |s| s.task_cancel(&id, &by, crate::clock::now_ms()))
            .await
            .map_err(|e| McpError::internal_error(e.message, None))?;
        if now.is_some_and(|r| r.next.is_some() && r.cancel_by.is_none()) {
            continue;
        }
        tracing::info!(target: "cordon::admin", execution_id = row.id, task = task_id, by = caller.id, "cancel asked (tasks/cancel)");
        return Ok(());
    }
    Err(McpError::internal_error(
        "the task's next round did not start in time to be cancelled; send tasks/cancel again",
        None,
    ))
}

/// How often, and how far apart, `tasks/cancel` looks again for a round that is starting.
const CANCEL_TRIES: usize = 20;
const CANCEL_RETRY: Duration = Duration::from_millis(100);

/// `tasks/update`: answers to what the task's round asked. Answers to keys it did not ask, or
/// answered already, are ignored, as is an update of a task waiting for nothing; once every
/// request is answered the tool runs again with the answers (the task's next round). An empty
/// acknowledgement: the task's state is read with `tasks/get`.
pub async fn update(
    state: &Arc<AppState>,
    caller: &Caller,
    task_id: &str,
    responses: &JsonObject,
    asking: cordon_core::Asking,
) -> Result<(), McpError> {
    let (_, round, depth) = rounds(state, caller, task_id).await?;
    let Round::Stored(row) = round else {
        return Ok(());
    };
    if row.waiting.is_none() || row.next.is_some() || row.cancel_by.is_some() {
        return Ok(());
    }
    if depth >= MAX_ROUNDS {
        // A tool that keeps asking: the task ends here, cancelled, saying why.
        let (id, by) = (
            row.id.clone(),
            format!("cordon (the tool asked {depth} times)"),
        );
        state
            .db(move |s| s.task_cancel(&id, &by, crate::clock::now_ms()))
            .await
            .map_err(|e| McpError::internal_error(e.message, None))?;
        return Err(McpError::invalid_request(
            format!(
                "the task's tool asked {depth} times, the most one task may: the task is cancelled"
            ),
            None,
        ));
    }
    // The round's state is sealed for the caller that started the task.
    if row.caller != caller.id {
        return Err(McpError::invalid_params(
            "only the caller that started this task answers its input requests",
            None,
        ));
    }
    let (id, answers) = (row.id.clone(), responses.clone());
    let waiting = state
        .db(move |s| s.task_answer(&id, &answers, crate::clock::now_ms()))
        .await
        .map_err(|e| McpError::internal_error(e.message, None))?;
    let Some(waiting) = waiting.filter(cordon_storage::Waiting::complete) else {
        return Ok(());
    };
    let request_state = row
        .result
        .as_deref()
        .and_then(|r| serde_json::from_str::<Value>(r).ok())
        .and_then(|r| r["request_state"].as_str().map(str::to_owned))
        .ok_or_else(|| McpError::internal_error("the task's round kept no state", None))?;
    // Every request is answered: the next round, admitted as any call is (the tool may have
    // been quarantined, the caller's quota spent since). Refused, the task keeps waiting with
    // its answers, and the client may send `tasks/update` again. Its spans join the trace the
    // task began in, whichever node this is.
    let span = crate::trace::resumed("tasks/update", &row.tool, &row.id, row.trace.as_deref());
    span.instrument(next_round(
        state,
        caller,
        &row,
        &waiting,
        &request_state,
        asking,
    ))
    .await
}

/// The next round of the task whose round `row` was answered (`waiting`, complete): admitted,
/// claimed once among the nodes, and started.
async fn next_round(
    state: &Arc<AppState>,
    caller: &Caller,
    row: &TaskRow,
    waiting: &cordon_storage::Waiting,
    request_state: &str,
    asking: cordon_core::Asking,
) -> Result<(), McpError> {
    let input = Bytes::from(waiting.input.clone().into_bytes());
    let mut admitted = admit(state, caller, &row.tool, Some(&row.version), input, "mcp")
        .await
        .map_err(|e| McpError::invalid_request(format!("{}: {}", e.code, e.message), None))?;
    admitted.client_answers(asking);
    admitted.client_must_answer();
    admitted
        .resume(Some(request_state), &waiting.answers)
        .map_err(|e| McpError::invalid_params(format!("the task's input requests: {e}"), None))?;
    let (id, next) = (row.id.clone(), admitted.id.clone());
    let claimed = state
        .db(move |s| s.task_proceed(&id, &next, crate::clock::now_ms()))
        .await
        .map_err(|e| McpError::internal_error(e.message, None))?;
    if !claimed {
        // Another node took up the same answers first.
        return Ok(());
    }
    admitted
        .start_task(None, Default::default())
        .await
        .map_err(|e| McpError::internal_error(e.message, None))?;
    Ok(())
}

/// A task's newest round: its row, or the execution id of one claimed and about to be stored.
enum Round {
    Stored(TaskRow),
    Starting(TaskRow),
}

/// The task `id` if `caller` may see it (its first round), and its newest round; otherwise
/// the extension's "not found" (the same for an id that does not exist: nothing tells one from
/// the other).
async fn rounds(
    state: &Arc<AppState>,
    caller: &Caller,
    id: &str,
) -> Result<(TaskRow, Round, usize), McpError> {
    let first = read(state, id)
        .await?
        .filter(|r| r.caller == caller.id || caller.permits(Action::ManageExecutions))
        .ok_or_else(|| McpError::invalid_params("Failed to retrieve task: Task not found", None))?;
    let mut current = first.clone();
    let mut depth = 1;
    // `update` starts no round beyond MAX_ROUNDS: the chain ends within it.
    while depth <= MAX_ROUNDS {
        let Some(next) = current.next.clone() else {
            break;
        };
        match read(state, &next).await? {
            Some(row) => current = row,
            None => return Ok((first, Round::Starting(current), depth)),
        }
        depth += 1;
    }
    Ok((first, Round::Stored(current), depth))
}

async fn read(state: &Arc<AppState>, id: &str) -> Result<Option<TaskRow>, McpError> {
    let looking = id.to_owned();
    state
        .db(move |s| s.task(&looking))
        .await
        .map_err(|e| McpError::internal_error(e.message, None))
}

/// A task as the extension shows it:
/// - `working` (its newest progress as the status message);
/// - `input_required` with the requests still unanswered;
/// - `completed` with the `tools/call` result (an error result for a tool's failure or a
///   limit it hit);
/// - `cancelled`;
/// - `failed` with a JSON-RPC error when the call could not give a result: the tool crashed
///   (a trap), the host failed, or its node stopped.
fn detailed(
    state: &AppState,
    first: &TaskRow,
    round: &Round,
    progress: Option<Progress>,
    wrap: bool,
) -> DetailedTask {
    let row = match round {
        Round::Stored(row) | Round::Starting(row) => row,
    };
    let mut task = Task::new(
        first.id.clone(),
        TaskStatus::Working,
        rfc3339(first.started_at_ms),
        rfc3339(row.updated_at_ms),
    )
    .with_ttl_ms(ttl_ms(state))
    .with_poll_interval_ms(crate::calls::tasks::POLL_INTERVAL_MS);
    if let Round::Starting(previous) = round {
        // The next round was claimed and is being stored; a claim older than a lease belongs
        // to a node that died before it started the round.
        let lease = crate::calls::tasks::LEASE.as_millis() as i64;
        if crate::clock::now_ms() - previous.updated_at_ms > lease {
            let message = "interrupted: the node that took up the answers stopped before the next round started";
            task = task.with_status_message(message);
            return DetailedTask::new(task, failed(-32603, message, None));
        }
        return DetailedTask::new(task.with_status_message("resuming"), TaskPayload::Working);
    }
    let answer: Option<Value> = row
        .result
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok());
    let outcome = row
        .outcome
        .as_deref()
        .and_then(|o| Outcome::ALL.into_iter().find(|x| x.as_str() == o));
    let payload = match (outcome, answer) {
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
        (Some(Outcome::InputRequired), Some(_)) if row.cancel_by.is_some() => {
            task = task.with_status_message(format!(
                "cancelled by {} while waiting for input",
                row.cancel_by.as_deref().unwrap_or_default()
            ));
            TaskPayload::Cancelled
        }
        (Some(Outcome::Cancelled), Some(answer)) => {
            if let Some(error) = answer["error"].as_str() {
                task = task.with_status_message(error.to_owned());
            }
            TaskPayload::Cancelled
        }
        // Every request answered, yet no next round: its admission was refused (a quota, a
        // quarantine); `tasks/update` tries again.
        (Some(Outcome::InputRequired), Some(_))
            if row
                .waiting
                .as_ref()
                .is_some_and(cordon_storage::Waiting::complete) =>
        {
            task = task.with_status_message(
                "every request is answered, but the next round did not start: send tasks/update again",
            );
            TaskPayload::Working
        }
        (Some(Outcome::InputRequired), Some(answer)) if row.waiting.is_some() => {
            let pending: JsonObject = row
                .waiting
                .as_ref()
                .map(|w| w.pending())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|key| {
                    Some((key.to_owned(), answer["input_requests"].get(key)?.clone()))
                })
                .collect();
            match serde_json::from_value(Value::Object(pending)) {
                Ok(input_requests) => {
                    task = task.with_status_message("waiting for input");
                    TaskPayload::InputRequired { input_requests }
                }
                Err(e) => failed(-32603, &format!("the tool's requests: {e}"), None),
            }
        }
        (Some(o @ (Outcome::Trap | Outcome::HostError | Outcome::Interrupted)), Some(answer)) => {
            let message = format!(
                "{}: {}",
                o.as_str(),
                answer["error"]
                    .as_str()
                    .unwrap_or("the call ended without a result")
            );
            task = task.with_status_message(message.clone());
            let mut data = JsonObject::new();
            data.insert("cordon/execution_id".into(), answer["execution_id"].clone());
            data.insert("cordon/outcome".into(), json!(o.as_str()));
            if let Some(receipt) = answer.get("receipt") {
                data.insert("cordon/receipt".into(), receipt.clone());
            }
            failed(-32603, &message, Some(data))
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

/// A `failed` task's JSON-RPC error.
fn failed(code: i64, message: &str, data: Option<JsonObject>) -> TaskPayload {
    let mut error = JsonObject::new();
    error.insert("code".into(), json!(code));
    error.insert("message".into(), json!(message));
    if let Some(data) = data {
        error.insert("data".into(), Value::Object(data));
    }
    TaskPayload::Failed { error }
}
