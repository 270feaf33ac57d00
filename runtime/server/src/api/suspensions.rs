//! Callers' suspensions (docs/detection.md): `GET /v1/suspensions` lists those in force;
//! `POST /v1/suspensions` suspends a caller for a while; `DELETE /v1/suspensions?caller=ID` lifts
//! a suspension sooner. A detection rule suspends through the same path
//! ([`AppState::suspend_caller`]), as itself.

use crate::callers::caller::Caller;
use crate::clock::now_ms;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use cordon_core::Action;
use cordon_storage::{Actor, Suspension};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The longest caller id and reason taken (characters).
const MAX_CALLER: usize = 512;
const MAX_REASON: usize = 1000;
/// The longest suspension an admin makes at once: a week, as a rule's `suspend_for` (longer is
/// what revoking a key is for).
const MAX_SECS: u64 = 7 * 86_400;

/// The suspensions in force.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SuspensionList {
    pub suspensions: Vec<Suspension>,
}

/// A caller to suspend.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuspendRequest {
    /// The caller's id: an API key's id, or `issuer#subject` for a token (as the record names
    /// callers).
    #[schema(min_length = 1, max_length = 512)]
    pub caller: String,
    /// For how long, in seconds (1 to 604800, a week).
    #[schema(value_type = u64, minimum = 1, maximum = 604800, example = 3600)]
    pub for_secs: serde_json::Number,
    /// Why, for the record and for the caller's refusals.
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LiftQuery {
    /// The caller whose suspension is lifted.
    pub caller: String,
}

impl AppState {
    /// The one way a caller is suspended (by an admin, or by a detection rule): stored with its
    /// `caller.suspend` event, in force here at once and on the other nodes within a second.
    pub async fn suspend_caller(
        self: &Arc<Self>,
        suspension: Suspension,
        by: &Actor,
    ) -> Result<(), ApiError> {
        let who = by.clone();
        self.db(move |s| s.suspend_caller(&suspension, &who))
            .await?;
        self.keys.refresh_now(&self.storage).await;
        Ok(())
    }

    /// The one way a suspension is lifted; whether one was in force.
    pub async fn resume_caller(
        self: &Arc<Self>,
        caller: &str,
        by: &Actor,
    ) -> Result<bool, ApiError> {
        let (caller, who) = (caller.to_owned(), by.clone());
        let lifted = self
            .db(move |s| s.resume_caller(&caller, now_ms(), &who))
            .await?;
        self.keys.refresh_now(&self.storage).await;
        Ok(lifted)
    }
}

/// The suspensions in force, by caller.
#[utoipa::path(
    get,
    path = "/v1/suspensions",
    tag = "suspensions",
    responses(
        (status = 200, body = SuspensionList),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an auditor or an admin", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<SuspensionList>, ApiError> {
    caller.require(Action::VerifyAudit)?;
    let now = now_ms();
    let suspensions = state.db(move |s| s.suspensions(now)).await?;
    Ok(Json(SuspensionList { suspensions }))
}

/// Suspends a caller: its requests are refused (403 `caller_suspended`) on every node until the
/// end, or until an admin lifts it. Suspending a suspended caller sets the new end.
#[utoipa::path(
    post,
    path = "/v1/suspensions",
    tag = "suspensions",
    request_body = SuspendRequest,
    responses(
        (status = 201, description = "suspended", body = Suspension),
        (status = 400, description = "the body is not a suspension", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an admin", body = ErrorBody),
        (status = 422, description = "a duration, caller or reason out of range, or the caller itself (`invalid_suspension`)", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn suspend(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<Suspension>), ApiError> {
    caller.require(Action::ManageKeys)?;
    let req: SuspendRequest = crate::extract::json_body(
        &body,
        r#"{"caller": "0123456789ab", "for_secs": 3600, "reason": "..."}"#,
    )?;
    let bad = |message: String| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_suspension",
            message,
        )
    };
    let who = req.caller.as_str();
    if who.is_empty() || who.chars().count() > MAX_CALLER {
        return Err(bad(format!(
            "caller is a caller's id (an API key's id, or issuer#subject), 1 to {MAX_CALLER} characters"
        )));
    }
    if who == caller.id {
        return Err(bad(
            "a caller cannot suspend itself: it could not lift the suspension".into(),
        ));
    }
    let reason = req.reason.as_str();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return Err(bad(format!(
            "reason says why, in 1 to {MAX_REASON} characters"
        )));
    }
    // A whole number, however JSON writes it (`60` or `60.0`).
    let secs = req
        .for_secs
        .as_u64()
        .or_else(|| {
            req.for_secs
                .as_f64()
                .filter(|f| f.fract() == 0.0 && (0.0..=MAX_SECS as f64).contains(f))
                .map(|f| f as u64)
        })
        .filter(|s| (1..=MAX_SECS).contains(s))
        .ok_or_else(|| {
            bad(format!(
                "for_secs is a whole number of seconds from 1 to {MAX_SECS} (a week), not {}",
                req.for_secs
            ))
        })?;
    let duration = std::time::Duration::from_secs(secs);
    let at_ms = now_ms();
    let suspension = Suspension {
        caller: who.to_owned(),
        at_ms,
        until_ms: at_ms.saturating_add(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)),
        reason: reason.to_owned(),
        by: caller.id.clone(),
    };
    state
        .suspend_caller(suspension.clone(), &caller.actor())
        .await?;
    tracing::warn!(target: "cordon::security", caller = suspension.caller, by = caller.id, secs = duration.as_secs(), "caller suspended by an admin");
    Ok((StatusCode::CREATED, Json(suspension)))
}

/// Lifts a caller's suspension before its end.
#[utoipa::path(
    delete,
    path = "/v1/suspensions",
    tag = "suspensions",
    params(LiftQuery),
    responses(
        (status = 204, description = "lifted"),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an admin", body = ErrorBody),
        (status = 404, description = "the caller is not suspended", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn lift(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<LiftQuery>,
) -> Result<StatusCode, ApiError> {
    caller.require(Action::ManageKeys)?;
    if state.resume_caller(&q.caller, &caller.actor()).await? {
        tracing::warn!(target: "cordon::security", caller = q.caller, by = caller.id, "caller's suspension lifted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "caller {} is not suspended (`cordon suspensions list` shows who is)",
            q.caller
        )))
    }
}
