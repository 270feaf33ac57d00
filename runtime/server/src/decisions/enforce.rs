//! The decision every call passes in admission (`api/execute.rs`), after the `[access]` rules:
//! a call runs only if both allow it. A denial answers 403 `denied_by_policy` with the bundle's
//! reasons and is recorded as a `decision.deny` event (with the caller, the tool, the reasons
//! and the bundle's hash); an allowed call's record names the bundle's hash. An evaluation that
//! fails denies. Listings show a caller only the tools a decision would let it call.

use crate::callers::caller::Caller;
use crate::calls::live::LiveTool;
use crate::clock::{now_ms, sha256_hex};
use crate::decisions::current::Current;
use crate::error::ApiError;
use crate::state::AppState;
use axum::http::StatusCode;
use cordon_decide::{Approval, Decision};
use cordon_storage::{AdminAction, AdminEvent};
use std::sync::Arc;

/// What the bundle in force says of a call that may go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No bundle is in force: the `[access]` rules alone decided.
    Unjudged,
    /// Allowed by the bundle of this hash.
    Allowed { hash: String },
    /// Allowed once a person approves it.
    Held {
        hash: String,
        approval: Approval,
        /// The bundle's `deny` reasons are none here; what it said of the call, for approvers.
        reasons: Vec<String>,
    },
}

impl Verdict {
    /// The bundle's hash, for the record.
    pub fn hash(&self) -> Option<&str> {
        match self {
            Verdict::Unjudged => None,
            Verdict::Allowed { hash } | Verdict::Held { hash, .. } => Some(hash),
        }
    }
}

/// The 403 of a refusal: the reasons in the message (one line) and in `reasons`. `what` names
/// what was refused (`this call of echo`, `publishing echo 1.0.0`).
pub fn denied(what: &str, reasons: &[String], error: Option<&str>) -> ApiError {
    let message = match (reasons.is_empty(), error) {
        (_, Some(_)) => format!(
            "the operator's decisions could not decide on {what}, so it is denied; the server log names the cause"
        ),
        (true, None) => format!(
            "the operator's decisions do not allow {what} (no rule of the bundle in force allowed it)"
        ),
        (false, None) => format!(
            "the operator's decisions deny {what}: {}",
            reasons.join("; ")
        ),
    };
    let mut e = ApiError::new(StatusCode::FORBIDDEN, "denied_by_policy", message);
    e.reasons = reasons.to_vec();
    e
}

/// What a refused decision concerned: what its message and its `decision.deny` event name.
#[derive(Debug)]
pub struct Refused {
    /// The document's `action`.
    pub action: &'static str,
    /// For the message: `this call of echo`, `publishing echo 1.0.0`.
    pub what: String,
    /// The tool and version; empty for a key change.
    pub tool: String,
    pub version: String,
    /// sha256 of what was sent (a call's input, a component, a policy, a key request).
    pub input_sha256: String,
    /// `rest` or `mcp`.
    pub protocol: &'static str,
}

/// Refuses to run an approved call whose approval no longer holds: another version of its tool
/// in its place, or other decisions in force than the ones it was approved under (what they
/// would decide now was never put to an approver).
pub fn still_in_force(
    state: &AppState,
    tool: &LiveTool,
    row: &cordon_storage::ApprovalRow,
) -> Result<(), ApiError> {
    if tool.record.digest != row.digest {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "tool_changed",
            format!(
                "{} {} is no longer the component that was approved",
                row.tool, row.version
            ),
        ));
    }
    if state.decisions.get().hash() != Some(row.decision.as_str()) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "decisions_changed",
            "the operator's decisions changed since the call was held; call the tool again",
        ));
    }
    Ok(())
}

