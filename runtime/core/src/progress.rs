//! A progress report from a running call, as the host passes it on to the caller.

use serde::{Deserialize, Serialize};

/// Where a running call says it is. Every report carries the whole state (not an increment), so
/// a caller that missed some still shows the right figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Progress {
    /// Units of work finished.
    pub done: u64,
    /// Units of work in all, when the tool knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// A short status line from the tool, cut to the policy's `max_progress_message_bytes` and
    /// with secret values redacted.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}
