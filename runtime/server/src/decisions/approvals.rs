//! Deciding on held calls (`held.rs` holds them): who may approve one, the decision (made once,
//! whichever node takes it: the store moves the row under its lock), and what follows. An
//! approved call runs at once on the approving node, as its caller, under the same execution id
//! (a task its caller follows with `GET /v1/executions/{id}`, or MCP `tasks/get`); a denied or
//! expired one is recorded with outcome `denied`. A sweep on every node expires the calls nobody
//! decided on in time.

use crate::callers::caller::Caller;
use crate::clock::now_ms;
use crate::decisions::held::HeldCaller;
use crate::error::ApiError;
use crate::state::AppState;
use axum::http::StatusCode;
use cordon_core::{Action, Outcome, Role, Usage};
use cordon_storage::{ApprovalRow, ApprovalState, Decided, NewExecution};
use std::sync::Arc;
use std::time::Duration;

/// How often a node looks for held calls whose time is up: an expired call is recorded
/// `denied` within about this long.
pub const EXPIRY_SWEEP: Duration = Duration::from_secs(1);

/// The longest reason an approver may give (it goes into the audit log).
pub const MAX_REASON_BYTES: usize = 1024;

/// Whether `caller` is one of `row`'s approvers: a `role:NAME` it holds, a `key:NAME` naming
/// its key (by id or name); any admin when the decisions named none. Never the call's own
/// caller.
pub fn may_approve(caller: &Caller, row: &ApprovalRow) -> bool {
    if caller.id == row.caller {
        return false;
    }
    if row.approvers.is_empty() {
        return caller.roles.contains(&Role::Admin);
    }
    row.approvers
        .iter()
        .any(|entry| match entry.split_once(':') {
            Some(("role", role)) => caller.roles.iter().any(|r| r.as_str() == role),
            Some(("key", key)) => caller.is_key(key),
            _ => false,
        })
}

/// Whether `caller` may see `row`: its own caller, one of its approvers, or whoever manages
/// every caller's executions.
pub fn may_see(caller: &Caller, row: &ApprovalRow) -> bool {
    caller.id == row.caller || may_approve(caller, row) || caller.permits(Action::ManageExecutions)
}

/// The record of a call that never ran: denied by an approver, or expired.
fn denied_record(row: &ApprovalRow) -> NewExecution {
    let error = match (row.state, &row.decided_by, &row.reason) {
        (ApprovalState::Expired, _, _) => format!(
            "not approved in time: {}",
            cordon_storage::approvals::EXPIRED
        ),
        (_, Some(by), Some(reason)) if !reason.is_empty() => {
            format!("denied by {}: {reason}", by.name)
        }
        (_, Some(by), _) => format!("denied by {}", by.name),
        _ => "denied".to_owned(),
    };
    let now = now_ms();
    NewExecution {
        id: row.id.clone(),
        started_at_ms: row.created_at_ms,
        finished_at_ms: row.decided_at_ms.unwrap_or(now).max(row.created_at_ms),
        caller: row.caller.clone(),
        transport: row.transport.clone(),
        tool: row.tool.clone(),
        version: row.version.clone(),
        digest: row.digest.clone(),
        publisher: None,
        signer: None,
        policy_hash: row.policy_hash.clone(),
        input_bytes: row.input.len() as u64,
        input_sha256: row.input_sha256.clone(),
        input: None,
        outcome: Outcome::Denied,
        error: Some(error),
        usage: Usage {
            input_bytes: row.input.len() as u64,
            ..Usage::default()
        },
        caller_name: Some(row.caller_name.clone()),
        output_sha256: None,
        exchange: None,
        decision: Some(row.decision.clone()),
        findings: Vec::new(),
        trace_id: None,
        caller_certificate: crate::decisions::held::HeldCaller::certificate_of(&row.held_caller),
    }
}

/// Why a decision on a held call is refused, or what it did.
#[derive(Debug)]
pub enum Resolved {
    /// Approved: the call runs now on this node.
    Approved(ApprovalRow),
    /// Denied, or expired before the decision came: recorded `denied`.
    Denied(ApprovalRow),
}

