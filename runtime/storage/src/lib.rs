//! Embedded storage for the cordon server, in one data directory:
//!
//! - `cordon.db`: SQLite in WAL mode with `synchronous = FULL` (a committed write survives a
//!   crash or power loss); holds the audit log of executions and administrative events
//!   ([`log`], [`events`], one hash chain: [`chain`]), the tool registry ([`registry`]), API
//!   keys ([`keys`]) and quota counters ([`quota`]).
//! - `blobs/<sha256>`: published components, content-addressed.
//! - `secrets.json`: the secret store ([`secrets`]), each value encrypted at rest.
//!
//! The server sees only the [`Storage`] trait ([`backend`]); [`Embedded`] implements it with the
//! types below, and [`Postgres`] ([`pg`]) with one PostgreSQL database that several stateless
//! nodes share. Both pass the same conformance suite (`conformance.rs`).

pub mod alerts;
pub mod approvals;
pub mod backend;
pub mod chain;
mod changes;
mod checks;
#[cfg(test)]
mod conformance;
#[cfg(test)]
mod conformance_alerts;
#[cfg(test)]
mod conformance_batches;
#[cfg(test)]
mod conformance_detect;
#[cfg(test)]
mod conformance_seals;
pub mod decisions;
pub mod detect;
mod error;
mod event_row;
pub mod events;
pub mod keys;
pub mod log;
mod log_row;
mod log_verify;
pub mod nodes;
pub mod pg;
pub mod quota;
pub mod record;
pub mod registry;
mod schema;
pub mod seal;
pub mod secrets;
pub mod suspensions;
pub mod task_input;
pub mod tasks;

pub use alerts::{Alert, AlertView, Attempt, Delivery, DeliveryState, Due};
pub use approvals::{ApprovalRow, ApprovalState, Decided};
pub use backend::{Embedded, Storage};
pub use chain::{ChainReport, Claim};
pub use changes::Change;
pub use decisions::{DecisionBundle, InForce};
pub use detect::{Reached, Tally};
pub use error::StorageError;
pub use events::{Actor, AdminAction, AdminEvent, EVENT_KINDS, Event, EventFilter};
pub use keys::{ApiKey, KeySpec, KeyStore, KeyTable, NewKey, last_used_is_stale};
pub use log::ExecutionLog;
pub use log_verify::StoredCheckpoint;
pub use nodes::NodeRow;
pub use pg::Postgres;
pub use quota::{QuotaDecision, QuotaRefusal, QuotaRequest, QuotaScope, QuotaStore, QuotaUse};
pub use record::{Appended, Exchange, ExecutionRecord, Filter, NewExecution, Prepared};
pub use registry::{Quarantine, Registry, ToolRecord};
pub use schema::SCHEMA_VERSION;
pub use seal::{Sealer, StoredSeal};
pub use secrets::{SecretError, SecretStore};
pub use suspensions::Suspension;
pub use task_input::Waiting;
pub use tasks::{Abandoned, NewTask, TaskEnd, TaskRow, TaskStore};
