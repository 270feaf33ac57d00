//! `GET /v1/executions/{id}/receipt`: a receipt of any record in the log, for its caller or a
//! role that reads the log, checked like the one the call answered with (`cordon receipt
//! verify`, or the console in the browser). Signed when asked (`AuditLog::receipt_of`).

use crate::audit_log::{AuditError, ReceiptView};
use crate::caller::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cordon_core::Action;
use std::sync::Arc;

/// A receipt of the record of execution `id`.
#[utoipa::path(
    get,
    path = "/v1/executions/{id}/receipt",
    tag = "executions",
    params(("id" = String, Path, description = "an `execution_id`")),
    responses(
        (status = 200, description = "the receipt: the record, its place in the chain, signed by the log key", body = ReceiptView),
        (status = 401, body = ErrorBody),
        (status = 404, description = "no record this caller may see", body = ErrorBody),
        (status = 409, description = "the stored record no longer matches its chain hash", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn receipt(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ReceiptView>, ApiError> {
    let not_found = || ApiError::not_found(format!("no execution {id} that this caller may see"));
    let looking = id.clone();
    let record = state
        .db(move |s| s.execution(&looking))
        .await?
        .filter(|r| caller.permits(Action::ReadExecutions) || r.execution.caller == caller.id)
        .ok_or_else(not_found)?;
    let audit = state.audit.clone();
    let made = tokio::task::spawn_blocking(move || audit.receipt_of(record))
        .await
        .map_err(ApiError::internal)?;
    match made {
        Ok(view) => Ok(Json(view)),
        Err(AuditError::Receipt(cordon_trust::ReceiptError::RecordChanged)) => {
            tracing::error!(target: "cordon::security", execution = id, "a stored record does not match its chain hash");
            Err(ApiError::new(
                StatusCode::CONFLICT,
                "record_changed",
                "the stored record no longer matches its chain hash: it was changed in the database; run cordon audit verify",
            ))
        }
        Err(e) => Err(ApiError::internal(e)),
    }
}
