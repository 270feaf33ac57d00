//! A held call as the API shows it: to its caller inside `GET /v1/executions/{id}`, to its
//! approvers in `GET /v1/approvals` (with its arguments).

use cordon_storage::ApprovalRow;
use serde::Serialize;

/// A call held for a person's approval.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApprovalView {
    /// The execution id it runs (or is recorded `denied`) under.
    pub execution_id: String,
    /// `pending`, `approved`, `denied` or `expired`.
    pub state: String,
    pub tool: String,
    pub version: String,
    /// Who made the call: its id and name, as in the record.
    pub caller: String,
    pub caller_name: String,
    /// The call's input, with the values of the host-held secrets its tool's policy names
    /// replaced by `[REDACTED]` (approvers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub arguments: Option<serde_json::Value>,
    pub input_sha256: String,
    /// Why the decisions hold it.
    pub reasons: Vec<String>,
    /// Who may approve (`role:NAME`, `key:NAME`; none: any admin).
    pub approvers: Vec<String>,
    /// The decisions bundle that held it.
    pub decision: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    /// Who decided, why and when (`server` when it expired).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at_ms: Option<i64>,
}

impl ApprovalView {
    /// The view of `row`, with `arguments` when the viewer may read them.
    pub fn of(row: &ApprovalRow, arguments: Option<serde_json::Value>) -> ApprovalView {
        ApprovalView {
            execution_id: row.id.clone(),
            state: row.state.as_str().to_owned(),
            tool: row.tool.clone(),
            version: row.version.clone(),
            caller: row.caller.clone(),
            caller_name: row.caller_name.clone(),
            arguments,
            input_sha256: row.input_sha256.clone(),
            reasons: row.reasons.clone(),
            approvers: row.approvers.clone(),
            decision: row.decision.clone(),
            created_at_ms: row.created_at_ms,
            expires_at_ms: row.expires_at_ms,
            decided_by: row.decided_by.as_ref().map(|a| a.key_id.clone()),
            decided_by_name: row.decided_by.as_ref().map(|a| a.name.clone()),
            reason: row.reason.clone(),
            decided_at_ms: row.decided_at_ms,
        }
    }
}
