//! Policies as stored resources: `PUT /v1/tools/{name}/policy` replaces a tool's policy for
//! every version and every node, `GET` shows it with its history. One path changes a policy,
//! whoever asks (this endpoint, `cordon policy apply`, a SIGHUP reload of the policies folder):
//! [`AppState::apply_policy`] admits every version under the new text, stores it with its
//! `policy.set` event, and swaps the versions in; other nodes follow the store.

use crate::callers::caller::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use cordon_core::Action;
use cordon_storage::{AdminAction, EventFilter};
use serde::Serialize;
use std::sync::Arc;

/// A tool's policy as it is in force, and how it came to be.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyView {
    pub name: String,
    /// The TOML text every version runs under (empty: the closed default).
    pub policy: String,
    /// sha256 of the text, as in each execution record's `policy_hash`.
    pub policy_hash: String,
    /// True when the text is empty: the closed default policy.
    pub default: bool,
    /// Every change, newest first.
    pub history: Vec<PolicyChange>,
}

/// The answer to a `PUT`: the policy now in force, and what the change did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicySetView {
    /// Versions put under the new policy (0: they all had it already; no event then).
    pub versions_changed: usize,
    #[serde(flatten)]
    pub policy: PolicyView,
}

/// One `policy.set` event of the audit log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyChange {
    /// The event's place in the audit log.
    pub seq: i64,
    pub at_ms: i64,
    /// Who: the key id and name (`signal` for a SIGHUP reload, `local` for the host).
    pub by_key_id: String,
    pub by_name: String,
    /// `api` (this endpoint or `cordon policy apply`) or `reload` (the policies folder).
    pub source: String,
    pub policy_hash: String,
    /// The policies the versions ran under before.
    pub previous_hashes: Vec<String>,
    /// Versions it changed.
    pub versions: u64,
}

/// Replaces a tool's policy, for every version, on every node.
#[utoipa::path(
    put,
    path = "/v1/tools/{name}/policy",
    tag = "policies",
    params(("name" = String, Path)),
    request_body(content = Option<String>, description = "the policy, TOML (docs/policy.md), as text; empty: the closed default", content_type = "text/plain"),
    responses(
        (status = 200, description = "in force on this node, and on every node within a second", body = PolicySetView),
        (status = 400, description = "the body is not UTF-8", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an admin key, or the policy's publishers exclude a version's signer, or the operator's decisions refuse the change (`denied_by_policy`, with the reasons)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "the policy does not parse or exceeds the server's caps (the message names the key path)", body = ErrorBody),
        (status = 503, description = "the database is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn put(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<PolicySetView>, ApiError> {
    caller.require(Action::SetPolicy)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("not_utf8", "a policy is UTF-8 TOML text"))?;
    let versions_changed = {
        let _changing = state.registry_lock.lock().await;
        state
            .apply_policy(&name, text, "api", &caller.actor(), Some(&caller))
            .await?
    };
    Ok(Json(PolicySetView {
        versions_changed,
        policy: view(&state, name).await?,
    }))
}

/// A tool's policy and every change to it.
#[utoipa::path(
    get,
    path = "/v1/tools/{name}/policy",
    tag = "policies",
    params(("name" = String, Path)),
    responses(
        (status = 200, body = PolicyView),
        (status = 401, body = ErrorBody),
        (status = 403, description = "an invoker key", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<PolicyView>, ApiError> {
    caller.require(Action::ReadPolicy)?;
    view(&state, name).await.map(Json)
}

async fn view(state: &Arc<AppState>, name: String) -> Result<PolicyView, ApiError> {
    let newest = state
        .find(&name, None)
        .ok_or_else(|| ApiError::not_found(format!("no tool named {name}")))?;
    let tool = name.clone();
    let mut history = Vec::new();
    let mut before = None;
    loop {
        let (tool, page_before) = (tool.clone(), before);
        let (events, next) = state
            .db(move |s| {
                s.events(&EventFilter {
                    kind: Some("policy.set".into()),
                    tool: Some(tool),
                    before_seq: page_before,
                    limit: 1000,
                    ..EventFilter::default()
                })
            })
            .await?;
        for e in events {
            if let Some(event) = e.event
                && let AdminAction::PolicySet {
                    old_hashes,
                    new_hash,
                    versions,
                    source,
                    ..
                } = event.action
            {
                history.push(PolicyChange {
                    seq: e.seq,
                    at_ms: e.at_ms,
                    by_key_id: e.actor.key_id,
                    by_name: e.actor.name,
                    source,
                    policy_hash: new_hash,
                    previous_hashes: old_hashes,
                    versions,
                });
            }
        }
        match next {
            Some(cursor) => before = Some(cursor),
            None => break,
        }
    }
    Ok(PolicyView {
        name,
        default: newest.record.policy.trim().is_empty(),
        policy: newest.record.policy.clone(),
        policy_hash: newest.record.policy_hash.clone(),
        history,
    })
}

/// One policy text a tool ran under, by its hash.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyText {
    pub policy_hash: String,
    pub policy: String,
}

/// A policy a tool has run under, by hash: the one in force or one its history names (to
/// compare them). Only hashes of this tool's own policies are answered.
#[utoipa::path(
    get,
    path = "/v1/tools/{name}/policy/{hash}",
    tag = "policies",
    params(("name" = String, Path), ("hash" = String, Path, description = "a `policy_hash` of the tool's history")),
    responses(
        (status = 200, body = PolicyText),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "not a policy of this tool, or its text was not kept", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn text(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((name, hash)): Path<(String, String)>,
) -> Result<Json<PolicyText>, ApiError> {
    caller.require(Action::ReadPolicy)?;
    let current = view(&state, name.clone()).await?;
    if hash == current.policy_hash {
        return Ok(Json(PolicyText {
            policy_hash: hash,
            policy: current.policy,
        }));
    }
    let known = current
        .history
        .iter()
        .any(|c| c.policy_hash == hash || c.previous_hashes.contains(&hash));
    if !known {
        return Err(ApiError::not_found(format!(
            "{hash} is not a policy {name} has run under"
        )));
    }
    let reading = hash.clone();
    let bytes = match state.db(move |s| s.blob(&reading)).await {
        Ok(bytes) => bytes,
        // The store not answering is that, not a missing text.
        Err(e) if e.status == axum::http::StatusCode::SERVICE_UNAVAILABLE => return Err(e),
        Err(_) => {
            return Err(ApiError::not_found(format!(
                "the text of policy {hash} was not kept (it was replaced before this server kept policy texts)"
            )));
        }
    };
    let policy = String::from_utf8(bytes)
        .map_err(|_| ApiError::not_found(format!("the text of policy {hash} was not kept")))?;
    Ok(Json(PolicyText {
        policy_hash: hash,
        policy,
    }))
}
