//! `/v1/executions` and `/v1/audit/verify`: reading and verifying the execution log; following,
//! streaming and cancelling a call (`docs/long-running.md`).

use crate::callers::caller::Caller;
use crate::calls::tasks::{ExecutionAnswer, ExecutionView};
use crate::clock::now_ms;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use cordon_core::{Action, Outcome};
use cordon_storage::{ChainReport, ExecutionRecord, Filter, TaskRow};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this tool.
    pub tool: Option<String>,
    /// Only this outcome (`ok`, `timeout`, ...).
    #[param(value_type = Option<Outcome>)]
    pub outcome: Option<String>,
    /// Only this API key id.
    pub caller: Option<String>,
    /// Milliseconds since the Unix epoch, inclusive.
    pub since: Option<i64>,
    /// Milliseconds since the Unix epoch, exclusive.
    pub until: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<i64>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

impl ListQuery {
    /// The storage filter, after checking each value's range.
    pub fn filter(self) -> Result<Filter, ApiError> {
        let limit = self.limit.unwrap_or(100);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("limit must be between 1 and {MAX_PAGE}, not {limit}"),
            ));
        }
        if let Some(o) = &self.outcome
            && !Outcome::ALL.iter().any(|x| x.as_str() == o)
        {
            let known: Vec<&str> = Outcome::ALL.iter().map(|x| x.as_str()).collect();
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("unknown outcome {o:?}; use one of {}", known.join(", ")),
            ));
        }
        Ok(Filter {
            tool: self.tool,
            outcome: self.outcome,
            caller: self.caller,
            since_ms: self.since,
            until_ms: self.until,
            before_seq: self.cursor,
            limit,
        })
    }
}

/// Largest page of executions.
pub const MAX_PAGE: u32 = 1000;

/// One page of execution records, newest first.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ExecutionPage {
    pub executions: Vec<ExecutionRecord>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<i64>,
}

