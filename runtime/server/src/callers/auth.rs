//! Who is calling: the `Authorization: Bearer ...` header. A bearer that looks like a cordon API
//! key (`cordon_<id>_<secret>`) is checked against the key table held in memory; anything else
//! is a JWT, checked against the configured identity providers (`oidc.rs`). A request without
//! that header is its connection's client certificate's, when the handshake verified one and
//! `[[auth.mtls]]` maps it (`mtls.rs`): a bearer, when present, is always what is checked, so a
//! proxy or sidecar holding a workload certificate can still pass its user's credential. The scheme is
//! case-insensitive (`bearer` is `Bearer`); a request with more than one credential (two
//! `Authorization` headers, or a list in one) is 400 `ambiguous_credentials`, never served with
//! either. 401 for a missing, unknown, revoked, expired or invalid credential, 403 for a valid one without the permission
//! (or a token whose claims map to no role); each refusal is logged as a security event (never
//! with the credential itself).

use crate::callers::caller::Caller;
use crate::callers::oidc::TokenError;
use crate::callers::ratelimit::{AfterFailure, Held, TARPIT};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Whether a bearer is meant as a cordon API key (and is checked only as one).
fn looks_like_api_key(token: &str) -> bool {
    token.starts_with("cordon_")
}

/// The 403 a suspended caller's requests are answered with (docs/detection.md).
fn suspended(s: &cordon_storage::Suspension) -> ApiError {
    let until = std::time::UNIX_EPOCH
        + std::time::Duration::from_millis(u64::try_from(s.until_ms).unwrap_or(0));
    ApiError::new(
        StatusCode::FORBIDDEN,
        "caller_suspended",
        format!(
            "this caller is suspended until {} by {}: {}. An admin lifts it sooner with `cordon suspensions lift {}`",
            humantime::format_rfc3339_seconds(until),
            s.by,
            s.reason,
            s.caller
        ),
    )
}

/// The 401 every failed authentication is answered with.
fn unauthorized(why: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", why)
}

fn now_secs() -> u64 {
    u64::try_from(crate::clock::now_ms() / 1000).unwrap_or(0)
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
        let ip = crate::callers::client_ip::client_ip(
            peer,
            parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok()),
            &state.settings.trusted_proxies,
        );
        if let Err(refused) = state.rate_limits.before_auth(ip) {
            state.signal(
                crate::detect::rules::On::RateLimited,
                crate::detect::tally::Signal {
                    address: Some(ip.to_string()),
                    ..Default::default()
                },
            );
            return Err(refused);
        }
        let path = parts.uri.path().to_owned();
        // A 401 held back (an address over its failure budget) until this is dropped.
        let hold: std::sync::Mutex<Option<Held<'_>>> = std::sync::Mutex::new(None);
        let unauthenticated = |why: &str| {
            let refusal = unauthorized(why);
            state.signal(
                crate::detect::rules::On::AuthFailure,
                crate::detect::tally::Signal {
                    address: Some(ip.to_string()),
                    ..Default::default()
                },
            );
            match state.rate_limits.auth_failed(ip) {
                AfterFailure::Answer => {
                    tracing::warn!(target: "cordon::security", reason = why, %ip, path, "unauthenticated request");
                    refusal
                }
                AfterFailure::Hold { held, log } => {
                    if let Some(unlogged) = log {
                        tracing::warn!(target: "cordon::security", reason = why, %ip, path, unlogged, "unauthenticated request (over the address's failure budget: answered late; `unlogged` more since the last line)");
                    }
                    *hold
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(held);
                    refusal
                }
                AfterFailure::Refuse(too_many) => too_many,
            }
        };
        // Nothing is nested in this span: it need not be attached while the check runs.
        let span = crate::trace::Span::child("authenticate", Vec::new);
        let checked = check(parts, state, ip, &path, &unauthenticated).await;
        match &checked {
            Ok(caller) => {
                span.set_str("cordon.caller", caller.id.as_str());
                span.set("cordon.via", caller.via_name());
            }
            Err(e) => {
                span.set("error.type", e.code);
            }
        }
        span.end();
        let checked = checked
            .and_then(|caller| match state.keys.suspension(&caller.id, crate::clock::now_ms()) {
                Some(s) => {
                    tracing::warn!(target: "cordon::security", caller = caller.id, %ip, path, by = s.by, "request of a suspended caller refused");
                    Err(suspended(&s))
                }
                None => Ok(Caller {
                    address: Some(ip),
                    ..caller
                }),
            });
        let held = hold
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(held) = held {
            tokio::time::sleep(TARPIT).await;
            drop(held);
        }
        checked
    }
}

