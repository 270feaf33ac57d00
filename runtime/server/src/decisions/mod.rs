//! Decisions as code (docs/decisions.md): the operator's Rego bundle, in force on every node,
//! decides each call beside the tools' `[access]` rules.
//!
//! - `current`: the bundle this node holds (compiled once per change), or none;
//! - `document`: the input document a decision reads, built from the request;
//! - `enforce`: the check every call passes in admission, and the listings' filter;
//! - `apply`: the one path that changes the bundle (`PUT`/`DELETE /v1/decisions`), and how a
//!   node follows the store.

pub mod apply;
pub mod current;
pub mod document;
pub mod enforce;
