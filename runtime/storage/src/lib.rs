//! Embedded storage for the cordon server, in one data directory:
//!
//! - `cordon.db`: SQLite in WAL mode with `synchronous = FULL` (a committed write survives a
//!   crash or power loss); holds the execution log ([`log`]), the tool registry ([`registry`])
//!   and API keys ([`keys`]).
//! - `blobs/<sha256>`: published components, content-addressed.
//!
//! The server sees only the [`Storage`] trait ([`backend`]); [`Embedded`] implements it with the
//! types below, and another backend (PostgreSQL, for several stateless nodes sharing one log)
//! can replace it without touching the server.

pub mod backend;
mod error;
pub mod keys;
pub mod log;
mod log_row;
pub mod registry;
mod schema;

pub use backend::{Embedded, Storage};
pub use error::StorageError;
pub use keys::{ApiKey, KeyStore, NewKey};
pub use log::{ChainReport, ExecutionLog, ExecutionRecord, Filter, NewExecution};
pub use registry::{Quarantine, Registry, ToolRecord};
pub use schema::SCHEMA_VERSION;
