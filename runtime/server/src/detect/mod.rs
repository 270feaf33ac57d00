//! Detection rules (docs/detection.md): what happens on this node (a denial, an authentication
//! failure, a finding in a tool's output, a tool failing, the chain found broken) is counted per
//! rule over a sliding window, per tool, caller or address; a rule that reaches its count acts:
//! it raises an alert, quarantines the tool. Each act is an administrative change like any
//! other, with the rule as its actor and the evidence.
//!
//! - `rules`: `[[detect.rules]]` in the config file, and the rules that ship on by default;
//! - `windows`: the counts of this node, and which rules a signal makes fire;
//! - `act`: what a rule that fires does.

pub mod act;
pub mod rules;
pub mod windows;
