//! What the audit log records of one execution, as the server hands it over and as it is stored
//! (its place in the chain and its hashes), and the canonical body the chain hashes. Plain
//! types: every other module of the log builds on these and none of them on another.

use crate::chain;
use crate::error::StorageError;
use cordon_core::{Outcome, Usage};
use serde::{Deserialize, Serialize};

/// What is recorded about one execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewExecution {
    /// Unique id, returned to the caller.
    pub id: String,
    /// Milliseconds since the Unix epoch.
    pub started_at_ms: i64,
    pub finished_at_ms: i64,
    /// API key id (or `cli`) of whoever asked.
    pub caller: String,
    /// `http`, `mcp`, ...
    pub transport: String,
    pub tool: String,
    pub version: String,
    /// sha256 of the component that ran.
    pub digest: String,
    pub publisher: Option<String>,
    pub signer: Option<String>,
    /// sha256 of the policy the call ran under.
    pub policy_hash: String,
    pub input_bytes: u64,
    pub input_sha256: String,
    /// The raw input, only when the operator enabled storing it.
    pub input: Option<String>,
    pub outcome: Outcome,
    pub error: Option<String>,
    pub usage: Usage,
    /// The caller's key name (absent in records written before names were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_name: Option<String>,
    /// sha256 of the output returned to the caller, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_sha256: Option<String>,
    /// For a call that asked for input (contract 0.2.0), this round's place in the exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<Exchange>,
    /// The hash of the decisions bundle (docs/decisions.md) in force when the call was
    /// allowed; absent when none was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// What the tool policy's `[output]` scan found in the answer (docs/detection.md): kinds,
    /// JSON paths and counts, never the values. Absent when it found nothing or did not run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<cordon_core::Finding>,
    /// The OpenTelemetry trace the call's spans were exported in (docs/observability.md), as 32
    /// hex digits; absent when traces were not exported or the call was not sampled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The SHA-256 fingerprint (`sha256:...`) of the client certificate the caller
    /// authenticated with (docs/identity.md); absent for a key or a token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_certificate: Option<String>,
}

/// One round of a call that asks for input: the round it answers, and hashes of what was
/// answered and asked (never the values: a user's answers may be personal).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Exchange {
    /// The execution id of the round whose questions this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follows: Option<String>,
    /// sha256 of the answers this round was given (`input_responses` as compact JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_sha256: Option<String>,
    /// sha256 of what this round asked (`input_requests` as compact JSON), when it asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asked_sha256: Option<String>,
}

/// A record as stored: the execution, its place in the chain and its hashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExecutionRecord {
    pub seq: i64,
    #[serde(flatten)]
    pub execution: NewExecution,
    pub prev_hash: String,
    pub hash: String,
}

/// What one group commit stored: its records, and the seal signed over them before the
/// commit (`seal.rs`; none when no sealer is set).
#[derive(Debug)]
pub struct Appended {
    pub records: Vec<ExecutionRecord>,
    pub seal: Option<String>,
}

impl ExecutionRecord {
    /// Whether the record's content, chained to its `prev_hash`, still gives its `hash`.
    pub fn matches_its_hash(&self) -> bool {
        canonical(&self.execution)
            .is_ok_and(|body| chain::link_hash(&self.prev_hash, self.seq, &body) == self.hash)
    }
}

/// An execution made ready to append: its canonical body and check bytes, which do not depend
/// on the chain. The server prepares each record on its request's own thread (in parallel, and
/// while the previous group commits), so the log's single writer only chains and stores.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub execution: NewExecution,
    pub(crate) body: String,
    pub(crate) checks: Vec<u8>,
}

impl Prepared {
    pub fn new(execution: NewExecution) -> Result<Self, StorageError> {
        let body = canonical(&execution)?;
        Ok(Prepared {
            checks: chain::field_checks(&body),
            body,
            execution,
        })
    }

    /// Each of `batch`, prepared.
    pub fn all(batch: &[NewExecution]) -> Result<Vec<Self>, StorageError> {
        batch.iter().cloned().map(Prepared::new).collect()
    }

    /// The canonical JSON the record's chain hash will cover.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// Gives the body up (once the record is stored, for its receipt).
    pub fn into_body(self) -> String {
        self.body
    }
}

/// Filters for listing records (`ExecutionLog::list`); all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub tool: Option<String>,
    pub outcome: Option<String>,
    pub caller: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Return records older than this sequence number (the previous page's cursor).
    pub before_seq: Option<i64>,
    pub limit: u32,
}

/// The canonical JSON the chain hashes for an execution.
pub(crate) fn canonical(e: &NewExecution) -> Result<String, StorageError> {
    serde_json::to_string(e).map_err(|e| StorageError::Corrupt(e.to_string()))
}
