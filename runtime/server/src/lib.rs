//! The cordon server as a library: publish and invoke signed tools over HTTP and MCP, with a
//! durable, verifiable audit log.
//!
//! Its face is small: fill a [`ServerSettings`], give it its [`Services`] (store, sandbox, trust
//! store, secret store), then [`Node::start`] on a listener and [`Node::serve`] until shutdown;
//! or build the router alone with [`app`] (testable without a socket). No command-line code is
//! here: `cordon serve` reads flags, environment and config file into these settings.
//!
//! The modules, from the leaves up (each imports only modules above it in this list;
//! `tests/layering.rs` fails on a circle):
//! - plumbing: `clock`, `metrics`, `client_ip`, `committed` (the type journal and audit log
//!   share), `sealed` (links checked against their seals before anything is signed over
//!   them), `audit_log` (log key, checkpoints, receipts), `error`,
//!   `extract`, `blocking`, `wire_errors`, `listen`, `oci_pull` (registry settings, and the
//!   pull a publish by reference makes), `running` (the calls running on this node);
//! - who calls and what they may use: `oidc` (token verification), `caller`, `ratelimit`,
//!   `keycache`, `resource` (OAuth metadata), `live` (a tool ready to run), `quota`, `settings`;
//! - the record: `journal` (group commit);
//! - the state every handler reads: `state`, then `registry` (the one way tools and policies
//!   change), `tasks` (calls started asynchronously: their leases, answers and the interrupted
//!   ones), `sync` (following the store), `auth` (the request's caller);
//! - the endpoints: `api::*` (REST), `mcp_call` (what an MCP `tools/call` answers, and the
//!   direct path for a plain stateless one), `mcp_tasks` (MCP progress and tasks), `mcp`,
//!   `router`, and `node` (a node's life).

pub mod api;
pub mod audit_log;
pub mod auth;
pub mod beat;
pub mod blocking;
pub mod caller;
pub mod client_ip;
pub mod clock;
pub mod committed;
pub mod console_clients;
pub mod error;
pub mod extract;
pub mod journal;
pub mod keycache;
pub mod listen;
pub mod live;
pub mod mcp;
pub mod mcp_call;
pub mod mcp_tasks;
pub mod metrics;
pub mod node;
pub mod oci_pull;
pub mod oidc;
pub mod quota;
pub mod ratelimit;
pub mod refusals;
pub mod registry;
pub mod resource;
pub mod router;
pub mod running;
pub mod sealed;
pub mod settings;
pub mod state;
pub mod sync;
pub mod tasks;
pub mod ui;
pub mod wire_errors;

pub use audit_log::{AuditSettings, LOG_KEY_FILE};
pub use error::{ApiError, ServerError};
pub use node::Node;
pub use router::app;
pub use settings::{MetricsAccess, ServerSettings};
pub use state::{AppState, Services};