/// The authenticated caller's own rate limit; a refusal is a `rate_limited` signal for the
/// detection rules (docs/detection.md).
fn within_rate(state: &AppState, caller: &str, ip: IpAddr) -> Result<(), ApiError> {
    state.rate_limits.after_auth(caller).inspect_err(|_| {
        state.signal(
            crate::detect::rules::On::RateLimited,
            crate::detect::tally::Signal {
                caller: Some(caller.to_owned()),
                address: Some(ip.to_string()),
                ..Default::default()
            },
        );
    })
}

/// What a request's `Authorization` header presents.
#[derive(Debug, PartialEq, Eq)]
enum Presented<'a> {
    Missing,
    /// Two `Authorization` headers, or a comma-separated list in one (as a proxy joining two
    /// headers writes them).
    Ambiguous,
    /// Not `Bearer <token>`.
    Malformed,
    Bearer(&'a str),
}

/// The one credential of `headers`: `Bearer` and its token, the scheme in any case (RFC 9110
/// section 11.1: `bearer` and `BEARER` are `Bearer`), separated by one or more spaces.
fn presented(headers: &axum::http::HeaderMap) -> Presented<'_> {
    let mut all = headers.get_all(axum::http::header::AUTHORIZATION).iter();
    let Some(header) = all.next() else {
        return Presented::Missing;
    };
    if all.next().is_some() {
        return Presented::Ambiguous;
    }
    let Some((scheme, token)) = header.to_str().ok().and_then(|h| h.trim().split_once(' ')) else {
        return Presented::Malformed;
    };
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        Presented::Malformed
    } else if token.contains(',') {
        // A token (RFC 6750's b64token) holds no comma: this is a list of credentials.
        Presented::Ambiguous
    } else {
        Presented::Bearer(token)
    }
}

/// The credential the request carries, checked; `unauthenticated` words (and counts) a failure.
async fn check(
    parts: &Parts,
    state: &Arc<AppState>,
    ip: IpAddr,
    path: &str,
    unauthenticated: &impl Fn(&str) -> ApiError,
) -> Result<Caller, ApiError> {
    let token = match presented(&parts.headers) {
        Presented::Bearer(token) => token,
        Presented::Missing => {
            // A verified client certificate that `[[auth.mtls]]` maps is the credential.
            let certificate = parts
                .extensions
                .get::<Arc<crate::tls::clients::PeerCertificate>>();
            let matched =
                certificate.and_then(|c| Some((state.settings.auth.mtls.identify(c)?, c)));
            if let Some((matched, certificate)) = matched {
                let caller = Caller::from_certificate(matched, certificate);
                within_rate(state, &caller.id, ip)?;
                return Ok(caller);
            }
            // No credential is no guess: always 401 (an MCP client's first request finds where
            // to get a token this way), spending no failure budget.
            let why = match certificate {
                Some(c) => format!(
                    "missing credentials: the client certificate ({}) matches no [[auth.mtls]] entry, so it names no caller; send Authorization: Bearer <API key or token>, or ask an administrator to map it",
                    c.subject
                ),
                None => "missing credentials (Authorization: Bearer <API key or token>)".to_owned(),
            };
            tracing::warn!(target: "cordon::security", reason = why, %ip, path, "unauthenticated request");
            return Err(unauthorized(&why));
        }
        Presented::Ambiguous => {
            // Which of two credentials a proxy or the server would honour is not the client's
            // to guess: neither is, and nothing is spent of any failure budget.
            tracing::warn!(target: "cordon::security", %ip, path, "request with more than one credential refused");
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "ambiguous_credentials",
                "the request carries more than one credential (two Authorization headers, or a list in one): send exactly one `Authorization: Bearer <API key or token>`",
            ));
        }
        Presented::Malformed => {
            return Err(unauthenticated(
                "the Authorization header must be `Bearer <API key or token>`",
            ));
        }
    };
    if !looks_like_api_key(token) {
        return from_token(state, token, unauthenticated, ip, path).await;
    }
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
            within_rate(state, &key.id, ip)?;
            Ok(Caller::from_key(&key))
        }
        None => {
            let why = "unknown or revoked API key";
            let known = key_id.is_some_and(|id| state.keys.knows(id));
            match key_id.filter(|_| known) {
                // A key that exists: its own failure budget, not the address's; once it is
                // spent, wrong secrets for it are refused outright until it refills.
                Some(id) => {
                    state.rate_limits.before_key(id)?;
                    tracing::warn!(target: "cordon::security", reason = why, key = id, %ip, path, "unauthenticated request");
                    Err(state.rate_limits.key_failed(id, unauthorized(why)))
                }
                None => Err(unauthenticated(why)),
            }
        }
    }
}

