#!/usr/bin/env bash
# The main job, runnable on a fresh machine with Rust installed: builds cordon and the example
# tools, then runs tools under their policies with `cordon run`.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2
(cd tools && cargo build --release --workspace --lib)
cargo build --release -p cordon

cordon=target/release/cordon
wasm=target/wasm/wasm32-wasip2/release

run() {
    echo "\$ cordon run $*" | sed "s|$wasm/||"
    "$cordon" run "$@" || true
    echo
}

run "$wasm/word_count.wasm" --policy policies/word-count.toml --input '{"text":"cordon runs untrusted tools under hard limits"}'
run "$wasm/sha256.wasm" --policy policies/sha256.toml --input '{"text":"abc","repeat":1000000}' --json
run "$wasm/echo.wasm" --policy policies/echo.toml --input '{"hello":"world"}' --json
# Under the closed default, a tool that wants the network or the filesystem fails cleanly.
run "$wasm/http_get.wasm" --policy policies/http-get.toml --input '{"url":"https://example.com/"}' --json
run "$wasm/read_file.wasm" --policy policies/read-file.toml --input '{"path":"/etc/passwd"}' --json
