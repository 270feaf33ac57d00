//! No code. This crate exists for its `Cargo.toml`: see the package description there.
