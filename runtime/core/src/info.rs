//! What a tool says about itself through `describe()`, after the host has checked it.

use serde::{Deserialize, Serialize};

/// A tool's self-description. The schemas are parsed JSON, not text: `describe()` output that is
/// not JSON is refused when the tool is loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
    /// A name for people, when it differs from `name` (contract 0.2.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub description: String,
    /// JSON Schema of the input object.
    pub input_schema: serde_json::Value,
    /// JSON Schema of the output, when the tool declares one.
    pub output_schema: Option<serde_json::Value>,
    /// How the tool says it behaves (contract 0.2.0): hints for a client, never trusted by the
    /// host, which states what the policy grants instead where the two meet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hints: Option<Hints>,
    /// Whether its calls may, or must, be MCP tasks (contract 0.2.0; `optional` before).
    #[serde(default)]
    pub task_support: TaskSupport,
}

/// A tool's own hints about how it behaves (MCP's tool annotations).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hints {
    pub read_only: Option<bool>,
    pub destructive: Option<bool>,
    pub idempotent: Option<bool>,
    pub open_world: Option<bool>,
}

/// How the calls of a tool reach MCP clients of the tasks extension
/// (`io.modelcontextprotocol/tasks`, 2026-07-28). Over REST a caller chooses for itself
/// (`Prefer: respond-async`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskSupport {
    /// Always answered in the request, however long the call takes.
    Forbidden,
    /// A call still running after a moment becomes a task; a quicker one is answered in the
    /// request. What every tool of contract 0.1.0 gets.
    #[default]
    Optional,
    /// Like `optional`, and a client that does not take tasks is refused (MCP's "missing
    /// required client capability"): the tool runs longer than a request should wait.
    Required,
}

impl TaskSupport {
    /// The name MCP and the CLI show.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskSupport::Forbidden => "forbidden",
            TaskSupport::Optional => "optional",
            TaskSupport::Required => "required",
        }
    }
}
