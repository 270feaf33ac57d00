#!/usr/bin/env bash
# Runs every test of cordon on a fresh machine with Rust installed, in this order:
#   set-up      the wasm target, rustfmt and clippy; the MCP Python SDK, schemathesis, selenium
#               and PyJWT in a virtual environment under target/ (installed in the background
#               while the build runs); PostgreSQL, nginx, skopeo, Chromium, openssl and the OCI
#               registry from Debian's packages when missing;
#   format      cargo fmt --check;
#   build       one build of every test, bench and example target that also lints cordon's own
#               crates with clippy (scripts/build-env.sh): a clippy warning fails the run;
#   tests       the unit, end-to-end and doc tests (the guests are built by the build's own
#               build script), all of them even when one fails, the end-to-end suite beside the
#               others (scripts/run-tests.py);
#   demo        scripts/check-demo.sh: the README's demo reuses this build and its printed lines
#               work when pasted;
#   mcp-suite   the official MCP conformance suite against a server, with its baseline of
#               expected failures (scripts/conformance.sh; Node 24 and the suite installed in the
#               background during the build);
#   fuzz        each parser for a bounded time (scripts/fuzz.sh, docs/fuzzing.md; the fuzz
#               targets are built while the tests run).
# Ends with the time each step took and one line: "N passed, N failed". Logs are kept in
# target/test-logs/. Nothing can hang the run: every step after the build has a time limit
# (`timeout` here, per test executable in scripts/run-tests.py), several times what it takes, and
# one that outlives it fails with what it printed so far.
set -euo pipefail
cd "$(dirname "$0")/.."

logs=target/test-logs
mkdir -p "$logs"
# Everything the tests write to the system's temp directory (servers' data directories, keys,
# databases: about 2 GB a run) goes into one directory of this checkout's own, removed when the
# next run starts and after a run that passed: runs never pile up files in /tmp. (Not under the
# checkout: the authoring guide's test creates a crate there, which cargo would take for a
# member of cordon's workspace.)
scratch=${TMPDIR:-/tmp}/cordon-tests-$(printf '%s' "$PWD" | sha256sum | cut -c1-12)
rm -rf "$scratch"
mkdir -p "$scratch"
export TMPDIR=$scratch
# A fresh clone's build and one run need about 25 GB; say so before the disk fills mid-run
# (a full disk shows up as some unrelated test failing).
free_gb=$(df -Pk target | awk 'NR == 2 { print int($4 / 1048576) }')
if [ "${free_gb:-0}" -lt 25 ]; then
    echo "warning: $free_gb GB free where target/ is; the build and a run need about 25 GB (cargo clean, or free space, if the run fails for lack of it)" >&2
fi
began=$(date +%s)
mark=$began
steps=()
step_done() {
    local now
    now=$(date +%s)
    steps+=("$(printf '  %-9s %5ss' "$1" $((now - mark)))")
    mark=$now
}

rustup target add wasm32-wasip2
rustup component add rustfmt clippy

# The MCP end-to-end tests use the official MCP Python SDK as their client; the OpenAPI
# conformance test runs schemathesis; the console's browser tests drive Chromium with selenium
# (and sign tokens for their identity provider with PyJWT); the alert tests verify webhooks with
# the Standard Webhooks library; the trace tests' OTLP receiver decodes with the official
# protobuf definitions over HTTP and gRPC. All pinned. A venv that already has exactly these is
# kept.
python_packages='mcp==2.3.0 schemathesis==4.32.5 selenium==4.27.1 pyjwt[crypto]==2.10.1 standardwebhooks==1.3.0 opentelemetry-proto==1.45.2 grpcio==1.85.4'
python_setup() {
    if [ "$(cat target/mcp-venv/.installed 2>/dev/null)" = "$python_packages" ]; then
        return 0
    fi
    rm -rf target/mcp-venv
    python3 -m venv target/mcp-venv
    # shellcheck disable=SC2086
    timeout 900 target/mcp-venv/bin/pip install --quiet --disable-pip-version-check $python_packages
    printf '%s' "$python_packages" > target/mcp-venv/.installed
}
python_setup > "$logs/python.log" 2>&1 &
python_job=$!
# Node 24 and the pinned MCP conformance suite (scripts/conformance.sh), likewise.
timeout 900 ./scripts/conformance.sh --setup > "$logs/conformance-setup.log" 2>&1 &
conformance_job=$!

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
step_done set-up

cargo fmt --all -- --check
step_done format

