//! Calls started asynchronously (`Prefer: respond-async`, `api/invoke.rs`; MCP tasks): each one is a task in the
//! store (`cordon_storage::tasks`) from before its `202` until its answer expires, so any node
//! sharing the store can show it, stream it and cancel it.
//!
//! The node running a task renews its lease and writes its newest progress at most once a
//! second ([`TOUCH_EVERY`]), learning at the same time whether someone asked it to stop (a node
//! of a shared store also hears that at once through the store's announcements, `sync.rs`). A
//! task whose lease ran out belongs to a node that died: [`sweep`] ends it as `interrupted`, on
//! every node every [`SWEEP_EVERY`], and at a node's start for the tasks it left running itself.

use crate::calls::running::{CallEvent, RunningCall};
use crate::clock::now_ms;
use crate::state::AppState;
use cordon_core::{Outcome, Progress};
use cordon_storage::{ExecutionRecord, NewExecution, TaskRow};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// How long a task's lease runs: a node that died is found out within this (plus a sweep).
pub const LEASE: Duration = Duration::from_secs(30);
/// How often a running task's lease and progress are written (when its progress changed, or a
/// third of the lease passed).
pub const TOUCH_EVERY: Duration = Duration::from_secs(1);
/// How often every node looks for abandoned tasks and expired answers.
pub const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// What a client is told to wait between two polls.
pub const POLL_INTERVAL_MS: u64 = 1000;

/// Where a call is, as its caller (or an admin) reads it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExecutionView {
    pub execution_id: String,
    /// `running`, then `finished`; `awaiting_approval` first for a call the operator's
    /// decisions hold until a person approves it.
    pub status: TaskStatus,
    pub tool: String,
    pub version: String,
    /// Milliseconds since the Unix epoch.
    pub started_at_ms: i64,
    /// The newest progress the tool reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    /// Who asked for the call to stop, once someone did (it stops within moments).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_requested_by: Option<String>,
    /// The outcome, once finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Once finished, the answer a synchronous invoke would have given (output, usage, and the
    /// receipt; no receipt for a call found `interrupted` after its node died).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// Milliseconds since the Unix epoch when a finished call's answer is forgotten.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
    /// How long to wait before asking again while it runs.
    pub poll_interval_ms: u64,
    /// For an MCP task's round that asked for input, once every request was answered: the
    /// execution id of the task's next round.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continued_by: Option<String>,
    /// For a call held for approval: who must approve it, until when, and (once decided) who
    /// did and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<crate::decisions::view::ApprovalView>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    AwaitingApproval,
    Running,
    Finished,
}

/// `GET /v1/executions/{id}`: a task its caller (or an admin) follows, or the record an
/// auditor reads.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ExecutionAnswer {
    Task(Box<ExecutionView>),
    Record(Box<ExecutionRecord>),
}

impl ExecutionView {
    /// The view of a call that has just started here.
    pub fn started(call: &RunningCall) -> ExecutionView {
        ExecutionView {
            execution_id: call.id.clone(),
            status: TaskStatus::Running,
            tool: call.tool.clone(),
            version: call.version.clone(),
            started_at_ms: call.started_at_ms,
            progress: call.progress(),
            cancel_requested_by: None,
            outcome: None,
            result: None,
            expires_at_ms: None,
            poll_interval_ms: POLL_INTERVAL_MS,
            continued_by: None,
            approval: None,
        }
    }

    /// The view of a call held for approval: awaiting it, approved and about to run (its run
    /// is shown once stored), or denied (its record says so).
    pub fn held(row: &cordon_storage::ApprovalRow) -> ExecutionView {
        use cordon_storage::ApprovalState as S;
        let (status, outcome) = match row.state {
            S::Pending => (TaskStatus::AwaitingApproval, None),
            S::Approved => (TaskStatus::Running, None),
            S::Denied | S::Expired => (TaskStatus::Finished, Some(Outcome::Denied)),
        };
        let result = outcome.map(|_| {
            serde_json::json!({
                "execution_id": row.id,
                "outcome": "denied",
                "error": match (&row.decided_by, &row.reason) {
                    _ if row.state == S::Expired => "not approved in time".to_owned(),
                    (Some(by), Some(reason)) if !reason.is_empty() => format!("denied by {}: {reason}", by.name),
                    (Some(by), _) => format!("denied by {}", by.name),
                    _ => "denied".to_owned(),
                },
            })
        });
        ExecutionView {
            execution_id: row.id.clone(),
            status,
            tool: row.tool.clone(),
            version: row.version.clone(),
            started_at_ms: row.created_at_ms,
            progress: None,
            cancel_requested_by: None,
            outcome,
            result,
            expires_at_ms: None,
            poll_interval_ms: POLL_INTERVAL_MS,
            continued_by: None,
            approval: Some(crate::decisions::view::ApprovalView::of(row, None)),
        }
    }

