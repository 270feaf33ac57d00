#!/usr/bin/env bash
# Runs every test of cordon on a fresh machine with Rust installed: installs the wasm target,
# builds the guests (done by the test build itself), checks formatting and lints, runs the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2
rustup component add rustfmt clippy

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
