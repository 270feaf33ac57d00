//! Detection rules (docs/detection.md): what happens on a node (a denial, an authentication
//! failure, a request over a rate limit or a call over a quota, a finding in a tool's output, a
//! tool failing, the chain found broken) is counted per rule over a sliding window, per tool,
//! caller or address, across every node sharing the store; a rule that reaches its count acts:
//! it raises an alert, quarantines the tool, suspends the caller. Each act is an administrative
//! change like any other, with the rule as its actor and the evidence.
//!
//! - `rules`: `[[detect.rules]]` in the config file, and the rules that ship on by default;
//! - `tally`: what this node counted since it last added to the store;
//! - `flush`: adding the tallies to the store, which says which rules reached their counts;
//! - `act`: what a rule that fires does.

pub mod act;
pub mod flush;
pub mod rules;
pub mod tally;