impl AppState {
    /// `caller` approves (or denies) the held call `id`, giving `reason`.
    pub async fn decide_approval(
        self: &Arc<Self>,
        caller: &Caller,
        id: &str,
        approve: bool,
        reason: String,
    ) -> Result<Resolved, ApiError> {
        if reason.len() > MAX_REASON_BYTES {
            return Err(ApiError::bad_request(
                "reason_too_long",
                format!("a reason is at most {MAX_REASON_BYTES} bytes"),
            ));
        }
        let looking = id.to_owned();
        let row = self
            .db(move |s| s.approval(&looking))
            .await?
            .filter(|r| may_see(caller, r))
            .ok_or_else(|| {
                ApiError::not_found(format!("no held call {id} that this caller may see"))
            })?;
        if row.caller == caller.id {
            tracing::warn!(target: "cordon::security", execution_id = id, caller = caller.id, "a caller tried to approve its own call");
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "self_approval",
                "a caller can never approve or deny its own call; another approver must",
            ));
        }
        if !may_approve(caller, &row) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "not_an_approver",
                format!(
                    "this call waits for one of {}; this caller is none of them",
                    approvers_text(&row)
                ),
            ));
        }
        let (wanted, by, now) = (id.to_owned(), caller.actor(), now_ms());
        let decided = self
            .db(move |s| s.approval_decide(&wanted, approve, &reason, &by, now))
            .await?;
        match decided {
            Decided::Done(row) if row.state == ApprovalState::Approved => {
                tracing::info!(target: "cordon::security", execution_id = id, approver = caller.id, "held call approved; it runs now");
                self.run_approved(&row).await;
                Ok(Resolved::Approved(row))
            }
            Decided::Done(row) | Decided::Expired(row) => {
                self.record_denied(&row).await;
                if row.state == ApprovalState::Expired {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "approval_expired",
                        format!("call {id} waited too long and was denied"),
                    ));
                }
                Ok(Resolved::Denied(row))
            }
            Decided::NotPending(row) => Err(ApiError::new(
                StatusCode::CONFLICT,
                "already_decided",
                format!("call {id} is {} already", row.state.as_str()),
            )),
            Decided::Missing => Err(ApiError::not_found(format!("no held call {id}"))),
        }
    }

    /// Its own caller (or whoever manages every caller's executions) withdraws a held call:
    /// denied as that caller, recorded. A call decided already is left as it is.
    pub async fn withdraw_held(
        self: &Arc<Self>,
        caller: &Caller,
        id: &str,
    ) -> Result<ApprovalRow, ApiError> {
        let (wanted, by, now) = (id.to_owned(), caller.actor(), now_ms());
        let looking = id.to_owned();
        let row = self
            .db(move |s| s.approval(&looking))
            .await?
            .filter(|r| r.caller == caller.id || caller.permits(Action::ManageExecutions))
            .ok_or_else(|| {
                ApiError::not_found(format!("no held call {id} that this caller may see"))
            })?;
        if row.state != ApprovalState::Pending {
            return Ok(row);
        }
        let withdrawn = "withdrawn".to_owned();
        match self
            .db(move |s| s.approval_decide(&wanted, false, &withdrawn, &by, now))
            .await?
        {
            Decided::Done(row) | Decided::Expired(row) => {
                self.record_denied(&row).await;
                Ok(row)
            }
            Decided::NotPending(row) => Ok(row),
            Decided::Missing => Err(ApiError::not_found(format!("no held call {id}"))),
        }
    }

    /// Runs an approved call, as its caller, under its execution id. Whatever stops it from
    /// running (its tool version gone, the decisions changed since, a quota) ends it as a
    /// record saying why, so its caller is never left waiting.
    pub async fn run_approved(self: &Arc<Self>, row: &ApprovalRow) {
        let (caller, trace) = match serde_json::from_str::<HeldCaller>(&row.held_caller) {
            Ok(held) => (held.caller(), held.trace),
            Err(e) => {
                tracing::error!(execution_id = row.id, error = %e, "a held call's caller does not read");
                return;
            }
        };
        // The run (its admission too) joins the trace its caller's request was held in.
        let span = crate::trace::resumed("approved", &row.tool, &row.id, trace.as_deref());
        let admitted = span
            .instrument(crate::api::execute::admit_approved(self, &caller, row))
            .await;
        match admitted {
            Ok(admitted) => {
                let started = span.instrument(admitted.start_task(None, Default::default()));
                if let Err(e) = started.await {
                    tracing::error!(
                        execution_id = row.id,
                        code = e.code,
                        error = e.message,
                        "an approved call could not start"
                    );
                }
            }
            Err(e) => {
                tracing::warn!(target: "cordon::security", execution_id = row.id, code = e.code, error = e.message, "an approved call was refused when it came to run");
                let mut record = denied_record(row);
                record.outcome = Outcome::Denied;
                record.error = Some(format!(
                    "approved, but refused when it came to run: {}",
                    e.message
                ));
                if let Err(e) = self.journal.append(record).await {
                    tracing::error!(
                        execution_id = row.id,
                        code = e.code,
                        "cannot record a refused approved call"
                    );
                }
            }
        }
    }

    /// Records a held call that will never run.
    pub async fn record_denied(self: &Arc<Self>, row: &ApprovalRow) {
        if let Err(e) = self.journal.append(denied_record(row)).await {
            tracing::error!(
                execution_id = row.id,
                code = e.code,
                error = e.message,
                "cannot record a denied call"
            );
        }
    }

    /// Expires the held calls whose time is up, and records each `denied`.
    pub async fn expire_approvals(self: &Arc<Self>) {
        let now = now_ms();
        match self.db(move |s| s.approvals_expire(now)).await {
            Ok(rows) => {
                for row in rows {
                    tracing::info!(target: "cordon::security", execution_id = row.id, tool = row.tool, "held call expired unapproved; recorded denied");
                    self.record_denied(&row).await;
                }
            }
            Err(e) => tracing::warn!(code = e.code, error = e.message, "cannot expire held calls"),
        }
    }
}

/// The approvers, as a message names them.
pub fn approvers_text(row: &ApprovalRow) -> String {
    if row.approvers.is_empty() {
        "role:admin".to_owned()
    } else {
        row.approvers.join(", ")
    }
}

/// Expires held calls on this node's schedule, and forgets decided ones after the time a
/// finished call's answer is kept.
pub fn spawn_expiry(state: Arc<AppState>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EXPIRY_SWEEP);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut n: u64 = 0;
        loop {
            tick.tick().await;
            state.expire_approvals().await;
            if n.is_multiple_of(60) {
                let ttl =
                    i64::try_from(state.settings.async_result_ttl.as_millis()).unwrap_or(i64::MAX);
                let before = now_ms().saturating_sub(ttl);
                if let Err(e) = state.db(move |s| s.approvals_prune(before)).await {
                    tracing::warn!(code = e.code, "cannot forget decided held calls");
                }
            }
            n += 1;
        }
    });
}
