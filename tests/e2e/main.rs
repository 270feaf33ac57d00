//! End-to-end tests: real components (the example tools and the hostile guests in
//! `tests/guests/`) run through the real sandbox and the real `cordon` binary.

mod audit;
mod cache;
mod cli;
mod cluster;
mod common;
mod confinement;
mod contract;
mod credentials;
mod credentials_run;
mod deploy;
mod env;
mod filesystem;
mod guide;
mod hardening;
mod harness;
mod hostile;
mod identity;
mod idp;
mod keys_api;
mod long_running;
mod mcp;
mod network;
mod oci;
mod oci_publish;
mod openapi;
mod policies;
mod policy_api;
mod progress;
mod quotas;
mod receipts;
mod schemathesis;
mod server;
mod server_ops;
mod signing;
mod tools;
