#!/usr/bin/env bash
# Runs every test of cordon on a fresh machine with Rust installed: installs the wasm target, the
# MCP Python SDK and schemathesis (in a virtual environment under target/), builds the guests
# (done by the test build itself), checks formatting and lints, runs the tests, then fuzzes each
# parser for a bounded time (scripts/fuzz.sh, docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2
rustup component add rustfmt clippy
# The MCP end-to-end tests use the official MCP Python SDK as their client; the OpenAPI
# conformance test runs schemathesis. Both pinned.
mkdir -p target
python3 -m venv target/mcp-venv
target/mcp-venv/bin/pip install --quiet --disable-pip-version-check "mcp==2.3.0" "schemathesis==4.32.5"

# Tests that need PostgreSQL start their own server from the installed binaries (a cluster under
# target/ on a free port, stopped afterwards: tests/postgres); install them when missing.
if [ -z "${CORDON_PG_BIN:-}" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update
  $sudo apt-get install -y postgresql
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
./scripts/fuzz.sh