    /// The view of a stored task, with the newest progress of a call running here.
    pub fn of(row: &TaskRow, here: Option<&RunningCall>) -> ExecutionView {
        let finished = !row.is_running();
        ExecutionView {
            execution_id: row.id.clone(),
            status: if finished {
                TaskStatus::Finished
            } else {
                TaskStatus::Running
            },
            tool: row.tool.clone(),
            version: row.version.clone(),
            started_at_ms: row.started_at_ms,
            progress: here.and_then(RunningCall::progress).or_else(|| {
                row.progress
                    .as_deref()
                    .and_then(|p| serde_json::from_str(p).ok())
            }),
            cancel_requested_by: row.cancel_by.clone(),
            outcome: row
                .outcome
                .as_deref()
                .and_then(|o| Outcome::ALL.into_iter().find(|x| x.as_str() == o)),
            result: row
                .result
                .as_deref()
                .and_then(|r| serde_json::from_str(r).ok()),
            expires_at_ms: row.expires_at_ms,
            poll_interval_ms: POLL_INTERVAL_MS,
            continued_by: row.next.clone(),
            approval: None,
        }
    }
}

/// Keeps a running task's lease and progress in the store, and stops the call when someone
/// asked (through any node), until the call leaves the node.
pub async fn follow(
    state: Arc<AppState>,
    call: Arc<RunningCall>,
    mut events: tokio::sync::broadcast::Receiver<CallEvent>,
) {
    let mut written: Option<Progress> = None;
    let mut last_write = std::time::Instant::now();
    loop {
        let tick = tokio::time::sleep(TOUCH_EVERY);
        tokio::pin!(tick);
        // Until the next tick, or the end of the call.
        loop {
            tokio::select! {
                () = &mut tick => break,
                event = events.recv() => match event {
                    Ok(CallEvent::Done(_)) | Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    _ => {}
                },
            }
        }
        // A run that ended without its answer (its record or the store failed) leaves the
        // node: its lease is no longer renewed, and the sweep ends it.
        if state.running.get(&call.id).is_none() {
            return;
        }
        let progress = call.progress();
        let changed = progress != written;
        if !changed && last_write.elapsed() < LEASE / 3 {
            continue;
        }
        let now = now_ms();
        let text = if changed {
            progress
                .as_ref()
                .and_then(|p| serde_json::to_string(p).ok())
        } else {
            None
        };
        let id = call.id.clone();
        let lease_until = now.saturating_add(LEASE.as_millis() as i64);
        match state
            .db(move |s| s.task_touch(&id, text.as_deref(), now, lease_until))
            .await
        {
            Ok(cancel_by) => {
                written = progress;
                last_write = std::time::Instant::now();
                if let Some(by) = cancel_by {
                    call.control.cancel(&by);
                }
            }
            Err(e) => {
                tracing::warn!(execution_id = call.id, error = %e.message, "cannot renew a running task's lease")
            }
        }
    }
}

/// Whether the task `id` is still running in the store (no other node ended it).
pub async fn still_ours(state: &Arc<AppState>, id: &str) -> bool {
    let looking = id.to_owned();
    match state.db(move |s| s.task(&looking)).await {
        Ok(Some(row)) => row.is_running(),
        // Unknown (pruned) or unreadable: the record is appended; a failing store fails that.
        _ => true,
    }
}

/// Reads again, for every task running here, whether someone asked it to stop (on the store's
/// announcement that someone did).
pub async fn check_cancels(state: &Arc<AppState>) {
    for id in state.running.task_ids() {
        let looking = id.clone();
        if let Ok(Some(row)) = state.db(move |s| s.task(&looking)).await
            && let (Some(by), Some(call)) = (row.cancel_by, state.running.get(&id))
        {
            call.control.cancel(&by);
        }
    }
}

/// Stores a task's answer, kept for `async_result_ttl`, with the last progress the call
/// reported (the renewals write it only every few seconds).
pub async fn finish(
    state: &Arc<AppState>,
    call: &RunningCall,
    outcome: Outcome,
    answer: &serde_json::Value,
    waiting: Option<String>,
) {
    let id = call.id.as_str();
    let now = now_ms();
    let expires = now.saturating_add(state.settings.async_result_ttl.as_millis() as i64);
    let kept = state
        .task_writer
        .end(crate::calls::task_writer::Ending {
            id: id.to_owned(),
            outcome: outcome.as_str().to_owned(),
            result: answer.to_string(),
            progress: call.progress().and_then(|p| serde_json::to_string(&p).ok()),
            now_ms: now,
            expires_at_ms: expires,
            waiting,
        })
        .await;
    match kept {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            "a task ended after another node had marked it interrupted; its record stands, its answer is the interruption"
        ),
        Err(e) => tracing::error!(error = %e.message, "cannot store a task's answer"),
    }
}

