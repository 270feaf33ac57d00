//! `/v1/executions` and `/v1/audit/verify`: reading and verifying the execution log.

use crate::server::auth::Caller;
use crate::server::error::ApiError;
use crate::server::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use cordon_core::Action;
use cordon_storage::{ChainReport, Filter};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub tool: Option<String>,
    pub outcome: Option<String>,
    pub caller: Option<String>,
    /// Milliseconds since the Unix epoch, inclusive.
    pub since: Option<i64>,
    /// Milliseconds since the Unix epoch, exclusive.
    pub until: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<i64>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<u32>,
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Action::ReadExecutions)?;
    let filter = Filter {
        tool: q.tool,
        outcome: q.outcome,
        caller: q.caller,
        since_ms: q.since,
        until_ms: q.until,
        before_seq: q.cursor,
        limit: q.limit.unwrap_or(100),
    };
    let reading = state.clone();
    let (records, next) = tokio::task::spawn_blocking(move || reading.log.list(&filter))
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(
        serde_json::json!({ "executions": records, "next_cursor": next }),
    ))
}

pub async fn show(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Action::ReadExecutions)?;
    let record = state
        .log
        .get(&id)?
        .ok_or_else(|| ApiError::not_found(format!("no execution {id}")))?;
    Ok(Json(
        serde_json::to_value(record).map_err(ApiError::internal)?,
    ))
}

pub async fn verify(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<ChainReport>, ApiError> {
    caller.require(Action::VerifyAudit)?;
    let reading = state.clone();
    let report = tokio::task::spawn_blocking(move || reading.log.verify())
        .await
        .map_err(ApiError::internal)??;
    if !report.intact {
        tracing::error!(target: "cordon::security", problems = report.problem_count, "execution log verification failed");
    }
    Ok(Json(report))
}