/// A bearer that is not an API key: a JWT from a configured issuer. Checking it reads memory,
/// unless its key id is new to the issuer's cached keys: then the (bounded) refresh runs off the
/// async workers.
async fn from_token(
    state: &Arc<AppState>,
    token: &str,
    unauthenticated: &impl Fn(&str) -> ApiError,
    ip: IpAddr,
    path: &str,
) -> Result<Caller, ApiError> {
    let verifier = &state.settings.auth.verifier;
    if verifier.is_empty() {
        return Err(unauthenticated(
            "not a cordon API key (cordon_...), and this server accepts no tokens (no [[auth.oidc]] issuer is configured)",
        ));
    }
    let checked = match verifier.verify_cached(token, now_secs()) {
        // A key id new to the cache: the (bounded) refresh blocks, so not on this worker.
        Err(TokenError::KeyNotCached) => {
            let (v, t) = (verifier.clone(), token.to_owned());
            tokio::task::spawn_blocking(move || v.verify(&t, now_secs()))
                .await
                .map_err(ApiError::internal)?
        }
        other => other,
    };
    match checked {
        Ok(identity) => {
            let caller = Caller::from_identity(identity);
            within_rate(state, &caller.id, ip)?;
            Ok(caller)
        }
        Err(TokenError::NoRole { claim }) => {
            let why = format!(
                "the token's {claim} claim maps to no cordon role; ask an administrator to map one of your groups (auth.oidc roles)"
            );
            tracing::warn!(target: "cordon::security", reason = why, %ip, path, "token without a role refused");
            Err(ApiError::new(StatusCode::FORBIDDEN, "no_role", why))
        }
        Err(e) => Err(unauthenticated(&e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::{Presented, presented};
    use axum::http::{HeaderMap, HeaderValue, header::AUTHORIZATION};

    /// Whether the headers `values` present `expected`.
    fn presents(values: &[&str], expected: Presented<'_>) -> bool {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        presented(&h) == expected
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_one_credential_is_required() {
        for ok in [
            "Bearer cordon_k",
            "bearer cordon_k",
            "BEARER cordon_k",
            "bEaReR   cordon_k ",
        ] {
            assert!(presents(&[ok], Presented::Bearer("cordon_k")), "{ok}");
        }
        assert!(presents(&[], Presented::Missing));
        for malformed in [
            "Basic dXNlcjpwYXNz",
            "Bearer",
            "Bearer   ",
            "Bearercordon_k",
            "",
        ] {
            assert!(
                presents(&[malformed], Presented::Malformed),
                "{malformed:?}"
            );
        }
        for ambiguous in [
            &["Bearer cordon_a", "Bearer cordon_b"][..],
            // Even when both are the same, or one of them is not a bearer.
            &["Bearer cordon_a", "Bearer cordon_a"],
            &["Basic x", "Bearer cordon_a"],
            &["Bearer cordon_a, Bearer cordon_b"],
        ] {
            assert!(presents(ambiguous, Presented::Ambiguous), "{ambiguous:?}");
        }
    }
}
