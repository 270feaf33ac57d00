//! The tool policy's `[output]` scan (docs/detection.md) over a call's answer, before the
//! answer is recorded and returned: its structured output, its content blocks' text and, for a
//! tool's own error, its message. `redact` replaces each match in the answer; `block` withholds
//! the answer (outcome `blocked`); `flag` keeps it. Whichever, the findings (kinds, paths,
//! counts, never values) go in the answer and in the record.
//!
//! A tool without `[output]` pays nothing: nothing here runs.

use crate::calls::live::LiveTool;
use cordon_core::network::NetworkPolicy;
use cordon_core::{
    Content, Embedded, Execution, Finding, LogMessage, Outcome, OutputAction, OutputPolicy,
    Progress,
};
use cordon_scan::Scan;
use std::sync::{Arc, Mutex, PoisonError};

/// Scans `exec`'s answer under `tool`'s policy, redacting or withholding it as the policy says,
/// and returns what was found there and (`messages`) in the call's progress and log messages.
pub fn answer(tool: &LiveTool, exec: &mut Execution, messages: Vec<Finding>) -> Vec<Finding> {
    let policy = &tool.policy.output;
    if !policy.scans() {
        return Vec::new();
    }
    let reachable = |host: &str| tool.policy.network.names_host(host);
    let mut scan = Scan::new(
        &policy.scan,
        &reachable,
        policy.action == OutputAction::Redact,
    );
    if let Some(output) = exec.output.as_mut() {
        scan.value(output, "$.output");
    }
    for (i, block) in exec.content.iter_mut().enumerate() {
        match block {
            Content::Text { text } => scan.text(text, &format!("$.content[{i}].text")),
            Content::Resource {
                resource: Embedded::Text { text, .. },
            } => scan.text(text, &format!("$.content[{i}].resource.text")),
            _ => {}
        }
    }
    if exec.outcome == Outcome::ToolError
        && let Some(error) = exec.error.as_mut()
    {
        scan.text(error, "$.error");
    }
    let mut findings = scan.findings();
    findings.extend(messages);
    if policy.action == OutputAction::Block && !findings.is_empty() {
        let mut kinds: Vec<&str> = findings.iter().map(|f| f.kind.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        exec.outcome = Outcome::Blocked;
        exec.output = None;
        exec.content.clear();
        exec.input_required = None;
        exec.error = Some(format!(
            "blocked: the tool's output was withheld because its policy's output scan found {} (the findings say where)",
            kinds.join(", ")
        ));
    }
    findings
}

/// The scan of a running call's progress and log messages, which reach an MCP client (and the
/// task's last progress) while the call runs: each is scanned as it is made, redacted or
/// withheld as the policy says, and what was found is added to the answer's findings
/// (`$.progress.message`, `$.logs.data`), counted over all the messages.
pub struct Messages {
    policy: OutputPolicy,
    network: NetworkPolicy,
    found: Mutex<Vec<Finding>>,
}

impl std::fmt::Debug for Messages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Messages")
            .field("scan", &self.policy.scan)
            .finish_non_exhaustive()
    }
}

impl Messages {
    /// The scan for `tool`'s calls; none when its policy scans nothing.
    pub fn of(tool: &LiveTool) -> Option<Arc<Messages>> {
        tool.policy.output.scans().then(|| {
            Arc::new(Messages {
                policy: tool.policy.output.clone(),
                network: tool.policy.network.clone(),
                found: Mutex::new(Vec::new()),
            })
        })
    }

    /// Scans one message's `value` at `path`; returns whether it may be passed on (a finding
    /// under `block` withholds it).
    fn scan(&self, value: &mut serde_json::Value, path: &str) -> bool {
        let reachable = |host: &str| self.network.names_host(host);
        let redact = self.policy.action == OutputAction::Redact;
        let mut scan = Scan::new(&self.policy.scan, &reachable, redact);
        scan.value(value, path);
        let found = scan.findings();
        if found.is_empty() {
            return true;
        }
        let mut all = self.found.lock().unwrap_or_else(PoisonError::into_inner);
        for f in found {
            match all
                .iter_mut()
                .find(|a| a.detector == f.detector && a.kind == f.kind && a.path == f.path)
            {
                Some(a) => a.count = a.count.saturating_add(f.count),
                None => all.push(f),
            }
        }
        self.policy.action != OutputAction::Block
    }

    /// A progress report as it may be passed on: its message redacted, or removed under
    /// `block` when it matched.
    pub fn progress(&self, p: &Progress) -> Progress {
        if p.message.is_empty() {
            return p.clone();
        }
        let mut message = serde_json::Value::String(p.message.clone());
        let keep = self.scan(&mut message, "$.progress.message");
        Progress {
            message: match message {
                serde_json::Value::String(m) if keep => m,
                _ => String::new(),
            },
            ..p.clone()
        }
    }

    /// A log message as it may be passed on, or none when `block` withholds it.
    pub fn log(&self, m: &LogMessage) -> Option<LogMessage> {
        let mut data = m.data.clone();
        self.scan(&mut data, "$.logs.data")
            .then(|| LogMessage { data, ..m.clone() })
    }

    /// What the messages so far held.
    pub fn findings(&self) -> Vec<Finding> {
        self.found
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
