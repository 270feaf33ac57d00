//! `/v1/executions` and `/v1/audit/verify`: reading and verifying the execution log.

use crate::caller::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use cordon_core::{Action, Outcome};
use cordon_storage::{ChainReport, ExecutionRecord, Filter};
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

/// One execution record.
#[utoipa::path(
    get,
    path = "/v1/executions/{id}",
    tag = "executions",
    params(("id" = String, Path, description = "the `execution_id` an invoke returned")),
    responses(
        (status = 200, body = ExecutionRecord),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn show(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ExecutionRecord>, ApiError> {
    caller.require(Action::ReadExecutions)?;
    let looking = id.clone();
    let record = state
        .db(move |s| s.execution(&looking))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no execution {id}")))?;
    Ok(Json(record))
}

/// Walks the whole execution log and reports whether the hash chain is intact, naming every
/// edited, deleted or reordered record.
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
    let report = tokio::task::spawn_blocking(move || reading.storage.verify_log(&[]))
        .await
        .map_err(ApiError::internal)??;
    if !report.intact {
        tracing::error!(target: "cordon::security", problems = report.problem_count, "execution log verification failed");
    }
    Ok(Json(report))
}
