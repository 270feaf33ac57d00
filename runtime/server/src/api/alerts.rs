//! Alerts (docs/detection.md): `GET /v1/alerts` lists the newest with the state of each
//! delivery; `POST /v1/alerts/test` raises a test alert, so an operator sees the whole way to
//! their receivers work (signed, delivered, retried) before a real one needs it.

use crate::callers::caller::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use cordon_core::Action;
use cordon_storage::{Alert, AlertView};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The most alerts one listing shows.
const MAX_LISTED: u32 = 500;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// How many, newest first (1-500; 100 by default).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// The newest alerts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertList {
    pub alerts: Vec<AlertView>,
}

/// The newest alerts, each with the state of its deliveries (never a webhook's secret).
#[utoipa::path(
    get,
    path = "/v1/alerts",
    tag = "alerts",
    params(AlertQuery),
    responses(
        (status = 200, body = AlertList),
        (status = 400, description = "a limit out of range", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an auditor or an admin", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<AlertQuery>,
) -> Result<Json<AlertList>, ApiError> {
    caller.require(Action::VerifyAudit)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_LISTED).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be between 1 and {MAX_LISTED}, not {limit}"),
        ));
    }
    let alerts = state.db(move |s| s.alerts(limit)).await?;
    Ok(Json(AlertList { alerts }))
}

/// Raises a test alert (rule `test`, severity `info`), delivered to every webhook like any
/// other: the way to check a receiver verifies what cordon sends.
#[utoipa::path(
    post,
    path = "/v1/alerts/test",
    tag = "alerts",
    responses(
        (status = 201, description = "raised: its deliveries follow within a second", body = Alert),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an admin", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn test(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<(StatusCode, Json<Alert>), ApiError> {
    caller.require(Action::SetPolicy)?;
    let alert = state
        .raise_alert(
            "test",
            "info",
            format!("a test alert, raised by {}", caller.name),
            serde_json::json!({"by": {"key_id": caller.id, "name": caller.name}}),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(alert)))
}
