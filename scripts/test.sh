#!/usr/bin/env bash
# Runs every test of cordon on a fresh machine with Rust installed: installs the wasm target and
# the MCP Python SDK (in a virtual environment under target/), builds the guests (done by the
# test build itself), checks formatting and lints, runs the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2
rustup component add rustfmt clippy
# The MCP end-to-end tests use the official MCP Python SDK as their client.
mkdir -p target
python3 -m venv target/mcp-venv
target/mcp-venv/bin/pip install --quiet --disable-pip-version-check "mcp==2.3.0"

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