# shellcheck source=scripts/build-env.sh
. scripts/build-env.sh
built=0
cargo test --workspace --all-targets --no-run 2>&1 | tee "$logs/build.log" || built=$?
[ "$built" -eq 0 ] || { echo "the build failed (log: $logs/build.log)" >&2; exit 1; }
# cargo replays a crate's warnings when it is not recompiled, so a re-run sees them too.
if grep -qE '^warning: `[^`]+` \([^)]*\) generated [0-9]+ warnings?' "$logs/build.log"; then
    echo "warnings in cordon's crates (clippy or rustc; log: $logs/build.log):" >&2
    grep -E '^warning: `[^`]+` \([^)]*\) generated' "$logs/build.log" >&2
    exit 1
fi
step_done build

wait $python_job || { cat "$logs/python.log" >&2; echo "installing the Python test clients failed" >&2; exit 1; }
# The fuzz targets build meanwhile (their own workspace and target directory): the tests leave
# some of the CPU idle while they wait on servers and clients.
timeout 1800 ./scripts/fuzz.sh --build-only > "$logs/fuzz-build.log" 2>&1 &
fuzz_build=$!
tests=0
# The executables the build made, the end-to-end suite beside the others (scripts/run-tests.py).
python3 scripts/run-tests.py 2>&1 | tee "$logs/tests.log" || tests=$?
step_done tests

demo=0
timeout --kill-after=10 600 ./scripts/check-demo.sh 2>&1 | tee "$logs/demo.log" || demo=$?
step_done demo

conformance=0
if wait $conformance_job; then
    timeout --kill-after=10 900 ./scripts/conformance.sh 2>&1 | tee "$logs/conformance.log" || conformance=$?
else
    cat "$logs/conformance-setup.log" >&2
    echo "conformance: 0 passed, 1 failed (installing Node or the suite failed)" | tee "$logs/conformance.log"
    conformance=1
fi
step_done mcp-suite

fuzz=0
wait $fuzz_build || { cat "$logs/fuzz-build.log" >&2; echo "building the fuzz targets failed" >&2; }
timeout --kill-after=10 900 ./scripts/fuzz.sh 2>&1 | tee "$logs/fuzz.log" || fuzz=$?
step_done fuzz

# The summary: every test function, each check of the demo, each fuzz target.
# (What a line says in parentheses after its counts is not counted.)
sum() { awk -v what="$2" '{ sub(/\(.*/, ""); for (i = 1; i < NF; i++) if ($(i + 1) ~ "^" what) n += $i } END { print n + 0 }' "$1"; }
passed=$(grep -E '^test result: ' "$logs/tests.log" | sum /dev/stdin passed)
failed=$(grep -E '^test result: ' "$logs/tests.log" | sum /dev/stdin failed)
# A test binary that crashed or did not build prints no result line of its own.
if [ "$tests" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
demo_line=$(grep -E '^demo: [0-9]+ passed, [0-9]+ failed' "$logs/demo.log" | tail -1 || true)
passed=$((passed + $(echo "$demo_line" | sum /dev/stdin passed)))
failed=$((failed + $(echo "$demo_line" | sum /dev/stdin failed)))
if [ "$demo" -ne 0 ] && [ -z "$demo_line" ]; then failed=$((failed + 1)); fi
suite_line=$(grep -E '^conformance: [0-9]+ passed, [0-9]+ failed' "$logs/conformance.log" | tail -1 || true)
passed=$((passed + $(echo "$suite_line" | sum /dev/stdin passed)))
failed=$((failed + $(echo "$suite_line" | sum /dev/stdin failed)))
if [ "$conformance" -ne 0 ] && [ -z "$suite_line" ]; then failed=$((failed + 1)); fi
fuzzed=$(grep -c '^fuzzing ' "$logs/fuzz.log" || true)
if [ "$fuzz" -eq 0 ]; then passed=$((passed + fuzzed)); else failed=$((failed + 1)); passed=$((passed + fuzzed - 1)); fi

echo
echo "time per step (the README explains where it goes):"
printf '%s\n' "${steps[@]}"
printf '  %-9s %5ss\n' total $(($(date +%s) - began))
[ "$tests" -eq 0 ] || echo "failed tests: grep -E '^test .* FAILED|panicked' $logs/tests.log" >&2
echo "$passed passed, $failed failed"
ok=0
[ "$failed" -eq 0 ] && [ "$tests" -eq 0 ] && [ "$demo" -eq 0 ] && [ "$conformance" -eq 0 ] \
    && [ "$fuzz" -eq 0 ] || ok=1
# A failed run keeps its scratch files for a look at them.
[ "$ok" -ne 0 ] || rm -rf "$scratch"
exit $ok