/// Ends the task a synchronous call that acts outside its sandbox was stored as (its caller
/// has its answer; the record is in the log): finished at once, forgotten at the next sweep.
pub async fn finish_guarded(state: &Arc<AppState>, id: &str, outcome: Outcome) {
    let now = now_ms();
    let answer = serde_json::json!({ "execution_id": id, "outcome": outcome }).to_string();
    let ended = state
        .task_writer
        .end(crate::calls::task_writer::Ending {
            id: id.to_owned(),
            outcome: outcome.as_str().to_owned(),
            result: answer,
            progress: None,
            now_ms: now,
            expires_at_ms: now,
            waiting: None,
        })
        .await;
    if let Err(e) = ended {
        tracing::warn!(error = %e.message, "cannot end a finished call's task; the sweep ends it by its record");
    }
}

/// Ends abandoned tasks as `interrupted` (those whose lease ran out; with `mine`, also those
/// this node left running before it started again) and forgets expired answers. Each claimed
/// task's record (prepared when it started) is appended once, by the node whose claim won.
pub async fn sweep(state: &Arc<AppState>, mine: bool) {
    let now = now_ms();
    let node = mine.then(|| state.settings.node_name.clone());
    // A store no other server shares: at start, everything still running is this server's.
    let everything = mine && !state.storage.shared();
    let found = match state
        .db(move |s| s.tasks_abandoned(if everything { i64::MAX } else { now }, node.as_deref()))
        .await
    {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %e.message, "cannot look for abandoned tasks");
            return;
        }
    };
    for task in found {
        // A call of this node whose lease lapsed (the store was slow to answer) is not
        // abandoned: it is running here and ends with its own record.
        if !mine && state.running.get(&task.id).is_some() {
            continue;
        }
        let Ok(mut record) = serde_json::from_str::<NewExecution>(&task.interrupted) else {
            tracing::error!(
                execution_id = task.id,
                "an abandoned task's record does not read"
            );
            continue;
        };
        record.finished_at_ms = now_ms().max(record.started_at_ms);
        // The record prepared at the start is taken only as an interruption of this task: a
        // row written into the store by hand cannot make the log vouch for a call that ended
        // some other way.
        if record.id != task.id {
            tracing::error!(target: "cordon::security", execution_id = task.id, "an abandoned task's record names another execution; not recorded");
            continue;
        }
        record.outcome = Outcome::Interrupted;
        record.output_sha256 = None;
        record.error =
            Some("interrupted: the node running the call stopped before it ended".into());
        // Its record may be in the log already (the run appended it, then could not store its
        // answer): then the task ends with what the record says, and nothing is appended again.
        // A store that cannot say waits for the next sweep.
        let looking = task.id.clone();
        let Ok(existing) = state.db(move |s| s.execution(&looking)).await else {
            continue;
        };
        if let Some(existing) = existing {
            let e = &existing.execution;
            let answer = serde_json::json!({
                "execution_id": e.id,
                "outcome": e.outcome,
                "output": null,
                "error": e.error,
                "usage": e.usage,
            });
            let expires =
                now_ms().saturating_add(state.settings.async_result_ttl.as_millis() as i64);
            let (id, text, outcome) = (task.id.clone(), answer.to_string(), e.outcome);
            let _ = state
                .db(move |s| s.task_finish(&id, outcome.as_str(), &text, now_ms(), expires))
                .await;
            continue;
        }
        let answer = serde_json::json!({
            "execution_id": record.id,
            "outcome": Outcome::Interrupted,
            "output": null,
            "error": record.error,
            "usage": record.usage,
        });
        let expires = record
            .finished_at_ms
            .saturating_add(state.settings.async_result_ttl.as_millis() as i64);
        let (id, text, at) = (task.id.clone(), answer.to_string(), record.finished_at_ms);
        let claimed = state
            .db(move |s| s.task_finish(&id, Outcome::Interrupted.as_str(), &text, at, expires))
            .await;
        if !matches!(claimed, Ok(true)) {
            continue;
        }
        tracing::warn!(target: "cordon::admin", execution_id = task.id, tool = record.tool, "a call whose node stopped is recorded as interrupted");
        crate::metrics::interrupted(&record.tool);
        if let Err(e) = state.journal.append(record).await {
            tracing::error!(execution_id = task.id, error = %e.message, "cannot record an interrupted call");
        }
    }
    if let Err(e) = state.db(move |s| s.tasks_prune(now)).await {
        tracing::warn!(error = %e.message, "cannot forget expired task answers");
    }
}

/// Sweeps every [`SWEEP_EVERY`] (a node sweeps its own leftovers once, before it serves).
pub fn spawn_sweeper(state: Arc<AppState>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.tick().await;
        loop {
            tick.tick().await;
            sweep(&state, false).await;
        }
    });
}
