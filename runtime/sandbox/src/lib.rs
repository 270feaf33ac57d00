//! The only part of cordon that touches wasmtime.
//!
//! A [`Sandbox`] owns the process's one engine (pooling allocator, fuel, epoch interruption), the
//! linker with every WASI 0.2 interface (each closed by default), and the on-disk cache of
//! compiled components. [`Sandbox::load`] turns component bytes into a [`Tool`];
//! [`Sandbox::call`] runs one call in a fresh instance and always ends in an
//! [`cordon_core::Outcome`] with a usage report; [`Sandbox::call_with`] does the same under a
//! [`CallControl`] that can cancel it and receives its progress reports.

mod bindings;
mod cache;
mod capture;
mod client_span;
mod control;
mod engine;
mod error;
mod exec;
mod fs_audit;
mod host;
mod limiter;
mod log;
mod outbound;
mod progress;
mod redact_body;
mod reply;
mod resolver;
mod sandbox;

pub use cache::{CacheStatus, digest};
pub use control::{CallControl, LogSink, ProgressSink};
pub use engine::{EPOCH_TICK, EngineSettings};
pub use error::{DescribeError, LoadError, SandboxError};
pub use resolver::{Resolver, SystemResolver};
pub use sandbox::{Sandbox, SandboxConfig, Tool};
