//! A tool version ready to invoke: its stored record, the compiled component, the policy and
//! limits it runs under, and the validator of its input schema.

use cordon_core::{Limits, Policy};
use cordon_sandbox::Tool;
use cordon_storage::ToolRecord;

/// A tool version ready to invoke.
pub struct LiveTool {
    pub record: ToolRecord,
    pub tool: Tool,
    pub policy: Policy,
    pub limits: Limits,
    /// Compiled from the tool's input schema; inputs are checked before anything runs.
    pub validator: Option<jsonschema::Validator>,
}

impl std::fmt::Debug for LiveTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveTool")
            .field("name", &self.record.name)
            .field("version", &self.record.version)
            .finish_non_exhaustive()
    }
}
