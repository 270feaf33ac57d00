#!/usr/bin/env bash
# The main job, runnable on a fresh machine with Rust installed: builds cordon and the example
# tools, prepares a demo data directory (a dev signing key, a trust store naming it, an admin API
# key: created once, reused on every re-run), starts the server on loopback with its embedded
# storage, signs and publishes the example tools with their policies, and prints the URL, the key
# and ready-to-paste curl lines. The server stays in the foreground; Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2
# The guests are built as the tests' build script builds them: without the wrapper below.
(cd tools && env -u RUSTC_WORKSPACE_WRAPPER cargo build --release --workspace --lib)
# The same compiler settings as the test command's build, so that either reuses the other's.
# shellcheck source=scripts/build-env.sh
. scripts/build-env.sh
cargo build -p cordon

cordon=$PWD/target/debug/cordon
wasm=$PWD/target/wasm/wasm32-wasip2/release
data=${CORDON_DEMO_DIR:-$PWD/.cordon-demo}
listen=${CORDON_LISTEN:-127.0.0.1:7878}
url=http://$listen
mkdir -p "$data/signed"

if [ ! -f "$data/dev-key.pem" ]; then
    "$cordon" keygen --out "$data/dev-key.pem" > "$data/dev-key.txt"
fi
key_id=$(sed -n 's/^key id: *//p' "$data/dev-key.txt")
[ -f "$data/trust.toml" ] || printf '[publishers]\ndev = ["%s"]\n' "$key_id" > "$data/trust.toml"
if [ ! -s "$data/admin.key" ]; then
    (umask 077 && "$cordon" keys create --name demo-admin --role admin --data "$data" > "$data/admin.key")
fi
CORDON_API_KEY=$(cat "$data/admin.key")
export CORDON_API_KEY

tools="echo word_count sha256 read_file http_get primes qr confirm_delete"
# confirm-delete's scratch directory (policies/confirm-delete.toml): two files to delete.
for f in draft-1.txt draft-2.txt; do
    [ -f "policies/data/scratch/$f" ] || echo "a draft to delete" > "policies/data/scratch/$f"
done
for tool in $tools; do
    "$cordon" sign "$wasm/$tool.wasm" --key "$data/dev-key.pem" --out "$data/signed/$tool.wasm" > /dev/null
done

"$cordon" serve --data "$data" --policies policies --listen "$listen" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT INT TERM
until "$cordon" tools --server "$url" > /dev/null 2>&1; do
    kill -0 $server 2>/dev/null || { echo "the server did not start" >&2; exit 1; }
    sleep 0.2
done
for tool in $tools; do
    # A version published on an earlier run is already there (409): nothing to do.
    "$cordon" publish "$data/signed/$tool.wasm" --server "$url" > /dev/null || true
done
# One asynchronous call of the demo's own, so that the line following a call's events names a
# real one.
started=$(curl -s -H "Authorization: Bearer $CORDON_API_KEY" -H "Prefer: respond-async" \
    -d '{"below":10000000}' "$url/v1/tools/primes/invoke")
execution_id=$(printf '%s' "$started" | sed -n 's/.*"execution_id":"\([^"]*\)".*/\1/p')
[ -n "$execution_id" ] || { echo "the demo's asynchronous call did not start: $started" >&2; exit 1; }

cat <<INFO

cordon is running at $url with the example tools published.
Admin API key (also in $data/admin.key):

  $CORDON_API_KEY

Web console (sign in with the key above; docs/console.md):

  $url/ui/

Try:

  curl -s -H "Authorization: Bearer \$(cat $data/admin.key)" $url/v1/tools
  curl -s -H "Authorization: Bearer \$(cat $data/admin.key)" -d '{"text":"hello sandboxed world"}' $url/v1/tools/word-count/invoke
  curl -s -H "Authorization: Bearer \$(cat $data/admin.key)" -d '{"path":"/data/hello.txt"}' $url/v1/tools/read-file/invoke
  curl -s -H "Authorization: Bearer \$(cat $data/admin.key)" -H "Prefer: respond-async" -d '{"below":10000000}' $url/v1/tools/primes/invoke
  curl -sN -H "Authorization: Bearer \$(cat $data/admin.key)" $url/v1/executions/$execution_id/events   # the demo's own call; docs/long-running.md
  curl -s -H "Authorization: Bearer \$(cat $data/admin.key)" -d '{"text":"https://example.com"}' $url/v1/tools/qr/invoke   # an SVG image in "content"
  curl -s -H "Authorization: Bearer \$(cat $data/admin.key)" -d '{"names":["draft-1.txt"]}' $url/v1/tools/confirm-delete/invoke   # asks first: answer with /resume (docs/authoring.md)
  curl -s -H "Authorization: Bearer \$(cat $data/admin.key)" $url/v1/executions
  curl -s -H "Authorization: Bearer \$(cat $data/admin.key)" $url/v1/audit/verify
  curl -s -H "Authorization: Bearer \$(cat $data/admin.key)" $url/v1/audit/events
  CORDON_API_KEY=\$(cat $data/admin.key) $cordon audit events --server $url
  curl -s $url/v1/openapi.json

MCP clients: $url/mcp with the header "Authorization: Bearer <key>", or for stdio-only
desktop clients the bridge (key in the environment):

  CORDON_API_KEY=\$(cat $data/admin.key) $cordon mcp --stdio --server $url

Ctrl-C stops the server.
INFO
wait $server
