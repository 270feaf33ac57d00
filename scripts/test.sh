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
# conformance test runs schemathesis; the console's browser tests drive Chromium with selenium
# (and sign tokens for their identity provider with PyJWT). All pinned.
mkdir -p target
python3 -m venv target/mcp-venv
target/mcp-venv/bin/pip install --quiet --disable-pip-version-check "mcp==2.3.0" "schemathesis==4.32.5" \
  "selenium==4.27.1" "pyjwt[crypto]==2.10.1"

# Tests that need PostgreSQL, nginx or an OCI registry start their own servers from the
# installed binaries (a cluster under target/ on a free port, nginx on a free port with its files
# in a temporary directory, a registry likewise; each stopped afterwards); install the packages
# when missing.
missing=""
if [ -z "${CORDON_PG_BIN:-}" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing="postgresql"
fi
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  missing="$missing nginx-light"
fi
# The OCI tests read and copy what `cordon push` wrote with another OCI client, skopeo.
if ! command -v skopeo >/dev/null 2>&1; then
  missing="$missing skopeo"
fi
# The console's browser tests run headless Chromium through its WebDriver.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  missing="$missing chromium chromium-driver"
fi
# The identity tests make their RSA test keys with openssl.
if ! command -v openssl >/dev/null 2>&1; then
  missing="$missing openssl"
fi
# The OCI tests start their own registry (Debian's docker-registry, the CNCF distribution
# registry) on a free port with its storage under target/.
registry=""
if [ -z "${CORDON_REGISTRY_BIN:-}" ] && [ ! -x /usr/bin/docker-registry ]; then
  registry="docker-registry"
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ -n "$missing$registry" ]; then
  $sudo apt-get update
fi
if [ -n "$missing" ]; then
  $sudo apt-get install -y $missing
fi
if [ -n "$registry" ]; then
  # The package would start a registry service on port 5000; the tests need none, so its start
  # is refused for the install (policy-rc.d), and the policy removed again if we made it.
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  $sudo apt-get install -y $registry
  [ -z "$made_policy" ] || $sudo rm -f /usr/sbin/policy-rc.d
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
./scripts/fuzz.sh
