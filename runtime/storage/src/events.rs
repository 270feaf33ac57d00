//! Administrative events: every change an operator (or the server itself) makes, by whom and
//! when. They share the execution log's sequence and hash chain (`chain.rs`), so the record of
//! what ran and the record of who changed what are one tamper-evident history.
//!
//! An event never carries a secret: keys appear by id, name and role only.

use crate::record::NewExecution;
use serde::{Deserialize, Serialize};

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Actor {
    /// The API key id; `server` for the server itself, `local` for a command run on the host
    /// against the data directory, `signal` for a reload asked with SIGHUP.
    pub key_id: String,
    /// The key's name (for `local`, the operating-system user).
    pub name: String,
}

impl Actor {
    pub fn key(id: &str, name: &str) -> Self {
        Actor {
            key_id: id.to_owned(),
            name: name.to_owned(),
        }
    }

    /// The server acting on its own (start, stop).
    pub fn server() -> Self {
        Actor::key("server", "cordon serve")
    }

    /// A command run on the host against the data directory, as the operating-system user.
    pub fn local() -> Self {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into());
        Actor::key("local", &user)
    }

    /// A reload asked for with SIGHUP.
    pub fn signal() -> Self {
        Actor::key("signal", "SIGHUP")
    }
}

/// What was done. The `kind` names are stable: they are what `?kind=` filters on and what
/// exported events carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind")]
pub enum AdminAction {
    /// A tool version was published (the policy it runs under is `policy_hash`).
    #[serde(rename = "tool.publish")]
    ToolPublish {
        tool: String,
        version: String,
        digest: String,
        publisher: String,
        signer: String,
        policy_hash: String,
        /// The OCI reference it was pulled from, pinned by digest; absent for an upload (and
        /// so absent from the canonical JSON of every event written before it existed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
    },
    /// Every version of a tool was deleted.
    #[serde(rename = "tool.delete")]
    ToolDelete { tool: String, versions: Vec<String> },
    #[serde(rename = "tool.quarantine")]
    ToolQuarantine { tool: String, reason: String },
    #[serde(rename = "tool.release")]
    ToolRelease { tool: String },
    /// A tool's policy changed (`source`: `reload`, `api`).
    #[serde(rename = "policy.set")]
    PolicySet {
        tool: String,
        /// The policies its versions ran under before, distinct.
        old_hashes: Vec<String>,
        new_hash: String,
        versions: u64,
        source: String,
    },
    /// A reload of the policies directory was asked for; each change it made is a
    /// `policy.set` event before this one.
    #[serde(rename = "policy.reload")]
    PolicyReload {
        changed: u64,
        failed: u64,
        unchanged: u64,
    },
    /// A decisions bundle was put in force on every node (docs/decisions.md).
    #[serde(rename = "decisions.apply")]
    DecisionsApply {
        /// The bundle's hash, as each execution it allows records it.
        hash: String,
        /// The bundle in force before, if one was.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<String>,
        /// The package that answers, and how many modules the bundle holds.
        package: String,
        modules: u64,
    },
    /// The decisions bundle was taken out of force: the tools' `[access]` rules alone decide.
    #[serde(rename = "decisions.remove")]
    DecisionsRemove { previous: String },
    /// The decisions bundle refused a call (the actor is its caller). The reasons are the
    /// bundle's `deny` set; none when `allow` was not true or the evaluation failed (`error`).
    #[serde(rename = "decision.deny")]
    DecisionDeny {
        /// The document's action: `invoke`, or an operator's change (`publish`,
        /// `policy_change`, `key_change`). Absent from events written before changes were
        /// decided (all of them calls).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        action: Option<String>,
        /// The tool and version; empty for a key change.
        tool: String,
        version: String,
        /// sha256 of the input, as an execution record would name it.
        input_sha256: String,
        reasons: Vec<String>,
        /// The bundle that decided.
        decision: String,
        /// `rest` or `mcp`.
        protocol: String,
        /// Why no decision could be made, when none could (the call is denied).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The decisions held a call for a person's approval (the actor is its caller).
    #[serde(rename = "approval.request")]
    ApprovalRequest {
        /// The id the call is recorded under once it runs or is denied.
        execution_id: String,
        tool: String,
        version: String,
        input_sha256: String,
        /// The bundle that held it.
        decision: String,
        /// Who may approve (`role:NAME`, `key:NAME`; none: any admin).
        approvers: Vec<String>,
        expires_at_ms: i64,
    },
    /// An approver let a held call run (the actor).
    #[serde(rename = "approval.grant")]
    ApprovalGrant {
        execution_id: String,
        tool: String,
        reason: String,
    },
    /// An approver refused a held call, or its approval expired (the actor is then `server`).
    #[serde(rename = "approval.deny")]
    ApprovalDeny {
        execution_id: String,
        tool: String,
        reason: String,
        expired: bool,
    },
    /// An alert was raised (docs/detection.md): its id (the webhooks' `webhook-id`), the rule
    /// that raised it, and its one line. Its evidence is in the alert itself.
    #[serde(rename = "alert.raise")]
    AlertRaise {
        alert: String,
        rule: String,
        severity: String,
        summary: String,
    },
    /// A caller suspended until `until_ms` (by a detection rule, or an admin): its requests
    /// are refused at authentication until then.
    #[serde(rename = "caller.suspend")]
    CallerSuspend {
        caller: String,
        until_ms: i64,
        reason: String,
    },
    /// A caller's suspension lifted by an admin before its end.
    #[serde(rename = "caller.resume")]
    CallerResume { caller: String },
    #[serde(rename = "key.create")]
    KeyCreate {
        key_id: String,
        name: String,
        role: String,
        /// When the key stops authenticating, if it does (ms since the Unix epoch).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_at_ms: Option<i64>,
    },
    #[serde(rename = "key.revoke")]
    KeyRevoke {
        key_id: String,
        name: String,
        role: String,
    },
    #[serde(rename = "server.start")]
    ServerStart { version: String, listen: String },
    #[serde(rename = "server.stop")]
    ServerStop { reason: String },
    /// The server found links that their seals no longer vouch for (rewritten in the database
    /// after they were committed) and refused to sign a checkpoint over them.
    #[serde(rename = "audit.tampered")]
    AuditTampered {
        /// The first link found changed.
        seq: i64,
        why: String,
    },
}

/// Every kind an event can have, executions included.
pub const EVENT_KINDS: [&str; 21] = [
    "execution",
    "tool.publish",
    "tool.delete",
    "tool.quarantine",
    "tool.release",
    "policy.set",
    "policy.reload",
    "key.create",
    "key.revoke",
    "server.start",
    "server.stop",
    "audit.tampered",
    "decisions.apply",
    "decisions.remove",
    "decision.deny",
    "approval.request",
    "approval.grant",
    "approval.deny",
    "alert.raise",
    "caller.suspend",
    "caller.resume",
];

/// What each backend records for a change, built in one place so every backend records the same.
impl AdminAction {
    pub(crate) fn published(t: &crate::registry::ToolRecord) -> Self {
        AdminAction::ToolPublish {
            tool: t.name.clone(),
            version: t.version.clone(),
            digest: t.digest.clone(),
            publisher: t.publisher.clone(),
            signer: t.signer.clone(),
            policy_hash: t.policy_hash.clone(),
            source: t.source.clone(),
        }
    }

