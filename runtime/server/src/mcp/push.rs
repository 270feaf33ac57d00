//! Asking a client of an older revision (2025-11-25 and before) on the request's stream: what
//! a tool's round asks (`elicitation/create`, `sampling/createMessage`, `roots/list`) is sent
//! to the client as its own requests, one after another, and its answers are taken up by the
//! tool's next round, exactly as a 2026-07-28 client's `inputResponses` are. Only a session's
//! client (`sessions.rs`) is asked, and only for what its `initialize` declared.

use rmcp::RoleServer;
use rmcp::model::{JsonObject, ServerRequest};
use rmcp::service::Peer;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long the client has to answer a round's requests: a person may be answering. Past it,
/// the round's sealed state would be close to expiring anyway (15 minutes).
pub const ANSWER_WITHIN: Duration = Duration::from_secs(10 * 60);

/// The most rounds one call asks on the stream: a tool that keeps asking ends there.
pub const MAX_ROUNDS: usize = 16;

/// A session's client and what it declared it answers.
#[derive(Debug, Clone)]
pub struct Push {
    peer: Peer<RoleServer>,
    asking: cordon_core::Asking,
}

impl Push {
    pub fn new(peer: Peer<RoleServer>, asking: cordon_core::Asking) -> Self {
        Push { peer, asking }
    }

    /// What the client declared it answers (the tool is told so).
    pub fn asking(&self) -> cordon_core::Asking {
        self.asking
    }

    /// Asks the client each request (MCP requests under their keys), in order; its answers
    /// under the same keys, or why it could not be asked or did not answer.
    pub async fn ask(&self, requests: &BTreeMap<String, Value>) -> Result<JsonObject, String> {
        // One deadline for the round's requests: their answers must come back while its state
        // holds.
        let deadline = tokio::time::Instant::now() + ANSWER_WITHIN;
        let mut answers = JsonObject::new();
        for (key, request) in requests {
            let method = request["method"].as_str().unwrap_or_default();
            let url = request["params"]["mode"] == "url";
            let (declared, what) = match method {
                "elicitation/create" if url => (self.asking.elicit_url, "URL elicitation"),
                "elicitation/create" => (self.asking.elicit_form, "form elicitation"),
                "sampling/createMessage" => (self.asking.sample, "sampling"),
                _ => (self.asking.list_roots, "roots"),
            };
            if !declared {
                return Err(format!(
                    "the tool asks for {what}, which this client did not declare"
                ));
            }
            let sent: ServerRequest = serde_json::from_value(request.clone())
                .map_err(|e| format!("the tool's request {key:?} is not one MCP carries: {e}"))?;
            let answer = tokio::time::timeout_at(deadline, self.peer.send_request(sent))
                .await
                .map_err(|_| {
                    format!(
                        "the client did not answer the round's requests within {} s",
                        ANSWER_WITHIN.as_secs()
                    )
                })?
                .map_err(|e| format!("the client did not answer {method}: {e}"))?;
            let answer = serde_json::to_value(answer)
                .map_err(|e| format!("the client's answer to {method}: {e}"))?;
            answers.insert(key.clone(), answer);
        }
        Ok(answers)
    }
}
