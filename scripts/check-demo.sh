#!/usr/bin/env bash
# Part of the test command (scripts/test.sh), run after the tests: the README's first command,
# `scripts/demo.sh`, as a user runs it after the second.
#   - It reuses the tests' build: nothing is compiled again (a dev-dependency that turns on a
#     feature the `cordon` package does not would make the demo recompile wasmtime; such features
#     are declared in runtime/workspace-hack).
#   - It serves, and every line it prints for pasting works when pasted: each curl line answers
#     without an error, the CLI line prints events, the MCP bridge answers an `initialize`.
# Uses its own data directory under target/ and a free port; stops the demo afterwards.
# Prints one line per check and ends with "demo: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."

dir=$PWD/target/demo-check
rm -rf "$dir"
mkdir -p "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$dir/demo.log
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "demo ok: $1"; }
fail() { failed=$((failed + 1)); echo "demo FAILED: $1" >&2; }

started=$(date +%s)
CORDON_DEMO_DIR=$dir/data CORDON_LISTEN=127.0.0.1:$port setsid ./scripts/demo.sh > "$log" 2>&1 &
demo=$!
trap 'kill -- -$demo 2>/dev/null || true' EXIT
until grep -q '^Ctrl-C stops the server' "$log"; do
    if ! kill -0 $demo 2>/dev/null; then
        tail -30 "$log" >&2
        echo "demo: 0 passed, 1 failed (scripts/demo.sh stopped before it served; its output is above)" >&2
        exit 1
    fi
    if [ $(($(date +%s) - started)) -gt 900 ]; then
        echo "demo: 0 passed, 1 failed (not serving after 15 minutes; $log)" >&2
        exit 1
    fi
    sleep 0.5
done
serving=$(($(date +%s) - started))

# The same build: cargo compiled nothing (it prints "Compiling <crate>" for each crate it does).
recompiled=$(sed -n 's/^ *Compiling \([^ ]*\) .*/\1/p' "$log" | tr '\n' ' ')
if [ -z "$recompiled" ]; then
    pass "reused the tests' build, serving ${serving}s after it started"
else
    fail "recompiled after the tests: $recompiled(a dev-dependency turns on a feature the cordon package does not; declare it in runtime/workspace-hack/Cargo.toml)"
fi

# Every line printed for pasting, as printed.
while IFS= read -r line; do
    line=${line#  }
    case "$line" in
    *"mcp --stdio"*)
        # The bridge reads JSON-RPC on stdin: an initialize must be answered.
        request='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"check-demo","version":"0"}}}'
        out=$(printf '%s\n' "$request" | timeout 60 bash -c "$line" 2>&1) || true
        if printf '%s' "$out" | grep -q '"serverInfo"'; then pass "$line"; else fail "$line: $out"; fi
        ;;
    *)
        if out=$(timeout 120 bash -c "$line" < /dev/null 2>&1) && [ -n "$out" ] \
            && ! printf '%s' "$out" | grep -q '^{"error":{"code"'; then
            pass "$line"
        else
            fail "$line: $(printf '%s' "$out" | head -c 400)"
        fi
        ;;
    esac
done < <(sed -n '/^Try:/,/^Ctrl-C stops the server/p' "$log" | grep -E '^  (curl|CORDON_API_KEY=)')

# The console's address answers.
if curl -sf "http://127.0.0.1:$port/ui/" | grep -q '<html'; then
    pass "the console at /ui/"
else
    fail "the console at /ui/ did not answer"
fi

# The demo printed at least the lines it is known for (a change that drops them all fails here).
pasted=$(sed -n '/^Try:/,/^Ctrl-C stops the server/p' "$log" | grep -cE '^  (curl|CORDON_API_KEY=)' || true)
if [ "$pasted" -ge 10 ]; then pass "$pasted lines printed for pasting"; else fail "only $pasted lines printed for pasting"; fi

kill -- -$demo 2>/dev/null || true
wait $demo 2>/dev/null || true
echo "demo: $passed passed, $failed failed (serving ${serving}s after scripts/demo.sh started)"
[ "$failed" -eq 0 ]
