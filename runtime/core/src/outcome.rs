//! How a call ended ([`Outcome`]), what it consumed ([`Usage`]) and the whole result
//! ([`Execution`]) that goes back to the caller and into the logs.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Every call ends in exactly one of these. The names are stable: callers, metrics and the
/// execution log match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// The tool returned JSON output within every limit.
    Ok,
    /// The input was refused: not JSON, too large, or the tool said it does not fit.
    InvalidInput,
    /// The tool ran and reported a failure, or returned output that is not JSON.
    ToolError,
    /// The instruction budget ran out.
    FuelExhausted,
    /// The tool tried to grow its memory (or tables) beyond the limit and could not go on.
    MemoryExceeded,
    /// The wall-clock deadline passed, whether the guest was computing or waiting.
    Timeout,
    /// The tool's output was larger than the limit.
    OutputTooLarge,
    /// The guest trapped: panic, `unreachable`, stack overflow, or it called `exit`.
    Trap,
    /// The host failed; not the tool's fault.
    HostError,
    /// Stopped at someone's request before it ended: its caller (MCP `notifications/cancelled`,
    /// `DELETE /v1/executions/{id}`, a dropped connection) or an admin. Its usage is what it
    /// used until then.
    Cancelled,
    /// The node running it stopped (or died) before it ended; recorded at the stop, or by a
    /// node that finds it abandoned.
    Interrupted,
    /// The tool cannot finish without input from the caller's client (contract 0.2.0): the
    /// round ended asking, and the caller calls again with the answers.
    InputRequired,
    /// It never ran: the operator's decisions held it for a person's approval, and it was
    /// refused or its approval expired (docs/decisions.md).
    Denied,
    /// It ran, but its output was withheld: the policy's `[output]` scan found what it blocks
    /// (docs/detection.md). The findings say what and where, never the values.
    Blocked,
}

impl Outcome {
    /// The stable name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::InvalidInput => "invalid_input",
            Outcome::ToolError => "tool_error",
            Outcome::FuelExhausted => "fuel_exhausted",
            Outcome::MemoryExceeded => "memory_exceeded",
            Outcome::Timeout => "timeout",
            Outcome::OutputTooLarge => "output_too_large",
            Outcome::Trap => "trap",
            Outcome::HostError => "host_error",
            Outcome::Cancelled => "cancelled",
            Outcome::Interrupted => "interrupted",
            Outcome::InputRequired => "input_required",
            Outcome::Denied => "denied",
            Outcome::Blocked => "blocked",
        }
    }

    /// Every outcome, in declaration order.
    pub const ALL: [Outcome; 14] = [
        Outcome::Ok,
        Outcome::InvalidInput,
        Outcome::ToolError,
        Outcome::FuelExhausted,
        Outcome::MemoryExceeded,
        Outcome::Timeout,
        Outcome::OutputTooLarge,
        Outcome::Trap,
        Outcome::HostError,
        Outcome::Cancelled,
        Outcome::Interrupted,
        Outcome::InputRequired,
        Outcome::Denied,
        Outcome::Blocked,
    ];

    /// True for the outcomes where the host stopped the guest for breaking a limit.
    pub fn is_limit_kill(self) -> bool {
        matches!(
            self,
            Outcome::FuelExhausted
                | Outcome::MemoryExceeded
                | Outcome::Timeout
                | Outcome::OutputTooLarge
        )
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one call consumed. Figures are measured by the host, never reported by the guest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Usage {
    /// Fuel units the guest burned (instantiation included).
    pub fuel_consumed: u64,
    /// Largest total linear memory the instance held at any moment, in bytes.
    pub peak_memory_bytes: u64,
    /// From the start of instantiation to the end of the call, in microseconds.
    pub wall_time_us: u64,
    /// Size of the input JSON.
    pub input_bytes: u64,
    /// Size of the output JSON (or of the guest's error message); 0 when there was none.
    pub output_bytes: u64,
    /// Bytes the guest wrote to stdout, including any beyond the capture limit.
    pub stdout_bytes: u64,
    /// Bytes the guest wrote to stderr, including any beyond the capture limit.
    pub stderr_bytes: u64,
    /// True when stdout went past the capture limit and the rest was dropped.
    #[serde(default, skip_serializing_if = "is_false")]
    pub stdout_truncated: bool,
    /// True when stderr went past the capture limit and the rest was dropped.
    #[serde(default, skip_serializing_if = "is_false")]
    pub stderr_truncated: bool,
    /// Outbound HTTP requests the guest attempted (allowed or denied).
    pub http_requests: u64,
    /// Every operation the policy refused during the call.
    pub denials: Vec<Denial>,
    /// Credentials the host attached to the call's requests (never their values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<CredentialUse>,
    /// Progress reports the guest made (`cordon:tool/progress`), forwarded to the caller or not.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub progress_reports: u64,
    /// Log messages the guest wrote (contract 0.2.0 `log`), passed on to the caller or not.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub log_messages: u64,
}

/// A credential the host attached, to which destination, how many times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CredentialUse {
    /// `scheme://host:port`.
    pub destination: String,
    /// The header set (lower-case).
    pub header: String,
    /// The secret store entries its value was made from.
    pub secrets: Vec<String>,
    /// Requests it was attached to.
    pub requests: u64,
}

