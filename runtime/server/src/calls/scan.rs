//! The tool policy's `[output]` scan (docs/detection.md) over a call's answer, before the
//! answer is recorded and returned: its structured output, its content blocks' text and, for a
//! tool's own error, its message. `redact` replaces each match in the answer; `block` withholds
//! the answer (outcome `blocked`); `flag` keeps it. Whichever, the findings (kinds, paths,
//! counts, never values) go in the answer and in the record.
//!
//! A tool without `[output]` pays nothing: nothing here runs.

use crate::calls::live::LiveTool;
use cordon_core::{Content, Embedded, Execution, Finding, Outcome, OutputAction};
use cordon_scan::Scan;

/// Scans `exec`'s answer under `tool`'s policy, redacting or withholding it as the policy says,
/// and returns what was found.
pub fn answer(tool: &LiveTool, exec: &mut Execution) -> Vec<Finding> {
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
    let findings = scan.findings();
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
