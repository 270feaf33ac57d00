//! The REST endpoints under `/v1`, one module per resource, and the OpenAPI document generated
//! from their annotations.

pub mod alerts;
pub mod approvals;
pub mod audit;
pub mod decisions;
pub mod events;
pub mod execute;
pub mod executions;
pub mod invoke;
pub mod keys;
pub mod openapi;
pub mod policies;
#[cfg(debug_assertions)]
pub mod probe;
pub mod quotas;
pub mod receipt;
pub mod resource;
pub mod resume;
pub mod stats;
pub mod status;
pub mod suspensions;
pub mod tools;
pub mod whoami;
