//! `/v1/keys`: API keys over the API, for admins. A new key's secret is in the answer to its
//! creation and nowhere else (only its hash is stored, the audit event names the key, never
//! the secret). A change is in force on this node at once and on every other node within a
//! second (the store announces it).

use crate::callers::caller::Caller;
use crate::clock::now_ms;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cordon_core::{Action, Role};
use cordon_storage::{ApiKey, KeySpec};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A key to make.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyBody {
    /// Unique, also after a revocation: 1-64 characters of `A-Z a-z 0-9 _ . @ -`.
    #[schema(pattern = "^[A-Za-z0-9_.@-]{1,64}$", min_length = 1, max_length = 64)]
    pub name: String,
    pub role: Role,
    /// What it is for (at most 256 characters, no control characters).
    #[serde(default)]
    #[schema(max_length = 256, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    pub description: String,
    /// How long it authenticates, in whole seconds from its creation: 1 to 3155760000 (100
    /// years); absent, it does not expire. The answer and the list give the time it ends as
    /// `expires_at_ms`.
    // A lifetime, not a time: every value the schema allows is one the server accepts (a time
    // in the past would not be), and the client's clock does not matter.
    #[serde(default)]
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 3155760000_u64)]
    pub expires_in_secs: Option<serde_json::Number>,
}

/// The longest lifetime a key may be given: 100 years.
pub const MAX_EXPIRES_IN_SECS: u64 = 3_155_760_000;

/// A lifetime in whole seconds within 1..=[`MAX_EXPIRES_IN_SECS`]: an integer as JSON Schema
/// has it, so `60.0` is 60 (a number with no fraction is an integer there).
fn lifetime_secs(n: &serde_json::Number) -> Option<u64> {
    let secs = n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && (0.0..=MAX_EXPIRES_IN_SECS as f64).contains(f))
            .map(|f| f as u64)
    })?;
    (1..=MAX_EXPIRES_IN_SECS).contains(&secs).then_some(secs)
}

/// A key as listed: never its secret or hash.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub description: String,
    pub created_at_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at_ms: Option<i64>,
    /// To the minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at_ms: Option<i64>,
    /// `active`, `expired` or `revoked`.
    pub state: &'static str,
}

impl KeyView {
    fn of(k: ApiKey, now: i64) -> Self {
        let state = k.state(now);
        KeyView {
            id: k.id,
            name: k.name,
            role: k.role,
            description: k.description,
            created_at_ms: k.created_at_ms,
            expires_at_ms: k.expires_at_ms,
            revoked_at_ms: k.revoked_at_ms,
            last_used_at_ms: k.last_used_at_ms,
            state,
        }
    }
}

/// The answer to a creation: the key, and its secret, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub key: KeyView,
    /// `cordon_<id>_<secret>`: the only copy; store it now.
    pub secret: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyView>,
}

/// Makes an API key.
#[utoipa::path(
    post,
    path = "/v1/keys",
    tag = "keys",
    request_body = NewKeyBody,
    responses(
        (status = 201, description = "made; the secret is in this answer only", body = CreatedKey),
        (status = 400, description = "the body is not a key to make", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an admin key, or the operator's decisions refuse it (`denied_by_policy`, with the reasons)", body = ErrorBody),
        (status = 409, description = "the name is taken", body = ErrorBody),
        (status = 422, description = "a bad name, description or `expires_in_secs` (what the schema says; `invalid_key`)", body = ErrorBody),
        (status = 503, description = "the database is unavailable", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    caller.require(Action::ManageKeys)?;
    let raw = body;
    let body: NewKeyBody = crate::extract::json_body(
        &raw,
        r#"{"name": "ci-deploy", "role": "publisher", "description": "...", "expires_in_secs": 7776000}"#,
    )?;
    let now = now_ms();
    let expires_at_ms = match body.expires_in_secs.as_ref().map(lifetime_secs) {
        None => None,
        // In range, so the time fits (now plus 100 years in ms is far below i64::MAX).
        Some(Some(secs)) => Some(now.saturating_add(secs as i64 * 1000)),
        Some(None) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_key",
                format!(
                    "expires_in_secs is a whole number of seconds from 1 to {MAX_EXPIRES_IN_SECS} (100 years); leave it out for a key that does not expire"
                ),
            ));
        }
    };
    let change = crate::decisions::changes::Change {
        action: "key_change",
        what: format!("making the key {}", body.name),
        tool: None,
        arguments: serde_json::json!({
            "operation": "create",
            "name": body.name,
            "role": body.role.as_str(),
            "description": body.description,
            "expires_in_secs": body.expires_in_secs,
        }),
        input_sha256: crate::clock::sha256_hex(&raw),
    };
    state.decide_change(&caller, change).await?;
    let spec = KeySpec::new(&body.name, body.role)
        .description(&body.description)
        .expires_at(expires_at_ms);
    let by = caller.actor();
    let new = state.db(move |s| s.create_key(&spec, now, &by)).await?;
    tracing::info!(target: "cordon::admin", key = new.key.id, name = new.key.name, role = %new.key.role, by = caller.id, "API key created");
    // In force here before the answer; the other nodes follow the store.
    state.keys.refresh_now(&state.storage).await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            secret: new.secret,
            key: KeyView::of(new.key, now_ms()),
        }),
    ))
}

