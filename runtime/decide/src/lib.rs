//! Decisions as code: an operator's Rego bundle decides whether a call may run, over a
//! document describing the call (who calls, which tool, with which arguments, from where and
//! when). Evaluated in process with `regorus`, from memory, compiled once per bundle.
//!
//! The bundle's package (`cordon` unless its manifest names another) answers with:
//! - `allow`: a boolean; the call runs only when it is `true` (undefined is `false`);
//! - `deny`: a set of reasons; any reason refuses the call, and is told to the caller;
//! - `approval`: an object (`approvers`, `timeout_secs`) when a person must approve first.
//!
//! An evaluation that fails (a runtime error, a time limit) denies: it never allows.

mod bundle;
mod decider;
pub mod document;
mod error;
mod explain;
mod input;
mod tests_runner;

pub use bundle::{Bundle, MANIFEST, Module};
pub use decider::{Approval, Decider, Decision};
pub use error::DecideError;
pub use explain::fired;
pub use input::{INPUT_SCHEMA, schema};
pub use tests_runner::{TestOutcome, run_tests};
