#!/usr/bin/env bash
# The main job, runnable on a fresh machine with Rust installed: builds cordon and the example
# tools, creates a development signing key and trust store (once; re-runs reuse them), signs the
# tools, and runs them under their policies with `cordon run`.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2
(cd tools && cargo build --release --workspace --lib)
cargo build --release -p cordon

cordon=target/release/cordon
wasm=target/wasm/wasm32-wasip2/release
data=${CORDON_DEMO_DIR:-.cordon-demo}
mkdir -p "$data/signed"

if [ ! -f "$data/dev-key.pem" ]; then
    "$cordon" keygen --out "$data/dev-key.pem"
fi
key_id=$(grep -o 'ed25519:[A-Za-z0-9_-]*' "$data/trust.toml" 2>/dev/null || true)
if [ -z "$key_id" ]; then
    # Sign one tool to learn the key id, then write the trust store naming it "dev".
    key_id=$("$cordon" sign "$wasm/echo.wasm" --key "$data/dev-key.pem" --out "$data/signed/echo.wasm" | sed -n 's/^key id: *//p')
    printf '[publishers]\ndev = ["%s"]\n' "$key_id" > "$data/trust.toml"
fi
for tool in echo word_count sha256 read_file http_get; do
    "$cordon" sign "$wasm/$tool.wasm" --key "$data/dev-key.pem" --out "$data/signed/$tool.wasm" >/dev/null
done

run() {
    local tool=$1; shift
    echo "\$ cordon run $tool.wasm --trust $data/trust.toml $*"
    "$cordon" run "$data/signed/$tool.wasm" --trust "$data/trust.toml" "$@" || true
    echo
}

run word_count --policy policies/word-count.toml --input '{"text":"cordon runs untrusted tools under hard limits"}'
run sha256 --policy policies/sha256.toml --input '{"text":"abc","repeat":1000000}' --json
run echo --policy policies/echo.toml --input '{"hello":"world"}' --json
# A host the policy does not list is refused before any connection is made.
run http_get --policy policies/http-get.toml --input '{"url":"https://169.254.169.254/latest/meta-data/"}' --json
run read_file --policy policies/read-file.toml --input '{"path":"/data/hello.txt"}' --json
# Outside its mount it is refused.
run read_file --policy policies/read-file.toml --input '{"path":"/etc/passwd"}' --json
