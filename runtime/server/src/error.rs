//! Errors. [`ApiError`] is what a request is answered with: every error response is
//! `{"error": {"code", "message", "request_id"}}`. The message is safe to show a client; the full
//! cause goes to the server log under the same request id (added by the `request_id` middleware,
//! which also fills in the body). [`ServerError`] is why a server cannot start or keep serving.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An error a handler returns.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable, machine-readable code.
    pub code: &'static str,
    /// One line for the client: no paths, no stack traces, no secrets.
    pub message: String,
    /// For 429: (the limit, seconds until a retry can succeed), sent as `Retry-After` and
    /// `RateLimit-*` headers.
    pub rate_limit: Option<(u32, u64)>,
    /// Seconds after which a retry may succeed (`Retry-After`), for refusals that are not rate
    /// limits (saturation).
    pub retry_after: Option<u64>,
    /// For a 429 of a quota: which one, its limit and the use so far (boxed: errors travel in
    /// every handler's `Result`, and this one is rare).
    pub quota: Option<Box<cordon_storage::QuotaRefusal>>,
    /// For `denied_by_policy`: the reasons the operator's decisions gave.
    pub reasons: Vec<String>,
}

/// The body of every error response.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable code (`unauthorized`, `forbidden`, `rate_limited`, ...).
    pub code: String,
    /// One line, safe to show: no paths, stack traces or secrets.
    pub message: String,
    /// Also in the `x-request-id` header and in the server log next to the full detail.
    pub request_id: String,
    /// For `quota_exceeded`: the quota (`executions_per_day`, `concurrent`, `fuel_per_day`), its
    /// scope (empty: all tools; else the tool whose policy sets it), its limit and the use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<cordon_storage::QuotaRefusal>,
    /// For `denied_by_policy`: the reasons the operator's decisions gave (none when no rule
    /// allowed the call).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            rate_limit: None,
            retry_after: None,
            quota: None,
            reasons: Vec::new(),
        }
    }
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    /// A fault of the server: the client gets a generic message, the log gets `cause`.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(cause = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log for this request id",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The body is written by the request-id middleware, which knows the id.
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Seconds a client is told to wait when the database is unavailable: a restarting
/// PostgreSQL is back within seconds, and the pool waits up to 5 s for a connection itself.
pub const STORE_RETRY_SECS: u64 = 2;

impl From<cordon_storage::StorageError> for ApiError {
    fn from(e: cordon_storage::StorageError) -> Self {
        use cordon_storage::StorageError as E;
        match e {
            E::Unavailable(cause) => {
                tracing::error!(cause, "the database is unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the database is unavailable; nothing was done, retry shortly",
                )
                .retry_after(STORE_RETRY_SECS)
            }
            E::AlreadyPublished { .. } => {
                ApiError::new(StatusCode::CONFLICT, "already_published", e.to_string())
            }
            E::KeyNameTaken(_) => ApiError::new(StatusCode::CONFLICT, "name_taken", e.to_string()),
            E::InvalidKey(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_key",
                e.to_string(),
            ),
            other => ApiError::internal(other),
        }
    }
}

/// Why a server cannot start or keep serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] cordon_storage::StorageError),
    #[error(transparent)]
    Audit(#[from] crate::record::audit_log::AuditError),
    #[error("cannot start the server's threads: {0}")]
    Threads(std::io::Error),
    /// A task of the server's failed (panicked or was cancelled); the cause is in the message.
    #[error("a server task failed: {0}")]
    Task(String),
    #[error("cannot load the published tools: {0}")]
    Registry(String),
    #[error("cannot serve: {0}")]
    Serve(std::io::Error),
    #[error("cannot serve HTTPS: {0}")]
    Tls(#[from] crate::tls::certs::TlsError),
}
