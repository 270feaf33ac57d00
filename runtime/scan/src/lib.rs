//! Scanning what a tool returns, before it reaches its caller (`[output]` in a tool's policy,
//! docs/detection.md): `secrets`, `pii` and `injection` detectors, all in process (regular
//! expressions and an Aho-Corasick automaton compiled once, checksums where a format has one),
//! no network. A scan reports findings (detector, kind, JSON path, count, risk), never the
//! matched values, and can redact each match in place.
//!
//! - `checks`: Luhn, IBAN, entropy, and what makes a value look generated;
//! - `pattern`: one detector pattern and the check a match must pass;
//! - `secrets`, `pii`, `injection`: the detectors' patterns, each with its limits;
//! - `matcher`: the compiled detectors, matching and redaction over one text;
//! - `walk`: a scan over an answer (JSON output, content text, messages), with its findings.

mod checks;
mod injection;
mod matcher;
mod pattern;
mod pii;
mod secrets;
mod walk;

#[cfg(test)]
mod tests;

pub use matcher::{Hit, find, redact};
pub use walk::{Scan, risk};
