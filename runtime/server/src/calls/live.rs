//! A tool version ready to invoke: its stored record, the compiled component, the policy and
//! limits it runs under, and the validator of its input schema.

use cordon_core::{Limits, Policy};
use cordon_sandbox::Tool;
use cordon_storage::ToolRecord;

/// A tool version ready to invoke.
pub struct LiveTool {
    pub record: ToolRecord,
    pub tool: Tool,
    /// What the component says of this tool (title, hints, task support).
    pub info: cordon_core::ToolInfo,
    pub policy: Policy,
    pub limits: Limits,
    /// Compiled from the tool's input schema; inputs are checked before anything runs.
    pub validator: Option<jsonschema::Validator>,
}

impl LiveTool {
    /// Whether a call can act outside its sandbox: reach the network (and with it any
    /// host-held credential, which only travels on an allowed request) or write a mount. Such a
    /// call leaves a durable trace before it runs (`api/execute.rs`), so that a node dying under
    /// it still gets it recorded.
    pub fn acts_outside(&self) -> bool {
        acts_outside(&self.policy)
    }
}

/// Whether a tool under `policy` can act outside its sandbox (`LiveTool::acts_outside`).
pub fn acts_outside(policy: &Policy) -> bool {
    !policy.network.allow.is_empty()
        || !policy.credentials.is_empty()
        || policy.mounts.iter().any(|m| m.writable)
}

impl std::fmt::Debug for LiveTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveTool")
            .field("name", &self.record.name)
            .field("version", &self.record.version)
            .finish_non_exhaustive()
    }
}
