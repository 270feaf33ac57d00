//! Decisions as code (docs/decisions.md): the operator's Rego bundle, in force on every node,
//! decides each call beside the tools' `[access]` rules.
//!
//! - `current`: the bundle this node holds (compiled once per change), or none;
//! - `document`: the input document a decision reads, built from the request;
//! - `enforce`: the check every call passes in admission, and the listings' filter;
//! - `changes`: the same check over an operator's changes (publish, policy, keys);
//! - `apply`: the one path that changes the bundle (`PUT`/`DELETE /v1/decisions`), and how a
//!   node follows the store;
//! - `held`: calls the bundle holds for a person's approval, stored to run later on any node;
//! - `approvals`: who may approve, the decision (made once), the run or the `denied` record
//!   that follows, and the expiry of calls nobody decided on;
//! - `view`: a held call as the API shows it.

pub mod apply;
pub mod approvals;
pub mod changes;
pub mod current;
pub mod document;
pub mod enforce;
pub mod held;
pub mod view;
