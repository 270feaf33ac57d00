//! Per-call resource limits, their conservative defaults and the server-wide caps.
//!
//! Every call runs under one [`Limits`] value. It starts from [`Limits::default`] (the closed,
//! conservative default a tool gets without a policy), a policy may override single values, and
//! no value may exceed the server-wide caps ([`Limits::server_caps`]). The reason for every
//! number is written next to it.

use serde::{Deserialize, Serialize};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// The limits one call runs under. All of them are enforced by the host, none by the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Instruction budget (wasmtime fuel: roughly one unit per executed wasm instruction).
    /// Deterministic CPU bound: the same input always stops at the same point.
    pub fuel: u64,
    /// Linear memory, summed over every memory of the instance, in bytes.
    pub memory_bytes: u64,
    /// Elements over all tables (function tables of the component's core modules).
    pub table_elements: u64,
    /// Core wasm instances one component may create (a Rust tool needs 3 to 5).
    pub instances: u64,
    /// Wall-clock deadline for the whole call, including time spent blocked in host calls
    /// (sleeps, HTTP), in milliseconds.
    pub timeout_ms: u64,
    /// Largest input JSON accepted, in bytes. Checked before anything is instantiated.
    pub max_input_bytes: u64,
    /// Largest output JSON (or guest error message) accepted, in bytes.
    pub max_output_bytes: u64,
    /// Captured stdout and stderr, each, in bytes. Beyond it output is counted, dropped, and the
    /// usage report says it was truncated; it is never buffered without bound.
    pub max_log_bytes: u64,
    /// Outbound HTTP requests one call may make (allowed or not; each attempt counts).
    pub max_http_requests: u64,
    /// Largest HTTP response body one request may deliver, in bytes.
    pub max_http_response_bytes: u64,
    /// Progress reports per second passed on to the caller; more are counted and dropped (the
    /// next one that fits carries the newest figures).
    pub progress_per_sec: u64,
    /// Longest progress message passed on, in bytes; a longer one is cut at a character
    /// boundary.
    pub max_progress_message_bytes: u64,
    /// Log messages per second passed on to the caller's client (contract 0.2.0 `log`); more
    /// are counted and dropped.
    pub logs_per_sec: u64,
    /// Largest log message passed on (its data as JSON), in bytes; a larger one is replaced by
    /// a note saying how large it was.
    pub max_log_message_bytes: u64,
}

/// Limits for which zero means something: no progress forwarded at all, or figures without
/// messages. Every other limit at zero would make every call fail, so it is refused.
const ZERO_ALLOWED: [&str; 4] = [
    "progress_per_sec",
    "max_progress_message_bytes",
    "logs_per_sec",
    "max_log_message_bytes",
];

impl Default for Limits {
    /// The closed default a tool gets without a policy.
    fn default() -> Self {
        Limits {
            // 1e9 units is about one second of straight-line guest code: plenty for text and JSON
            // tools, small enough that a runaway loop ends quickly even on a loaded host.
            fuel: 1_000_000_000,
            // 64 MiB holds a Rust or C tool with room for a few MiB of input and output; an
            // interpreter-based tool (Python, JS) needs its policy to raise it.
            memory_bytes: 64 * MIB,
            // Rust components have a few hundred to a few thousand indirect-call targets; 20k
            // leaves headroom while bounding the host memory a table may take (8 bytes each).
            table_elements: 20_000,
            // A component built by wasm-component-ld has one main module plus a few shims.
            instances: 16,
            // Five seconds: tools are called by agents waiting on an answer; a call that needs
            // longer should say so in its policy.
            timeout_ms: 5_000,
            // 1 MiB of JSON is far more than an agent passes to a tool; larger inputs are usually
            // a mistake or an attack on the guest's parser.
            max_input_bytes: MIB,
            // Same reasoning as the input: the caller is promised a bounded answer.
            max_output_bytes: MIB,
            // 64 KiB of logs per stream is enough to diagnose a failure without letting a chatty
            // tool fill the host's memory or the execution log.
            max_log_bytes: 64 * KIB,
            // A tool call that needs more than 16 requests is crawling, not answering.
            max_http_requests: 16,
            // 4 MiB per response: an API answer or a page, not a download (the guest's memory
            // limit bounds what it can hold anyway).
            max_http_response_bytes: 4 * MIB,
            // Ten a second moves a progress bar smoothly; more is noise on the caller's
            // connection.
            progress_per_sec: 10,
            // A status line ("fetched 12 of 40 pages"), not a log: logs go to stderr.
            max_progress_message_bytes: 256,
            // Logs are for a person following a call in their client: ten a second is more
            // than anyone reads, and bounds what a chatty tool pushes down the connection.
            logs_per_sec: 10,
            // A line or a small object; a tool's bulk output belongs in its result.
            max_log_message_bytes: 4 * KIB,
        }
    }
}

