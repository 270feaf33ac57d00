//! `GET /v1/quotas/{caller}`: a caller's use of its quotas today, and the limits that apply.

use crate::callers::caller::{Caller, Via};
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use cordon_core::quota::{day_of, secs_until_next_day};
use cordon_core::{Action, QuotaLimits};
use cordon_storage::QuotaUse;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A caller's quotas today.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QuotaView {
    /// The caller's identity: a key id, or `issuer#subject`.
    pub caller: String,
    /// The UTC day counted (YYYY-MM-DD).
    pub day: String,
    /// Seconds until the daily counters start again.
    pub resets_in_secs: u64,
    /// One entry per scope: all tools (`scope` empty, the server-wide limits) and each tool
    /// used today or limiting itself.
    pub scopes: Vec<ScopeView>,
    /// False for a token caller other than the one asking: its roles are known only when it
    /// calls, so the server-wide limits shown are its `callers` entry or the default.
    pub roles_known: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScopeView {
    #[serde(flatten)]
    pub used: QuotaUse,
    /// The limits that apply in this scope (absent ones are unlimited).
    #[schema(value_type = Object)]
    pub limits: QuotaLimits,
}

/// Shows a caller's use of its quotas today, and the limits that apply. `me` is the caller
/// itself; anyone else's takes a role that may read executions (admin, auditor). For a token
/// caller other than `me`, roles are not known here: the limits shown are its `callers` entry
/// or the default.
#[utoipa::path(
    get,
    path = "/v1/quotas/{caller}",
    tag = "quotas",
    params(("caller" = String, Path, description = "`me`, a key id or name, or `issuer#subject` (percent-encoded)")),
    responses(
        (status = 200, description = "use and limits today", body = QuotaView),
        (status = 401, description = "missing or invalid credentials", body = crate::error::ErrorBody),
        (status = 403, description = "another caller's quotas, without a role that reads executions", body = crate::error::ErrorBody),
        (status = 404, description = "no key with that id or name (a token caller is named issuer#subject)", body = crate::error::ErrorBody),
        (status = 429, description = "rate limited", body = crate::error::ErrorBody),
        (status = 503, description = "the database is unavailable (`Retry-After`)", body = crate::error::ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn show(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(who): Path<String>,
) -> Result<Json<QuotaView>, ApiError> {
    let mut roles_known = true;
    let subject = if who == "me"
        || who == caller.id
        || (matches!(caller.via, Via::Key) && who == caller.name)
    {
        caller.clone()
    } else {
        caller.require(Action::ReadExecutions)?;
        match state.keys.find(&who) {
            Some(key) => Caller::from_key(&key),
            None if who.contains('#') => {
                roles_known = false;
                let (issuer, sub) = who.split_once('#').unwrap_or_default();
                Caller {
                    id: who.clone(),
                    name: sub.to_owned(),
                    roles: BTreeSet::new(),
                    via: Via::Token {
                        issuer: issuer.to_owned(),
                        subject: sub.to_owned(),
                        groups: Vec::new(),
                        expires_at_secs: None,
                        claims: Default::default(),
                    },
                    address: None,
                }
            }
            None if who.starts_with("cert:") => {
                roles_known = false;
                Caller {
                    id: who.clone(),
                    name: who.clone(),
                    roles: BTreeSet::new(),
                    via: Via::Certificate {
                        fingerprint: String::new(),
                        subject: String::new(),
                        dns: Vec::new(),
                        uris: Vec::new(),
                        expires_at_secs: None,
                    },
                    address: None,
                }
            }
            None => {
                return Err(ApiError::not_found(format!(
                    "no key {who:?}; name a key by id or name, a token caller as issuer#subject, or a certificate holder by its cert:... id"
                )));
            }
        }
    };
    let now = now_ms();
    let day = day_of(now);
    let id = subject.id.clone();
    let used = state.db(move |s| s.quota_use(&id, day, now)).await?;
    let mut by_scope: BTreeMap<String, QuotaUse> =
        used.into_iter().map(|u| (u.scope.clone(), u)).collect();
    let mut scopes = vec![ScopeView {
        used: by_scope.remove("").unwrap_or_default(),
        limits: state.settings.quotas.limits_for(&subject),
    }];
    // Tools whose policy limits callers, and tools used today.
    let tools: Vec<(String, QuotaLimits)> = state
        .tools_read()
        .iter()
        .filter_map(|(name, versions)| versions.last().map(|t| (name.clone(), t.policy.quotas)))
        .filter(|(name, limits)| !limits.is_empty() || by_scope.contains_key(name))
        .collect();
    for (name, limits) in tools {
        let used = by_scope.remove(&name).unwrap_or(QuotaUse {
            scope: name.clone(),
            ..QuotaUse::default()
        });
        scopes.push(ScopeView { used, limits });
    }
    // Use of tools no longer published.
    scopes.extend(by_scope.into_values().map(|used| ScopeView {
        used,
        limits: QuotaLimits::default(),
    }));
    let date = humantime::format_rfc3339(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(now).unwrap_or(0)),
    )
    .to_string();
    Ok(Json(QuotaView {
        caller: subject.id,
        day: date.get(..10).unwrap_or_default().to_owned(),
        resets_in_secs: secs_until_next_day(now),
        scopes,
        roles_known,
    }))
}
