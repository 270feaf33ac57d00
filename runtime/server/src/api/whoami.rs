//! `GET /v1/whoami`: who the credential is and what it may do, so a client (the console) shows
//! only what the API would allow it.

use crate::callers::caller::{Caller, Via};
use crate::error::ErrorBody;
use axum::Json;
use cordon_core::{Action, Role};

/// The caller a credential names.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct WhoAmI {
    /// The id in the record: the API key's id, `issuer#subject` for a token, or
    /// `cert:{subject|dns|uri}:...` for a client certificate.
    pub id: String,
    /// The key's name, the token's display name, or the `[[auth.mtls]]` entry's name.
    pub name: String,
    /// `key`, `token` or `certificate`.
    pub via: &'static str,
    /// The token's issuer, for a token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The client certificate's SHA-256 fingerprint (`sha256:...`), for a certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    pub roles: Vec<&'static str>,
    /// Everything the caller may do: `list_tools`, `publish`, `manage_tools`, `invoke`,
    /// `read_executions`, `verify_audit`, `manage_keys`, `set_policy`, `read_policy`,
    /// `read_metrics`, `manage_executions`.
    pub may: Vec<&'static str>,
    /// Where the operator's tracing shows an execution's trace (`--trace-link`, with
    /// `{trace_id}` for the record's `trace_id`), for a caller who reads the record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_link: Option<String>,
}

/// Every action, with its name here.
const ACTIONS: [(Action, &str); 11] = [
    (Action::ListTools, "list_tools"),
    (Action::Publish, "publish"),
    (Action::ManageTools, "manage_tools"),
    (Action::Invoke, "invoke"),
    (Action::ReadExecutions, "read_executions"),
    (Action::VerifyAudit, "verify_audit"),
    (Action::ManageKeys, "manage_keys"),
    (Action::SetPolicy, "set_policy"),
    (Action::ReadPolicy, "read_policy"),
    (Action::ReadMetrics, "read_metrics"),
    (Action::ManageExecutions, "manage_executions"),
];

/// Who this credential is and what it may do.
#[utoipa::path(
    get,
    path = "/v1/whoami",
    tag = "keys",
    responses(
        (status = 200, body = WhoAmI),
        (status = 401, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn whoami(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<crate::state::AppState>>,
    caller: Caller,
) -> Json<WhoAmI> {
    let issuer = match &caller.via {
        Via::Token { issuer, .. } => Some(issuer.clone()),
        _ => None,
    };
    let via = caller.via_name();
    let certificate = caller.certificate().map(str::to_owned);
    let trace_link = state
        .settings
        .trace_link
        .clone()
        .filter(|_| caller.permits(Action::ReadExecutions));
    Json(WhoAmI {
        trace_link,
        may: ACTIONS
            .iter()
            .filter(|(a, _)| caller.permits(*a))
            .map(|(_, n)| *n)
            .collect(),
        roles: caller.roles.iter().map(|r: &Role| r.as_str()).collect(),
        id: caller.id,
        name: caller.name,
        via,
        issuer,
        certificate,
    })
}
