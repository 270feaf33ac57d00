//! Holding a call for a person's approval: what the decisions' `approval` asks. The call is
//! stored with everything it needs to run later on any node, as its own caller (`HeldCaller`),
//! bound to its input's hash, the bundle's hash and an expiry, with an `approval.request` event;
//! the caller gets its execution id at once. Approvers are told by the optional webhook.

use crate::callers::caller::{Caller, Via};
use crate::calls::live::LiveTool;
use crate::clock::{now_ms, sha256_hex};
use crate::error::ApiError;
use crate::state::AppState;
use cordon_core::Role;
use cordon_decide::Approval;
use cordon_storage::{ApprovalRow, ApprovalState};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// The caller of a held call, as kept until it runs: who it is and what its `[access]` rules
/// and quotas read (never a credential).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeldCaller {
    pub id: String,
    pub name: String,
    pub roles: Vec<String>,
    /// For a token caller: its issuer, subject and groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<HeldToken>,
    /// For a certificate holder: what its client certificate said (never the certificate's
    /// expiry: the approved run happens after the request, on the approval's authority).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<HeldCertificate>,
    /// The `traceparent` of the span the caller's request was held under, when exported
    /// (`trace.rs`): the approved run, on whichever node, joins that trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeldCertificate {
    pub fingerprint: String,
    pub subject: String,
    #[serde(default)]
    pub dns: Vec<String>,
    #[serde(default)]
    pub uris: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeldToken {
    pub issuer: String,
    pub subject: String,
    pub groups: Vec<String>,
}

impl HeldCaller {
    /// The trace a held call's request was held under (`held_caller` of its row), if any.
    pub fn trace_of(held_caller: &str) -> Option<String> {
        serde_json::from_str::<HeldCaller>(held_caller)
            .ok()
            .and_then(|h| h.trace)
    }

    /// The fingerprint of the client certificate a held call's caller authenticated with.
    pub fn certificate_of(held_caller: &str) -> Option<String> {
        serde_json::from_str::<HeldCaller>(held_caller)
            .ok()
            .and_then(|h| h.certificate)
            .map(|c| c.fingerprint)
    }

    pub fn of(caller: &Caller) -> HeldCaller {
        HeldCaller {
            id: caller.id.clone(),
            name: caller.name.clone(),
            roles: caller.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            token: match &caller.via {
                Via::Key | Via::Certificate { .. } => None,
                Via::Token {
                    issuer,
                    subject,
                    groups,
                    ..
                } => Some(HeldToken {
                    issuer: issuer.clone(),
                    subject: subject.clone(),
                    groups: groups.clone(),
                }),
            },
            certificate: match &caller.via {
                Via::Certificate {
                    fingerprint,
                    subject,
                    dns,
                    uris,
                    ..
                } => Some(HeldCertificate {
                    fingerprint: fingerprint.clone(),
                    subject: subject.clone(),
                    dns: dns.clone(),
                    uris: uris.clone(),
                }),
                _ => None,
            },
            trace: crate::trace::current_traceparent(),
        }
    }

    /// The caller the approved call runs as.
    pub fn caller(&self) -> Caller {
        Caller {
            id: self.id.clone(),
            name: self.name.clone(),
            roles: self.roles.iter().filter_map(|r| Role::parse(r)).collect(),
            via: match (&self.token, &self.certificate) {
                (Some(t), _) => Via::Token {
                    issuer: t.issuer.clone(),
                    subject: t.subject.clone(),
                    groups: t.groups.clone(),
                    expires_at_secs: None,
                    claims: Default::default(),
                },
                (None, Some(c)) => Via::Certificate {
                    fingerprint: c.fingerprint.clone(),
                    subject: c.subject.clone(),
                    dns: c.dns.clone(),
                    uris: c.uris.clone(),
                    expires_at_secs: None,
                },
                (None, None) => Via::Key,
            },
            address: None,
        }
    }
}

impl AppState {
    /// Holds a call of `tool` that the bundle `hash` allowed once approved; returns it as
    /// stored.
    pub async fn hold_call(
        self: &Arc<Self>,
        caller: &Caller,
        tool: &LiveTool,
        body: &[u8],
        transport: &'static str,
        hash: String,
        approval: Approval,
    ) -> Result<ApprovalRow, ApiError> {
        let now = now_ms();
        let row = ApprovalRow {
            id: crate::api::execute::new_id(now)?,
            caller: caller.id.clone(),
            caller_name: caller.name.clone(),
            held_caller: serde_json::to_string(&HeldCaller::of(caller))
                .map_err(ApiError::internal)?,
            tool: tool.record.name.clone(),
            version: tool.record.version.clone(),
            digest: tool.record.digest.clone(),
            policy_hash: tool.record.policy_hash.clone(),
            transport: transport.to_owned(),
            // Checked as JSON before a call is held, so UTF-8.
            input: String::from_utf8_lossy(body).into_owned(),
            input_sha256: sha256_hex(body),
            decision: hash,
            approvers: approval.approvers,
            reasons: approval.reason.into_iter().collect(),
            created_at_ms: now,
            expires_at_ms: now.saturating_add(
                i64::try_from(approval.timeout_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
            ),
            state: ApprovalState::Pending,
            decided_by: None,
            reason: None,
            decided_at_ms: None,
        };
        let stored = row.clone();
        self.db(move |s| s.approval_hold(&stored)).await?;
        tracing::info!(target: "cordon::security", execution_id = row.id, tool = row.tool, caller = row.caller, approvers = ?row.approvers, "call held for approval");
        notify(self, &row);
        Ok(row)
    }
}

/// Tells the approval webhook, if one is set, that a call waits: its id, tool, caller,
/// approvers, reasons and expiry (never its arguments: approvers read them from the API). Sent
/// in the background, one attempt with a short timeout; a failure is logged.
pub fn notify(state: &Arc<AppState>, row: &ApprovalRow) {
    let Some(url) = state.settings.approval_webhook.clone() else {
        return;
    };
    let body = serde_json::json!({
        "event": "approval.request",
        "execution_id": row.id,
        "tool": row.tool,
        "version": row.version,
        "caller": row.caller,
        "caller_name": row.caller_name,
        "approvers": row.approvers,
        "reasons": row.reasons,
        "expires_at_ms": row.expires_at_ms,
        "approve": format!("/v1/approvals/{}", row.id),
    });
    let id = row.id.clone();
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .http_status_as_error(false)
            .build()
            .into();
        match agent
            .post(url.as_str())
            .header("content-type", "application/json")
            .send(body.to_string().as_bytes())
        {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::warn!(
                execution_id = id,
                status = r.status().as_u16(),
                "the approval webhook refused the notice"
            ),
            Err(e) => {
                tracing::warn!(execution_id = id, error = %e, "cannot reach the approval webhook")
            }
        }
    });
}