/// Lists execution records, newest first, filtered and paginated.
#[utoipa::path(
    get,
    path = "/v1/executions",
    tag = "executions",
    params(ListQuery),
    responses(
        (status = 200, body = ExecutionPage),
        (status = 400, description = "unknown or malformed filter", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<ExecutionPage>, ApiError> {
    caller.require(Action::ReadExecutions)?;
    let q: ListQuery = crate::extract::query(raw.as_deref())?;
    let filter = q.filter()?;
    let reading = state.clone();
    let (records, next) = tokio::task::spawn_blocking(move || reading.storage.executions(&filter))
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(ExecutionPage {
        executions: records,
        next_cursor: next,
    }))
}

/// A call by its id: to the caller who started it asynchronously (or an admin), where it is
/// (`running` with its newest progress, then `finished` with the whole answer, kept for
/// `async_result_ttl`); to a role that reads the execution log, its record. Anything else, an
/// unknown id included, is 404: an id is never confirmed to someone who may not see it.
#[utoipa::path(
    get,
    path = "/v1/executions/{id}",
    tag = "executions",
    params(
        ("id" = String, Path, description = "the `execution_id` an invoke returned"),
        ShowQuery,
    ),
    responses(
        (status = 200, description = "the call as its caller follows it, or the record", body = ExecutionAnswer),
        (status = 400, description = "unknown or malformed query", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn show(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ExecutionAnswer>, ApiError> {
    let q: ShowQuery = crate::extract::query(raw.as_deref())?;
    if !q.record.unwrap_or(false)
        && let Some(row) = own_task(&state, &caller, &id).await?
    {
        // The poll, in the trace the call began in (whichever node it runs on).
        let _poll = crate::trace::resumed("poll", &row.tool, &row.id, row.trace.as_deref());
        let here = state.running.get(&id);
        return Ok(Json(ExecutionAnswer::Task(Box::new(ExecutionView::of(
            &row,
            here.as_deref(),
        )))));
    }
    // A call held for approval, to its caller and its approvers (its record once denied is
    // there with `?record=true`).
    if !q.record.unwrap_or(false)
        && let Some(row) = held(&state, &caller, &id).await?
    {
        let trace = crate::decisions::held::HeldCaller::trace_of(&row.held_caller);
        let _poll = crate::trace::resumed("poll", &row.tool, &row.id, trace.as_deref());
        return Ok(Json(ExecutionAnswer::Task(Box::new(ExecutionView::held(
            &row,
        )))));
    }
    if !caller.permits(Action::ReadExecutions) {
        return Err(not_found(&id));
    }
    let looking = id.clone();
    let record = state
        .db(move |s| s.execution(&looking))
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(ExecutionAnswer::Record(Box::new(record))))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ShowQuery {
    /// `true`: the execution record (for a role that reads the log) even while the call's
    /// answer is kept for its caller.
    pub record: Option<bool>,
}

/// The task `id` if `caller` may follow it: the caller who started it, or an admin.
async fn own_task(
    state: &Arc<AppState>,
    caller: &Caller,
    id: &str,
) -> Result<Option<TaskRow>, ApiError> {
    let looking = id.to_owned();
    let row = state.db(move |s| s.task(&looking)).await?;
    Ok(row.filter(|r| r.caller == caller.id || caller.permits(Action::ManageExecutions)))
}

/// The held call `id`, if `caller` may see it (`decisions/approvals.rs`).
async fn held(
    state: &Arc<AppState>,
    caller: &Caller,
    id: &str,
) -> Result<Option<cordon_storage::ApprovalRow>, ApiError> {
    let looking = id.to_owned();
    let row = state.db(move |s| s.approval(&looking)).await?;
    Ok(row.filter(|r| crate::decisions::approvals::may_see(caller, r)))
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no execution {id} that this caller may see"))
}

/// Stops a running call: the caller who started it (synchronously or not), or an admin. The
/// call stops within moments (a guest computing at its next epoch tick, one waiting in a host
/// call at once; on another node of a shared store within a second) and is recorded
/// `cancelled`, with who asked and what it used. A call that already ended is 409 with its
/// outcome.
#[utoipa::path(
    delete,
    path = "/v1/executions/{id}",
    tag = "executions",
    params(("id" = String, Path, description = "the `execution_id` of a running call")),
    responses(
        (status = 202, description = "asked to stop; follow it with `GET /v1/executions/{id}`", body = ExecutionView),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the call already ended (`already_finished`, its outcome named)", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn cancel(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<ExecutionView>), ApiError> {
    let may = |owner: &str| owner == caller.id || caller.permits(Action::ManageExecutions);
    let by = caller.id.clone();
    // A call running here: stopped at once.
    if let Some(call) = state.running.get(&id).filter(|c| may(&c.caller)) {
        call.control.cancel(&by);
        tracing::info!(target: "cordon::admin", execution_id = id, by, "cancel asked");
        if !call.task {
            let mut view = ExecutionView::started(&call);
            view.cancel_requested_by = call.control.cancelled_by().map(str::to_owned);
            return Ok((StatusCode::ACCEPTED, Json(view)));
        }
    }
    // A task (here or on another node): marked in the store, which the node running it reads.
    if own_task(&state, &caller, &id).await?.is_some() {
        let (looking, who) = (id.clone(), by.clone());
        let row = state
            .db(move |s| s.task_cancel(&looking, &who, now_ms()))
            .await?
            .ok_or_else(|| not_found(&id))?;
        let _cancel = crate::trace::resumed("cancel", &row.tool, &row.id, row.trace.as_deref());
        if let Some(outcome) = row.outcome.as_deref() {
            return Err(finished(&id, outcome));
        }
        tracing::info!(target: "cordon::admin", execution_id = id, by, "cancel asked");
        let here = state.running.get(&id);
        return Ok((
            StatusCode::ACCEPTED,
            Json(ExecutionView::of(&row, here.as_deref())),
        ));
    }
    // A call held for approval, by its caller (or an admin): withdrawn, recorded `denied`.
    if let Some(row) = held(&state, &caller, &id).await?
        && row.state == cordon_storage::ApprovalState::Pending
        && (row.caller == caller.id || caller.permits(Action::ManageExecutions))
    {
        let row = state.withdraw_held(&caller, &id).await?;
        tracing::info!(target: "cordon::admin", execution_id = id, by, "held call withdrawn");
        return Ok((StatusCode::ACCEPTED, Json(ExecutionView::held(&row))));
    }
    // A call that ended (a record): 409 for whoever may see it, 404 for anyone else.
    let looking = id.clone();
    let record = state.db(move |s| s.execution(&looking)).await?;
    match record {
        Some(r) if may(&r.execution.caller) || caller.permits(Action::ReadExecutions) => {
            Err(finished(&id, r.execution.outcome.as_str()))
        }
        _ => Err(not_found(&id)),
    }
}

fn finished(id: &str, outcome: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "already_finished",
        format!("execution {id} already ended: {outcome}"),
    )
}

/// The call's progress and then its answer as server-sent events, for its caller or an admin:
/// `progress` events (`{"done", "total", "message"}`) while it runs, then one `result` event
/// with the whole answer (as `GET /v1/executions/{id}` shows it finished), and the stream ends.
/// A call that already ended sends its `result` at once. When the key the stream was opened with
/// is revoked or expires (or its token expires), the stream ends within about a second and a
/// quarter with one `unauthenticated` event (`{"error": {"code", "message"}}`).
#[utoipa::path(
    get,
    path = "/v1/executions/{id}/events",
    tag = "executions",
    params(("id" = String, Path, description = "the `execution_id` of a call started with `Prefer: respond-async`")),
    responses(
        (status = 200, description = "`text/event-stream`: `progress` events, then one `result`; or, once the caller's key is revoked or its key or token expires, one `unauthenticated` event, and the stream ends", content_type = "text/event-stream", body = String),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn events(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let Some(row) = own_task(&state, &caller, &id).await? else {
        return Err(not_found(&id));
    };
    // Following the call's events, in the trace it began in (the span ends as the stream
    // starts: a stream may last as long as the call).
    drop(crate::trace::resumed(
        "follow",
        &row.tool,
        &row.id,
        row.trace.as_deref(),
    ));
    let stream = crate::api::events::stream(state, row, caller);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(15)))
        .into_response())
}

/// Walks the whole execution log and reports whether the hash chain is intact, naming every
/// edited, deleted or reordered record; the links no checkpoint covers yet are also held against
/// the seals the log key made when they were committed (a link rewritten with every hash after
/// it recomputed is named there).
#[utoipa::path(
    get,
    path = "/v1/audit/verify",
    tag = "executions",
    responses(
        (status = 200, body = ChainReport),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn verify(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<ChainReport>, ApiError> {
    caller.require(Action::VerifyAudit)?;
    let reading = state.clone();
    let report = tokio::task::spawn_blocking(move || {
        let mut report = reading.storage.verify_log(&[])?;
        if let Some((seq, why)) = reading
            .audit
            .check_tail(&*reading.storage)
            .map_err(ApiError::internal)?
        {
            report.intact = false;
            report.problem_count += 1;
            report.problems.push(format!(
                "link {seq}: {why} (its seal, signed by the log key when it was committed, no longer holds)"
            ));
        }
        Ok::<_, ApiError>(report)
    })
    .await
    .map_err(ApiError::internal)??;
    if !report.intact {
        tracing::error!(target: "cordon::security", problems = report.problem_count, "execution log verification failed");
        // A link changed, or a checkpoint or seal that does not verify: the detection rules'
        // `chain_broken` (an alert by default), whoever asked.
        state.signal(
            crate::detect::rules::On::ChainBroken,
            crate::detect::tally::Signal {
                execution: report.problems.first().cloned(),
                ..Default::default()
            },
        );
    }
    Ok(Json(report))
}
