//! `/v1/audit/...`: the log's public key, its newest signed checkpoint, and the events of the
//! log (executions and administrative changes), listed, filtered and followed.

use crate::callers::caller::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::record::audit_log::SignedView;
use crate::state::AppState;
use axum::Json;
use axum::extract::{RawQuery, State};
use cordon_core::Action;
use cordon_storage::{EVENT_KINDS, Event, EventFilter};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// The log's public key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LogKeyView {
    /// The ed25519 public key as a key id (`ed25519:` + base64url): what `--key` takes.
    pub key: String,
    /// This log's identity, in every checkpoint.
    pub log_id: String,
}

/// The public key checkpoints and receipts are signed with.
#[utoipa::path(
    get,
    path = "/v1/audit/key",
    tag = "audit",
    responses(
        (status = 200, body = LogKeyView),
        (status = 401, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn key(State(state): State<Arc<AppState>>, _caller: Caller) -> Json<LogKeyView> {
    Json(LogKeyView {
        key: state.audit.key_id.to_string(),
        log_id: state.audit.log_id.clone(),
    })
}

/// The newest signed checkpoint (404 before the first event).
#[utoipa::path(
    get,
    path = "/v1/audit/checkpoint",
    tag = "audit",
    responses(
        (status = 200, body = SignedView),
        (status = 401, body = ErrorBody),
        (status = 404, description = "no checkpoint yet", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn checkpoint(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<Json<SignedView>, ApiError> {
    let s = state
        .audit
        .latest()
        .ok_or_else(|| ApiError::not_found("no checkpoint yet: nothing has been recorded"))?;
    Ok(Json(s.into()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Only this kind.
    #[param(value_type = Option<EventKind>)]
    pub kind: Option<String>,
    /// Only this actor's key id (for executions: the caller).
    pub actor: Option<String>,
    pub tool: Option<String>,
    /// Milliseconds since the Unix epoch, inclusive.
    pub since: Option<i64>,
    /// Milliseconds since the Unix epoch, exclusive.
    pub until: Option<i64>,
    /// Only events older than this sequence number (the previous newest-first page's
    /// `next_cursor`).
    pub cursor: Option<i64>,
    /// Oldest first, newer than this sequence number: follow the log from here (with `cursor`
    /// too: the range between them).
    pub after: Option<i64>,
    /// With `after`: wait up to this many seconds (at most 60) for an event before answering
    /// with an empty page (ignored without `after`).
    #[param(minimum = 0, maximum = 60)]
    pub wait: Option<u64>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// The kinds an event can have.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub enum EventKind {
    #[serde(rename = "execution")]
    Execution,
    #[serde(rename = "tool.publish")]
    ToolPublish,
    #[serde(rename = "tool.delete")]
    ToolDelete,
    #[serde(rename = "tool.quarantine")]
    ToolQuarantine,
    #[serde(rename = "tool.release")]
    ToolRelease,
    #[serde(rename = "policy.set")]
    PolicySet,
    #[serde(rename = "policy.reload")]
    PolicyReload,
    #[serde(rename = "key.create")]
    KeyCreate,
    #[serde(rename = "key.revoke")]
    KeyRevoke,
    #[serde(rename = "server.start")]
    ServerStart,
    #[serde(rename = "server.stop")]
    ServerStop,
    #[serde(rename = "audit.tampered")]
    AuditTampered,
    #[serde(rename = "decisions.apply")]
    DecisionsApply,
    #[serde(rename = "decisions.remove")]
    DecisionsRemove,
    #[serde(rename = "decision.deny")]
    DecisionDeny,
    #[serde(rename = "approval.request")]
    ApprovalRequest,
    #[serde(rename = "approval.grant")]
    ApprovalGrant,
    #[serde(rename = "approval.deny")]
    ApprovalDeny,
    #[serde(rename = "alert.raise")]
    AlertRaise,
    #[serde(rename = "caller.suspend")]
    CallerSuspend,
    #[serde(rename = "caller.resume")]
    CallerResume,
}

/// One page of events.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventPage {
    pub events: Vec<Event>,
    /// Newest-first pages: pass as `cursor`; following (`after`): pass as `after`. Absent on
    /// the last newest-first page.
    pub next_cursor: Option<i64>,
}

/// The longest a follower may wait for the next event.
const MAX_WAIT_SECS: u64 = 60;

/// Lists the audit log (executions and administrative events), newest first with a cursor, or
/// follows it oldest first after a sequence number, waiting for new events.
#[utoipa::path(
    get,
    path = "/v1/audit/events",
    tag = "audit",
    params(EventsQuery),
    responses(
        (status = 200, body = EventPage),
        (status = 400, description = "unknown or malformed filter", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn events(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<EventPage>, ApiError> {
    caller.require(Action::ReadExecutions)?;
    let q: EventsQuery = crate::extract::query(raw.as_deref())?;
    let bad = |m: String| ApiError::bad_request("invalid_query", m);
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(bad(format!(
            "limit must be between 1 and 1000, not {limit}"
        )));
    }
    if let Some(k) = &q.kind
        && !EVENT_KINDS.contains(&k.as_str())
    {
        return Err(bad(format!(
            "unknown kind {k:?}; use one of {}",
            EVENT_KINDS.join(", ")
        )));
    }
    let wait = q.wait.unwrap_or(0);
    if wait > MAX_WAIT_SECS {
        return Err(bad(format!("wait is at most {MAX_WAIT_SECS} seconds")));
    }
    let filter = EventFilter {
        kind: q.kind,
        actor: q.actor,
        tool: q.tool,
        since_ms: q.since,
        until_ms: q.until,
        before_seq: q.cursor,
        after_seq: q.after,
        limit,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    loop {
        let reading = state.clone();
        let f = filter.clone();
        let (events, next) = tokio::task::spawn_blocking(move || reading.storage.events(&f))
            .await
            .map_err(ApiError::internal)??;
        let following = filter.after_seq.is_some();
        if !events.is_empty() || !following || tokio::time::Instant::now() >= deadline {
            // Following: the next `after` is the last event seen (or the same as asked).
            let next_cursor = if following {
                Some(
                    events
                        .last()
                        .map_or(filter.after_seq.unwrap_or(0), |e| e.seq),
                )
            } else {
                next
            };
            return Ok(Json(EventPage {
                events,
                next_cursor,
            }));
        }
        // Polling the head is two index lookups; 200 ms keeps a follower close behind.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_kinds_are_exactly_the_stored_ones() {
        use EventKind::*;
        let all = [
            Execution,
            ToolPublish,
            ToolDelete,
            ToolQuarantine,
            ToolRelease,
            PolicySet,
            PolicyReload,
            KeyCreate,
            KeyRevoke,
            ServerStart,
            ServerStop,
            AuditTampered,
            DecisionsApply,
            DecisionsRemove,
            DecisionDeny,
            ApprovalRequest,
            ApprovalGrant,
            ApprovalDeny,
            AlertRaise,
            CallerSuspend,
            CallerResume,
        ];
        let names: Vec<String> = all
            .iter()
            .map(|k| {
                serde_json::to_value(k)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(names, EVENT_KINDS);
    }
}