impl AppState {
    /// Decides a call of `tool` with `body` by `caller`. Denials are recorded before the
    /// refusal is returned.
    pub async fn decide_call(
        self: &Arc<Self>,
        caller: &Caller,
        tool: &LiveTool,
        body: &[u8],
        transport: &'static str,
    ) -> Result<Verdict, ApiError> {
        let current = self.decisions.get();
        let (hash, outcome) = match &*current {
            Current::None => return Ok(Verdict::Unjudged),
            Current::Unusable { hash, why } => (hash.clone(), Err(why.clone())),
            Current::Ready(decider) => {
                let span = crate::trace::Span::child("decide", || {
                    vec![opentelemetry::KeyValue::new(
                        "cordon.decisions.hash",
                        decider.hash().to_owned(),
                    )]
                });
                let started = std::time::Instant::now();
                let document = crate::decisions::document::invoke(caller, tool, body, transport);
                let decided = decider
                    .decide_document(&document)
                    .map_err(|e| e.to_string());
                crate::metrics::decision(started.elapsed());
                span.set(
                    "cordon.decision",
                    match &decided {
                        Ok(d) if d.allow && d.deny.is_empty() && d.approval.is_some() => "hold",
                        Ok(d) if d.allow && d.deny.is_empty() => "allow",
                        Ok(_) => "deny",
                        Err(_) => "error",
                    },
                );
                (decider.hash().to_owned(), decided)
            }
        };
        let (reasons, error) = match outcome {
            Ok(Decision {
                allow: true,
                deny,
                approval,
            }) if deny.is_empty() => {
                return Ok(match approval {
                    None => Verdict::Allowed { hash },
                    Some(approval) => Verdict::Held {
                        hash,
                        approval,
                        reasons: Vec::new(),
                    },
                });
            }
            Ok(decision) => (decision.deny, None),
            Err(why) => (Vec::new(), Some(why)),
        };
        let refused = Refused {
            action: "invoke",
            what: format!("this call of {}", tool.record.name),
            tool: tool.record.name.clone(),
            version: tool.record.version.clone(),
            input_sha256: sha256_hex(body),
            protocol: crate::decisions::document::protocol(transport),
        };
        Err(self.refuse(caller, refused, hash, reasons, error).await)
    }

    /// Records a refusal (`decision.deny`, the caller as actor) and returns the 403 to answer.
    /// Nothing is lost: a refusal that cannot be recorded is still a refusal, and the store's
    /// fault is what the caller is told.
    pub async fn refuse(
        self: &Arc<Self>,
        caller: &Caller,
        refused: Refused,
        hash: String,
        reasons: Vec<String>,
        error: Option<String>,
    ) -> ApiError {
        let Refused {
            action,
            what,
            tool,
            version,
            input_sha256,
            protocol,
        } = refused;
        if let Some(why) = &error {
            tracing::error!(target: "cordon::security", action, tool, caller = caller.id, decision = hash, error = why, "the decision could not be evaluated; denied");
        } else {
            tracing::warn!(target: "cordon::security", action, tool, caller = caller.id, decision = hash, ?reasons, "denied by the operator's decisions");
        }
        let refusal = denied(&what, &reasons, error.as_deref());
        self.signal(
            crate::detect::rules::On::Denial,
            crate::detect::tally::Signal {
                tool: (!tool.is_empty()).then(|| tool.clone()),
                caller: Some(caller.id.clone()),
                address: caller.address.map(|a| a.to_string()),
                execution: None,
            },
        );
        let event = AdminEvent::new(
            now_ms(),
            &caller.actor(),
            AdminAction::DecisionDeny {
                action: Some(action.to_owned()),
                tool,
                version,
                input_sha256,
                reasons,
                decision: hash,
                protocol: protocol.to_owned(),
                error,
            },
        );
        match self.db(move |s| s.record_event(event)).await {
            Ok(_) => refusal,
            Err(e) => e,
        }
    }

    /// Whether a listing shows `tool` to `caller`: the bundle in force (if any) would let it
    /// call the tool (`action: list`, no arguments). A tool a decision holds for approval is
    /// shown; one it cannot decide on is not.
    pub fn may_list(&self, caller: &Caller, tool: &LiveTool, transport: &str) -> bool {
        match &*self.decisions.get() {
            Current::None => true,
            Current::Unusable { .. } => false,
            Current::Ready(decider) => decider
                .decide_document(&crate::decisions::document::list(caller, tool, transport))
                .is_ok_and(|d| d.permits()),
        }
    }
}
