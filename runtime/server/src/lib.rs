//! The cordon server as a library: publish and invoke signed tools over HTTP and MCP, with a
//! durable, verifiable audit log.
//!
//! Its face is small: fill a [`ServerSettings`], give it its [`Services`] (store, sandbox, trust
//! store, secret store), then [`Node::start`] on a listener and [`Node::serve`] until shutdown;
//! or build the router alone with [`app`] (testable without a socket). No command-line code is
//! here: `cordon serve` reads flags, environment and config file into these settings.
//!
//! The modules, grouped by concern (each folder's `mod.rs` says what it holds); every arrow
//! between them runs one way (`tests/layering.rs` fails on a circle):
//! - plumbing: `clock`, `metrics`, `error`, `extract`, `blocking`, `wire_errors`, `listen`;
//! - `callers/`: who calls and what they may use: `oidc` (token verification), `caller`,
//!   `client_ip`, `ratelimit`, `keycache`, `resource` (OAuth metadata), `quota`, `refusals`,
//!   `auth` (the request's caller);
//! - `record/`: `committed` (the type journal and audit log share), `sealed` (links checked
//!   against their seals before anything is signed over them), `audit_log` (log key,
//!   checkpoints, receipts), `journal` (group commit);
//! - `calls/`: calls and their lifecycle: `live` (a tool ready to run), `running` (the calls
//!   running on this node), `tasks` (calls kept in the store while they run: leases, answers,
//!   the interrupted ones);
//! - the state every handler reads: `settings`, `state`, `beat` (what a node reports);
//! - `decisions/`: the operator's Rego bundle in force (`current`), the input document of a
//!   decision (`document`), the check every call passes (`enforce`) and the one path that
//!   changes the bundle (`apply`);
//! - `registry/`: the registry and its distribution: the one way tools and policies change,
//!   `sync` (following the store), `oci_pull` (registry settings, and the pull a publish by
//!   reference makes);
//! - the endpoints: `api::*` (REST), `mcp/` (`call`: what an MCP `tools/call` answers, and the
//!   direct path for a plain stateless one; `tasks`: MCP progress and tasks), `console/` (the
//!   web console at `/ui` and its sign-in clients), `router`, and `node` (a node's life).
//!
//! Admission, input checks and the process's confinement are `cordon-host`'s, shared with the
//! offline commands.

pub mod alerts;
pub mod api;
pub mod beat;
pub mod blocking;
pub mod callers;
pub mod calls;
pub mod clock;
pub mod console;
pub mod decisions;
pub mod detect;
pub mod drain;
pub mod error;
pub mod extract;
pub mod listen;
pub mod mcp;
pub mod metrics;
pub mod node;
pub mod record;
pub mod registry;
pub mod router;
pub mod settings;
pub mod state;
pub mod tls;
pub mod trace;
pub mod wire_errors;

pub use error::{ApiError, ServerError};
pub use node::Node;
pub use record::audit_log::{AuditSettings, LOG_KEY_FILE};
pub use router::app;
pub use settings::{MetricsAccess, ServerSettings};
pub use state::{AppState, Services};
