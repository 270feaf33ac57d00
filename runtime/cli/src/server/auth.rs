//! Who is calling: the `Authorization: Bearer <api key>` header, checked against the key store.
//! 401 for a missing or unknown key, 403 for a known key without the permission; both are
//! logged as security events (never with the key itself).

use crate::server::error::ApiError;
use crate::server::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use cordon_core::{Action, Role};
use cordon_storage::ApiKey;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key: ApiKey,
}

impl Caller {
    /// Who this caller is in the audit log.
    pub fn actor(&self) -> cordon_storage::Actor {
        cordon_storage::Actor::key(&self.key.id, &self.key.name)
    }

    /// Refuses with 403 unless the caller's role permits `action`.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if self.key.role.permits(action) {
            Ok(())
        } else {
            tracing::warn!(target: "cordon::security", key = self.key.id, role = %self.key.role, ?action, "forbidden");
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("role {} may not do this", self.key.role),
            ))
        }
    }

    pub fn role(&self) -> Role {
        self.key.role
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        let ip = crate::server::client_ip::client_ip(
            peer,
            parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok()),
            &state.settings.trusted_proxies,
        );
        state.rate_limits.before_auth(ip)?;
        let unauthenticated = |why: &str| {
            tracing::warn!(target: "cordon::security", reason = why, %ip, path = %parts.uri.path(), "unauthenticated request");
            state.rate_limits.auth_failed(
                ip,
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", why),
            )
        };
        let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            return Err(unauthenticated(
                "missing API key (Authorization: Bearer <key>)",
            ));
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| unauthenticated("the Authorization header must be `Bearer <key>`"))?;
        // The key id a well-formed key names (`cordon_<id>_<secret>`).
        let key_id = token
            .strip_prefix("cordon_")
            .and_then(|rest| rest.split_once('_'))
            .map(|(id, _)| id)
            .filter(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()));
        // The secret is checked first: whoever holds a key's secret is never refused because
        // someone else spent that key id's failure budget (key ids are not secret).
        match state.keys.authenticate(token) {
            Some(key) => {
                state.rate_limits.after_auth(&key.id)?;
                Ok(Caller { key })
            }
            None => {
                let why = "unknown or revoked API key";
                let known = key_id.is_some_and(|id| state.keys.knows(id));
                match key_id.filter(|_| known) {
                    // A key that exists: its own failure budget, not the address's; once it is
                    // spent, wrong secrets for it are refused outright until it refills.
                    Some(id) => {
                        state.rate_limits.before_key(id)?;
                        tracing::warn!(target: "cordon::security", reason = why, key = id, %ip, path = %parts.uri.path(), "unauthenticated request");
                        Err(state.rate_limits.key_failed(
                            id,
                            ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", why),
                        ))
                    }
                    None => Err(unauthenticated(why)),
                }
            }
        }
    }
}
