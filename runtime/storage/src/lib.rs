//! Embedded storage for the cordon server, in one data directory:
//!
//! - `cordon.db`: SQLite in WAL mode with `synchronous = FULL` (a committed write survives a
//!   crash or power loss); holds the execution log (see [`log`]).
//! - more tables (registry, API keys) and `blobs/` for components arrive with the server.
//!
//! Everything goes through this crate's narrow API so another backend (PostgreSQL, for several
//! stateless nodes sharing one log) can replace it without touching the server.

mod error;
pub mod log;
mod schema;

pub use error::StorageError;
pub use log::{ChainReport, ExecutionLog, ExecutionRecord, Filter, NewExecution};