/// Every key, revoked and expired ones too (never a secret).
#[utoipa::path(
    get,
    path = "/v1/keys",
    tag = "keys",
    responses(
        (status = 200, body = KeyList),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an admin key", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<KeyList>, ApiError> {
    caller.require(Action::ManageKeys)?;
    let now = now_ms();
    let keys = state.db(|s| s.keys()).await?;
    Ok(Json(KeyList {
        keys: keys.into_iter().map(|k| KeyView::of(k, now)).collect(),
    }))
}

/// Revokes a key, by id or name: refused on every node within a second.
#[utoipa::path(
    delete,
    path = "/v1/keys/{id}",
    tag = "keys",
    params(("id" = String, Path, description = "the key's id (or its name)")),
    responses(
        (status = 204, description = "revoked"),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an admin key, or the operator's decisions refuse it (`denied_by_policy`, with the reasons)", body = ErrorBody),
        (status = 404, description = "no active key by that id or name", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Action::ManageKeys)?;
    if state.decisions.get().hash().is_some() {
        // The key as decisions see it: by its name and role, whichever of the two was given.
        let which = id.clone();
        let key = state
            .db(move |s| s.keys())
            .await?
            .into_iter()
            .find(|k| k.revoked_at_ms.is_none() && (k.id == which || k.name == which));
        let change = crate::decisions::changes::Change {
            action: "key_change",
            what: format!("revoking the key {id}"),
            tool: None,
            arguments: serde_json::json!({
                "operation": "revoke",
                "key": id,
                "name": key.as_ref().map(|k| k.name.clone()),
                "role": key.as_ref().map(|k| k.role.as_str()),
            }),
            input_sha256: crate::clock::sha256_hex(id.as_bytes()),
        };
        state.decide_change(&caller, change).await?;
    }
    let (which, by) = (id.clone(), caller.actor());
    if !state
        .db(move |s| s.revoke_key(&which, now_ms(), &by))
        .await?
    {
        return Err(ApiError::not_found(format!("no active key {id}")));
    }
    tracing::warn!(target: "cordon::security", key = id, by = caller.id, "API key revoked");
    state.keys.refresh_now(&state.storage).await;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::{MAX_EXPIRES_IN_SECS, lifetime_secs};

    #[test]
    fn a_lifetime_is_a_whole_number_of_seconds_in_range() {
        let of = |text: &str| lifetime_secs(&serde_json::from_str(text).unwrap());
        assert_eq!(of("60"), Some(60));
        assert_eq!(of("60.0"), Some(60));
        assert_eq!(of("1"), Some(1));
        assert_eq!(of("3155760000"), Some(MAX_EXPIRES_IN_SECS));
        for refused in ["0", "-1", "60.5", "3155760001", "1e300", "-0.0", "0.5"] {
            assert_eq!(of(refused), None, "{refused}");
        }
    }
}
