//! What a tool says about itself through `describe()`, after the host has checked it.

use serde::{Deserialize, Serialize};

/// A tool's self-description. The schemas are parsed JSON, not text: `describe()` output that is
/// not JSON is refused when the tool is loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
    pub description: String,
    /// JSON Schema of the input object.
    pub input_schema: serde_json::Value,
    /// JSON Schema of the output, when the tool declares one.
    pub output_schema: Option<serde_json::Value>,
}
