//! Embedded storage for the cordon server, in one data directory:
//!
//! - `cordon.db`: SQLite in WAL mode with `synchronous = FULL` (a committed write survives a
//!   crash or power loss); holds the execution log ([`log`]), the tool registry ([`registry`])
//!   and API keys ([`keys`]).
//! - `blobs/<sha256>`: published components, content-addressed.
//!
//! Everything goes through this crate's narrow API so another backend (PostgreSQL, for several
//! stateless nodes sharing one log) can replace it without touching the server.

mod error;
pub mod keys;
pub mod log;
pub mod registry;
mod schema;

pub use error::StorageError;
pub use keys::{ApiKey, KeyStore, NewKey};
pub use log::{ChainReport, ExecutionLog, ExecutionRecord, Filter, NewExecution};
pub use registry::{Quarantine, Registry, ToolRecord};