    /// A policy set on `changed` versions of `tool` (none changed: no event).
    pub(crate) fn policy_set(
        tool: &str,
        changed: usize,
        old_hashes: Vec<String>,
        new_hash: &str,
        source: &str,
    ) -> Option<Self> {
        (changed > 0).then(|| AdminAction::PolicySet {
            tool: tool.to_owned(),
            old_hashes,
            new_hash: new_hash.to_owned(),
            versions: changed as u64,
            source: source.to_owned(),
        })
    }

    /// `tool`'s `versions` deleted (none: no event).
    pub(crate) fn deleted(tool: &str, versions: Vec<String>) -> Option<Self> {
        (!versions.is_empty()).then(|| AdminAction::ToolDelete {
            tool: tool.to_owned(),
            versions,
        })
    }

    pub(crate) fn key_created(key: &crate::keys::ApiKey) -> Self {
        AdminAction::KeyCreate {
            key_id: key.id.clone(),
            name: key.name.clone(),
            role: key.role.as_str().to_owned(),
            expires_at_ms: key.expires_at_ms,
        }
    }

    pub(crate) fn key_revoked(key: &crate::keys::ApiKey) -> Self {
        AdminAction::KeyRevoke {
            key_id: key.id.clone(),
            name: key.name.clone(),
            role: key.role.as_str().to_owned(),
        }
    }
}

impl AdminAction {
    pub fn kind(&self) -> &'static str {
        match self {
            AdminAction::ToolPublish { .. } => "tool.publish",
            AdminAction::ToolDelete { .. } => "tool.delete",
            AdminAction::ToolQuarantine { .. } => "tool.quarantine",
            AdminAction::ToolRelease { .. } => "tool.release",
            AdminAction::PolicySet { .. } => "policy.set",
            AdminAction::PolicyReload { .. } => "policy.reload",
            AdminAction::KeyCreate { .. } => "key.create",
            AdminAction::KeyRevoke { .. } => "key.revoke",
            AdminAction::ServerStart { .. } => "server.start",
            AdminAction::ServerStop { .. } => "server.stop",
            AdminAction::AuditTampered { .. } => "audit.tampered",
            AdminAction::DecisionsApply { .. } => "decisions.apply",
            AdminAction::DecisionsRemove { .. } => "decisions.remove",
            AdminAction::DecisionDeny { .. } => "decision.deny",
            AdminAction::ApprovalRequest { .. } => "approval.request",
            AdminAction::ApprovalGrant { .. } => "approval.grant",
            AdminAction::ApprovalDeny { .. } => "approval.deny",
            AdminAction::AlertRaise { .. } => "alert.raise",
            AdminAction::CallerSuspend { .. } => "caller.suspend",
            AdminAction::CallerResume { .. } => "caller.resume",
        }
    }

