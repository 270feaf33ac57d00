//! The record: the group commit of execution records (`journal`), what it hands over
//! (`committed`), the log key with its checkpoints and receipts (`audit_log`), and links held
//! against their seals before anything is signed over them (`sealed`).

pub mod audit_log;
pub mod committed;
pub mod journal;
pub mod sealed;