/// What kind of capability a denied operation wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DenialKind {
    Network,
    Filesystem,
    Env,
    /// Input asked of the caller's client that the policy's `[ask]` does not allow.
    Ask,
}

/// One operation the policy refused. The guest got an ordinary error for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Denial {
    pub kind: DenialKind,
    /// What was asked for: a URL, a path, a variable name.
    pub target: String,
    /// Why it was refused, in one line.
    pub reason: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The result of one call: what the caller gets back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    pub outcome: Outcome,
    /// Hex sha256 of the component that ran (without its signature section).
    pub digest: String,
    /// Key id of the signature the component was admitted with; `None` when it ran unsigned
    /// (local development only).
    pub signer: Option<String>,
    /// The tool's JSON output (its structured output, for contract 0.2.0); only for
    /// [`Outcome::Ok`], and absent when a 0.2.0 tool answered with content blocks alone.
    pub output: Option<serde_json::Value>,
    /// Content blocks (contract 0.2.0): text, images, audio, resource links and embedded
    /// resources; only for [`Outcome::Ok`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content: Vec<crate::reply::Content>,
    /// What the tool asks for before it can finish; only for [`Outcome::InputRequired`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_required: Option<crate::reply::InputRequired>,
    /// A one-line reason for every outcome other than `ok`.
    pub error: Option<String>,
    pub usage: Usage,
    /// What the guest wrote to stdout and stderr (up to the capture limit), lossily decoded.
    /// Kept for the operator's logs; not part of the caller's JSON answer.
    #[serde(skip)]
    pub stdout: String,
    #[serde(skip)]
    pub stderr: String,
}

impl Execution {
    /// A call that ended before anything ran (for example input refused by the host).
    pub fn refused(
        outcome: Outcome,
        error: impl Into<String>,
        usage: Usage,
        digest: String,
        signer: Option<String>,
    ) -> Self {
        Execution {
            outcome,
            digest,
            signer,
            output: None,
            content: Vec::new(),
            input_required: None,
            error: Some(error.into()),
            usage,
            stdout: String::new(),
            stderr: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_names_are_stable_and_match_serde() {
        let names: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(
            names,
            [
                "ok",
                "invalid_input",
                "tool_error",
                "fuel_exhausted",
                "memory_exceeded",
                "timeout",
                "output_too_large",
                "trap",
                "host_error",
                "cancelled",
                "interrupted",
                "input_required",
                "denied",
                "blocked"
            ]
        );
        for o in Outcome::ALL {
            assert_eq!(
                serde_json::to_value(o).unwrap(),
                serde_json::Value::String(o.as_str().into())
            );
        }
    }
}