    /// The tool the action concerns, if any.
    pub fn tool(&self) -> Option<&str> {
        match self {
            AdminAction::ToolPublish { tool, .. }
            | AdminAction::ToolDelete { tool, .. }
            | AdminAction::ToolQuarantine { tool, .. }
            | AdminAction::ToolRelease { tool }
            | AdminAction::PolicySet { tool, .. }
            | AdminAction::ApprovalRequest { tool, .. }
            | AdminAction::ApprovalGrant { tool, .. }
            | AdminAction::ApprovalDeny { tool, .. } => Some(tool),
            // A key change concerns no tool.
            AdminAction::DecisionDeny { tool, .. } if !tool.is_empty() => Some(tool),
            _ => None,
        }
    }
}

/// An administrative event: its canonical JSON is what the chain hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AdminEvent {
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub actor: Actor,
    pub action: AdminAction,
}

impl AdminEvent {
    pub fn new(at_ms: i64, actor: &Actor, action: AdminAction) -> Self {
        AdminEvent {
            at_ms,
            actor: actor.clone(),
            action,
        }
    }

    /// The canonical JSON the chain hashes.
    pub fn canonical(&self) -> String {
        // Serializing plain strings, integers and vectors cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// One link of the log as listed and exported: an execution or an administrative event, its
/// place in the chain and its hashes. `kind`, `at_ms`, `actor` and `tool` are read from the
/// hashed content (`execution` or `event`), never from anywhere else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    pub seq: i64,
    /// `execution`, or the administrative action (`tool.publish`, `key.revoke`, ...).
    pub kind: String,
    /// When it happened (an execution: when it started), ms since the Unix epoch.
    pub at_ms: i64,
    pub actor: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// The execution record, for `kind = execution`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<NewExecution>,
    /// The administrative event, for every other kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<AdminEvent>,
    pub prev_hash: String,
    pub hash: String,
}

impl Event {
    pub fn of_execution(seq: i64, e: NewExecution, prev_hash: String, hash: String) -> Self {
        Event {
            seq,
            kind: "execution".into(),
            at_ms: e.started_at_ms,
            actor: Actor {
                key_id: e.caller.clone(),
                name: e.caller_name.clone().unwrap_or_default(),
            },
            tool: Some(e.tool.clone()),
            execution: Some(e),
            event: None,
            prev_hash,
            hash,
        }
    }

    pub fn of_admin(seq: i64, e: AdminEvent, prev_hash: String, hash: String) -> Self {
        Event {
            seq,
            kind: e.action.kind().into(),
            at_ms: e.at_ms,
            actor: e.actor.clone(),
            tool: e.action.tool().map(str::to_owned),
            execution: None,
            event: Some(e),
            prev_hash,
            hash,
        }
    }

    /// The canonical body the chain hashes, rebuilt from the content this event carries, and
    /// whether the summary fields (`kind`, `at_ms`, `actor`, `tool`) agree with it. `None` when
    /// it carries neither or both bodies.
    pub fn canonical(&self) -> Option<(String, bool)> {
        let again = match (&self.execution, &self.event) {
            (Some(e), None) => Event::of_execution(0, e.clone(), String::new(), String::new()),
            (None, Some(e)) => Event::of_admin(0, e.clone(), String::new(), String::new()),
            _ => return None,
        };
        let body = match (&self.execution, &self.event) {
            (Some(e), None) => crate::record::canonical(e).ok()?,
            (None, Some(e)) => e.canonical(),
            _ => return None,
        };
        let agrees = again.kind == self.kind
            && again.at_ms == self.at_ms
            && again.actor == self.actor
            && again.tool == self.tool;
        Some((body, agrees))
    }
}

/// Filters for listing events; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// `execution` or an administrative kind.
    pub kind: Option<String>,
    /// Key id of the actor (the caller, for executions).
    pub actor: Option<String>,
    pub tool: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Newest first, older than this sequence number (the previous page's cursor).
    pub before_seq: Option<i64>,
    /// Oldest first, newer than this sequence number (following the log).
    pub after_seq: Option<i64>,
    pub limit: u32,
}
