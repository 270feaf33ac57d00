#!/usr/bin/env bash
# Profiles the server under the invoke load of the http bench (docs/benchmarks.md, "Where a
# call's CPU goes"): a release `cordon serve` with the echo tool published, loaded by wrk over
# CONNECTIONS keep-alive connections for SECONDS, its CPU per answered call read from /proc, and
# `perf record -g` of the server during the load. Needs `perf` and `wrk` (Debian packages
# linux-perf and wrk) and the release build (`cargo build --release -p cordon`, or the bench's).
#
#   scripts/profile-invoke.sh [CONNECTIONS=16] [SECONDS=10] [PATH=/v1/tools/echo/invoke | /mcp]
#
# CORDON_BIN picks another build (an older one, for a before/after); PERF=0 measures without
# recording; PERF_CALLGRAPH="--call-graph dwarf,32768 -F 300" unwinds without frame pointers.
#
# Writes target/profile/perf.data and target/profile/report.txt (perf report, no children).
set -euo pipefail
cd "$(dirname "$0")/.."
connections=${1:-16}
seconds=${2:-10}
path=${3:-/v1/tools/echo/invoke}
bin=${CORDON_BIN:-target/release/cordon}
echo_wasm=target/wasm/wasm32-wasip2/release/echo.wasm
for need in "$bin" "$echo_wasm"; do
  [ -e "$need" ] || { echo "missing $need: cargo build --release -p cordon first" >&2; exit 1; }
done
out=target/profile
rm -rf "$out"
mkdir -p "$out/data"
key_id=$("$bin" keygen --out "$out/dev.pem" | sed -n 's/^key id: *//p')
printf '[publishers]\ndev = ["%s"]\n' "$key_id" >"$out/data/trust.toml"
api_key=$("$bin" keys create --name bench --role admin --data "$out/data")
"$bin" sign "$echo_wasm" --key "$out/dev.pem" --out "$out/echo.signed.wasm" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --listen "127.0.0.1:$port" --data "$out/data" \
  --rate-per-key 10000000 --rate-per-ip 10000000 >"$out/serve.out" 2>"$out/serve.err" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q listening "$out/serve.out" 2>/dev/null && break; sleep 0.1; done
curl -sf -o /dev/null -X POST -H "Authorization: Bearer $api_key" \
  -H 'Content-Type: application/wasm' --data-binary "@$out/echo.signed.wasm" \
  "http://127.0.0.1:$port/v1/tools"
body='{"message":"hello from the benchmark"}'
accept=""
if [ "$path" = /mcp ]; then
  # The same call as MCP tools/call; the streamable HTTP transport wants both media types.
  body='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello from the benchmark"}}}'
  accept='wrk.headers["Accept"] = "application/json, text/event-stream"'
fi
cat >"$out/post.lua" <<EOF
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $api_key"
$accept
EOF
# Warm-up.
wrk -t1 -c"$connections" -d2s -s "$out/post.lua" "http://127.0.0.1:$port$path" >/dev/null
ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
before=$(ticks)
recorder=""
if [ "${PERF:-1}" != 0 ]; then
  perf record ${PERF_CALLGRAPH:--g} -o "$out/perf.data" -p "$server" -- sleep "$seconds" >/dev/null 2>&1 &
  recorder=$!
fi
wrk -t1 -c"$connections" -d"${seconds}s" --latency -s "$out/post.lua" \
  "http://127.0.0.1:$port$path" | tee "$out/wrk.txt"
[ -z "$recorder" ] || wait "$recorder" || true
after=$(ticks)
calls=$(awk '/requests in/ {print $1}' "$out/wrk.txt")
hz=$(getconf CLK_TCK)
python3 - "$before" "$after" "$hz" "$calls" <<'EOF'
import sys
b, a, hz, calls = map(float, sys.argv[1:])
print(f"server CPU per call: {(a - b) / hz / calls * 1e6:.0f} us over {calls:.0f} calls")
EOF
# Records per group commit, from the server's own metrics.
curl -sf -H "Authorization: Bearer $api_key" "http://127.0.0.1:$port/metrics" |
  awk '/^cordon_journal_group_records_(sum|count)/ {v[$1] = $2}
       END {c = v["cordon_journal_group_records_count"]; if (c > 0)
         printf "records per group commit: %.1f over %d commits\n", v["cordon_journal_group_records_sum"] / c, c}'
if [ -n "$recorder" ]; then
  perf report -i "$out/perf.data" --no-children --stdio --percent-limit 0.5 \
    --sort dso,symbol 2>/dev/null >"$out/report.txt" || true
  echo "profile: $out/report.txt"
fi
