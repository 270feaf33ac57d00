//! Decisions over an operator's changes: publishing a tool (`publish`), changing a tool's policy
//! (`policy_change`), making or revoking an API key (`key_change`). The bundle in force decides
//! them as it decides calls, after the caller's role allowed them: a change goes on only if both
//! allow it, and a refusal is a `decision.deny` event naming the action.
//!
//! Two things are never decided, so that no bundle can lock the operators out:
//! - applying or removing the bundle itself (`PUT`/`DELETE /v1/decisions`): an admin can
//!   always replace a bundle that refuses too much;
//! - what is done on the host (a policy reloaded from the policies folder with SIGHUP, a key
//!   made with `cordon keys create` against the data directory): whoever holds the host holds
//!   the server anyway.
//!
//! A change is never held for approval: only tool calls wait for a person. A bundle that asks
//! for an approval of a change refuses it, saying so (deny by default), rather than letting it
//! through unapproved.

use crate::callers::caller::Caller;
use crate::calls::live::LiveTool;
use crate::decisions::current::Current;
use crate::decisions::enforce::Refused;
use crate::error::ApiError;
use crate::state::AppState;
use cordon_decide::Decision;
use cordon_decide::document::Tool;
use std::sync::Arc;

/// One change an operator asks for, as decisions see it.
#[derive(Debug)]
pub struct Change {
    /// `publish`, `policy_change` or `key_change`.
    pub action: &'static str,
    /// For the message: `publishing echo 1.0.0`.
    pub what: String,
    /// The tool as it would be after the change (none for a key change).
    pub tool: Option<Tool>,
    /// What is asked: the new policy, the key to make or revoke (never a secret).
    pub arguments: serde_json::Value,
    /// sha256 of what was sent (the component, the policy, the key request), which a
    /// refusal's event names.
    pub input_sha256: String,
}

impl AppState {
    /// Decides `change` by `caller`. `Ok` when no bundle is in force or it allows the change;
    /// a refusal is recorded before it is returned.
    pub async fn decide_change(
        self: &Arc<Self>,
        caller: &Caller,
        change: Change,
    ) -> Result<(), ApiError> {
        let current = self.decisions.get();
        let (hash, outcome) = match &*current {
            Current::None => return Ok(()),
            Current::Unusable { hash, why } => (hash.clone(), Err(why.clone())),
            Current::Ready(decider) => {
                let document = crate::decisions::document::change(
                    change.action,
                    caller,
                    change.tool.clone(),
                    change.arguments,
                );
                let decided = decider
                    .decide_document(&document)
                    .map_err(|e| e.to_string());
                (decider.hash().to_owned(), decided)
            }
        };
        let (reasons, error) = match outcome {
            Ok(Decision {
                allow: true,
                deny,
                approval: None,
            }) if deny.is_empty() => return Ok(()),
            Ok(Decision {
                allow: true,
                deny,
                approval: Some(_),
            }) if deny.is_empty() => (
                vec![format!(
                    "the bundle asks for an approval of this {}, but only tool calls wait for one: write a rule that allows or denies it",
                    change.action
                )],
                None,
            ),
            Ok(decision) => (decision.deny, None),
            Err(why) => (Vec::new(), Some(why)),
        };
        let (tool, version) = change
            .tool
            .map_or_else(Default::default, |t| (t.name, t.version));
        let refused = Refused {
            action: change.action,
            what: change.what,
            tool,
            version,
            input_sha256: change.input_sha256,
            protocol: "rest",
        };
        Err(self.refuse(caller, refused, hash, reasons, error).await)
    }
}

/// A change of `tool`'s policy to `text`: the tool as it would run under it, and the policy
/// itself as `arguments` (its TOML as JSON, `null` for the closed default), so that a rule can
/// read any of its keys (`input.arguments.limits.memory_mb`).
pub fn policy_change(text: &str, tool: &LiveTool) -> Change {
    let arguments = if text.trim().is_empty() {
        serde_json::Value::Null
    } else {
        // Admitted under it already, so it parses; should it not, the rule sees `null`.
        toml::from_str(text).unwrap_or(serde_json::Value::Null)
    };
    Change {
        action: "policy_change",
        what: format!("this policy change of {}", tool.record.name),
        tool: Some(crate::decisions::document::tool(tool)),
        arguments,
        input_sha256: crate::clock::sha256_hex(text.as_bytes()),
    }
}