impl Limits {
    /// Server-wide caps: the most any policy may grant. Operators may lower them; they bound
    /// what one call can cost the host.
    pub fn server_caps() -> Self {
        Limits {
            // About twenty seconds of guest CPU: a long but finite computation.
            fuel: 20_000_000_000,
            // 1 GiB: the pooling allocator reserves address space for this size per slot, and an
            // interpreter-based tool (Python compiled to a component) needs a few hundred MiB.
            memory_bytes: 1024 * MIB,
            // Interpreters have large function tables; 200k elements is 1.6 MiB of host memory.
            table_elements: 200_000,
            // componentize-py and jco output use more modules than Rust; 64 covers them.
            instances: 64,
            // Thirty minutes: a crawl or a test suite run as one call (asynchronously, with
            // progress and cancellation); anything longer is a batch job, not a tool call.
            timeout_ms: 1_800_000,
            // 16 MiB of input or output JSON.
            max_input_bytes: 16 * MIB,
            max_output_bytes: 16 * MIB,
            // 1 MiB of captured logs per stream.
            max_log_bytes: MIB,
            // 256 requests and 64 MiB per response bound what one call can pull through the host.
            max_http_requests: 256,
            max_http_response_bytes: 64 * MIB,
            // A hundred a second and 4 KiB each bound what a guest can push at a caller.
            progress_per_sec: 100,
            max_progress_message_bytes: 4 * KIB,
            // As for progress: what a guest can push at a caller stays bounded.
            logs_per_sec: 100,
            max_log_message_bytes: 64 * KIB,
        }
    }

    /// Checks that every value is non-zero (but those in [`ZERO_ALLOWED`]) and within `caps`,
    /// naming the first offender.
    pub fn check_within(&self, caps: &Limits) -> Result<(), LimitError> {
        for (name, value, cap) in self.named_pairs(caps) {
            if value == 0 && !ZERO_ALLOWED.contains(&name) {
                return Err(LimitError::Zero { name });
            }
            if value > cap {
                return Err(LimitError::OverCap { name, value, cap });
            }
        }
        Ok(())
    }

    /// The limits as (key, own value, cap value) triples, in the policy file's key names.
    fn named_pairs(&self, caps: &Limits) -> [(&'static str, u64, u64); 14] {
        [
            ("fuel", self.fuel, caps.fuel),
            ("memory_bytes", self.memory_bytes, caps.memory_bytes),
            ("table_elements", self.table_elements, caps.table_elements),
            ("instances", self.instances, caps.instances),
            ("timeout_ms", self.timeout_ms, caps.timeout_ms),
            (
                "max_input_bytes",
                self.max_input_bytes,
                caps.max_input_bytes,
            ),
            (
                "max_output_bytes",
                self.max_output_bytes,
                caps.max_output_bytes,
            ),
            ("max_log_bytes", self.max_log_bytes, caps.max_log_bytes),
            (
                "max_http_requests",
                self.max_http_requests,
                caps.max_http_requests,
            ),
            (
                "max_http_response_bytes",
                self.max_http_response_bytes,
                caps.max_http_response_bytes,
            ),
            (
                "progress_per_sec",
                self.progress_per_sec,
                caps.progress_per_sec,
            ),
            (
                "max_progress_message_bytes",
                self.max_progress_message_bytes,
                caps.max_progress_message_bytes,
            ),
            ("logs_per_sec", self.logs_per_sec, caps.logs_per_sec),
            (
                "max_log_message_bytes",
                self.max_log_message_bytes,
                caps.max_log_message_bytes,
            ),
        ]
    }
}

/// A limit value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// Zero would make every call fail; it is always a mistake.
    #[error("limits.{name}: must be greater than zero")]
    Zero { name: &'static str },
    /// A policy may not grant more than the server allows.
    #[error("limits.{name}: {value} exceeds the server cap of {cap}")]
    OverCap {
        name: &'static str,
        value: u64,
        cap: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_within_caps() {
        assert_eq!(
            Limits::default().check_within(&Limits::server_caps()),
            Ok(())
        );
    }

    #[test]
    fn over_cap_and_zero_are_named() {
        let caps = Limits::server_caps();
        let mut l = Limits {
            timeout_ms: caps.timeout_ms + 1,
            ..Limits::default()
        };
        assert_eq!(
            l.check_within(&caps).unwrap_err().to_string(),
            "limits.timeout_ms: 1800001 exceeds the server cap of 1800000"
        );
        l.timeout_ms = 0;
        assert_eq!(
            l.check_within(&caps).unwrap_err().to_string(),
            "limits.timeout_ms: must be greater than zero"
        );
        // The progress limits may be zero (the feature off), never over their caps.
        let mut l = Limits {
            progress_per_sec: 0,
            max_progress_message_bytes: 0,
            ..Limits::default()
        };
        assert_eq!(l.check_within(&caps), Ok(()));
        l.progress_per_sec = 101;
        assert_eq!(
            l.check_within(&caps).unwrap_err().to_string(),
            "limits.progress_per_sec: 101 exceeds the server cap of 100"
        );
    }
}
