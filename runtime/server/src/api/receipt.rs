//! `GET /v1/executions/{id}/receipt`: a receipt of any record in the log, for its caller or a
//! role that reads the log, checked like the one the call answered with (`cordon receipt
//! verify`, or the console in the browser). It is the seal of the record's group, the one its
//! caller's receipt carried, once the group as stored still holds against it; a record written
//! before seals were kept gets one signed when asked, once a signed checkpoint covers it and
//! every link up to it holds (`AuditLog::receipt_of`).

use crate::callers::caller::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::record::audit_log::{AuditError, ReceiptView};
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
        (status = 409, description = "`record_changed`: the record, or a link of its group, is not what the log key sealed when it was committed; `not_checkpointed` (records written before seals were kept): no signed checkpoint covers the record yet (Retry-After)", body = ErrorBody),
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
    let (audit, storage) = (state.audit.clone(), state.storage.clone());
    let made = tokio::task::spawn_blocking(move || audit.receipt_of(&*storage, record))
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
        Err(AuditError::ChainBroken { why, .. }) => {
            tracing::error!(target: "cordon::security", execution = id, why, "the log does not hold between a record and its checkpoint");
            Err(ApiError::new(
                StatusCode::CONFLICT,
                "record_changed",
                format!(
                    "the log does not hold from this record to the signed checkpoint covering it ({why}); run cordon audit verify"
                ),
            ))
        }
        Err(AuditError::Tampered { seq, why }) => {
            tracing::error!(target: "cordon::security", execution = id, seq, why, "a stored record's group no longer holds against its seal");
            Err(ApiError::new(
                StatusCode::CONFLICT,
                "record_changed",
                format!(
                    "the log does not hold at this record: {why}; it was changed in the database after it was committed: run cordon audit verify"
                ),
            ))
        }
        Err(AuditError::NotCheckpointed(_)) => {
            let wait = state.settings.audit.checkpoint_interval.as_secs().max(1);
            Err(ApiError::new(
                StatusCode::CONFLICT,
                "not_checkpointed",
                format!("no signed checkpoint covers this record yet; the next one, within {wait} s, will: ask again then"),
            )
            .retry_after(wait))
        }
        Err(AuditError::Store(e)) => Err(e.into()),
        Err(e) => Err(ApiError::internal(e)),
    }
}
