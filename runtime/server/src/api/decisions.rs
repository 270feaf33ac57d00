//! The decisions bundle as a stored resource (docs/decisions.md): `PUT /v1/decisions` puts a
//! bundle of Rego modules in force on every node, `DELETE` takes it away, `GET` shows the one
//! in force with every change, `GET /v1/decisions/{hash}` a bundle the history names. Every
//! change goes through [`AppState::apply_decisions`] and leaves one event.

use crate::callers::caller::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cordon_core::Action;
use cordon_decide::{Bundle, Module};
use cordon_storage::{AdminAction, EventFilter};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A bundle as sent and shown: the package that answers and its modules.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BundleBody {
    /// The package whose `allow`, `deny` and `approval` decide, dotted; `cordon` when absent.
    #[serde(default = "default_package")]
    pub package: String,
    /// The `.rego` modules, each by its file name.
    pub modules: Vec<ModuleBody>,
}

fn default_package() -> String {
    Bundle::DEFAULT_PACKAGE.to_owned()
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModuleBody {
    pub path: String,
    pub text: String,
}

/// The bundle in force and how it came to be.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DecisionsView {
    /// sha256 of the bundle in force, as each record it allowed names it (`decision`); absent
    /// when none is in force and the tools' `[access]` rules alone decide.
    pub hash: Option<String>,
    pub bundle: Option<BundleBody>,
    /// When it was put in force (ms since the Unix epoch).
    pub applied_at_ms: Option<i64>,
    /// Every change, newest first.
    pub history: Vec<DecisionsChange>,
}

/// One `decisions.apply` or `decisions.remove` event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DecisionsChange {
    pub seq: i64,
    pub at_ms: i64,
    pub by_key_id: String,
    pub by_name: String,
    /// The bundle put in force; absent for a removal.
    pub hash: Option<String>,
    /// The bundle in force before, if one was.
    pub previous: Option<String>,
}

/// What a `PUT` or `DELETE` did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DecisionsSet {
    /// False when the bundle was already in force (or none was, for a removal): no event then.
    pub changed: bool,
    #[serde(flatten)]
    pub decisions: DecisionsView,
}

/// Puts a bundle in force on every node.
#[utoipa::path(
    put,
    path = "/v1/decisions",
    tag = "decisions",
    request_body = BundleBody,
    responses(
        (status = 200, description = "in force on this node, and on every node within a second", body = DecisionsSet),
        (status = 400, description = "the body is not a bundle", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an admin", body = ErrorBody),
        (status = 422, description = "a module does not parse or compile, reads a field the input document lacks, or the package declares no `allow` (the message names the module and line)", body = ErrorBody),
        (status = 503, description = "the database is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn put(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Json<DecisionsSet>, ApiError> {
    caller.require(Action::SetPolicy)?;
    let body: BundleBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!(
                "a bundle is {{\"package\": \"cordon\", \"modules\": [{{\"path\": \"policy.rego\", \"text\": \"...\"}}]}}: {e}"
            ),
        )
    })?;
    let modules = body
        .modules
        .into_iter()
        .map(|m| Module {
            path: m.path,
            text: m.text,
        })
        .collect();
    let bundle = Bundle::new(modules, &body.package).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_decisions",
            e.to_string(),
        )
    })?;
    let changed = state.apply_decisions(Some(bundle), &caller.actor()).await?;
    Ok(Json(DecisionsSet {
        changed,
        decisions: view(&state).await?,
    }))
}

/// Takes the bundle in force away: the tools' `[access]` rules alone decide again.
#[utoipa::path(
    delete,
    path = "/v1/decisions",
    tag = "decisions",
    responses(
        (status = 200, body = DecisionsSet),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an admin", body = ErrorBody),
        (status = 503, description = "the database is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn remove(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<DecisionsSet>, ApiError> {
    caller.require(Action::SetPolicy)?;
    let changed = state.apply_decisions(None, &caller.actor()).await?;
    Ok(Json(DecisionsSet {
        changed,
        decisions: view(&state).await?,
    }))
}

/// The bundle in force and every change to it.
#[utoipa::path(
    get,
    path = "/v1/decisions",
    tag = "decisions",
    responses(
        (status = 200, body = DecisionsView),
        (status = 401, body = ErrorBody),
        (status = 403, description = "an invoker", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<DecisionsView>, ApiError> {
    caller.require(Action::ReadPolicy)?;
    view(&state).await.map(Json)
}

/// A bundle the history names, by its hash.
#[utoipa::path(
    get,
    path = "/v1/decisions/{hash}",
    tag = "decisions",
    params(("hash" = String, Path, description = "a bundle's hash, from the history or a record's `decision`")),
    responses(
        (status = 200, body = BundleBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn by_hash(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(hash): Path<String>,
) -> Result<Json<BundleBody>, ApiError> {
    caller.require(Action::ReadPolicy)?;
    let wanted = hash.clone();
    let found = state
        .db(move |s| s.decisions_by_hash(&wanted))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no decisions bundle {hash}")))?;
    Ok(Json(body_of(&found.bundle)?))
}

fn body_of(stored: &str) -> Result<BundleBody, ApiError> {
    let bundle: Bundle = serde_json::from_str(stored).map_err(ApiError::internal)?;
    Ok(BundleBody {
        package: bundle.package,
        modules: bundle
            .modules
            .into_iter()
            .map(|m| ModuleBody {
                path: m.path,
                text: m.text,
            })
            .collect(),
    })
}

async fn view(state: &Arc<AppState>) -> Result<DecisionsView, ApiError> {
    let in_force = state.db(|s| s.decisions()).await?;
    let mut history = Vec::new();
    for kind in ["decisions.apply", "decisions.remove"] {
        let mut before = None;
        loop {
            let page_before = before;
            let (events, next) = state
                .db(move |s| {
                    s.events(&EventFilter {
                        kind: Some(kind.into()),
                        before_seq: page_before,
                        limit: 1000,
                        ..EventFilter::default()
                    })
                })
                .await?;
            for e in events {
                let Some(event) = e.event else { continue };
                let (hash, previous) = match event.action {
                    AdminAction::DecisionsApply { hash, previous, .. } => (Some(hash), previous),
                    AdminAction::DecisionsRemove { previous } => (None, Some(previous)),
                    _ => continue,
                };
                history.push(DecisionsChange {
                    seq: e.seq,
                    at_ms: e.at_ms,
                    by_key_id: e.actor.key_id,
                    by_name: e.actor.name,
                    hash,
                    previous,
                });
            }
            match next {
                Some(cursor) => before = Some(cursor),
                None => break,
            }
        }
    }
    history.sort_by_key(|c| std::cmp::Reverse(c.seq));
    Ok(match in_force {
        Some(f) => DecisionsView {
            hash: Some(f.hash),
            bundle: Some(body_of(&f.bundle)?),
            applied_at_ms: Some(f.at_ms),
            history,
        },
        None => DecisionsView {
            hash: None,
            bundle: None,
            applied_at_ms: None,
            history,
        },
    })
}
