#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (FUZZ_SECONDS each, default 20) on the stable
# toolchain (cargo fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 allows them). Installs cargo-fuzz
# if it is missing. A crash fails the run and leaves its input in fuzz/artifacts/<target>/:
# turn it into a regression test (docs/fuzzing.md). The checked-in seeds in fuzz/corpus/ are
# read, never written: what the fuzzer finds goes to target/fuzz-corpus/.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-20}
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz > /dev/null || cargo install --locked cargo-fuzz
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^cordon-fuzz$')
cargo fuzz build --fuzz-dir fuzz
for t in $targets; do
    mkdir -p "target/fuzz-corpus/$t"
    rm -rf "fuzz/artifacts/$t"
    echo "fuzzing $t for ${seconds}s"
    log="target/fuzz-corpus/$t.log"
    if ! cargo fuzz run --fuzz-dir fuzz "$t" "target/fuzz-corpus/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 > "$log" 2>&1; then
        tail -40 "$log" >&2
        echo "fuzz target $t failed: the input is in fuzz/artifacts/$t/; make it a regression test" >&2
        exit 1
    fi
    grep -E '^(Done|stat::number_of_executed_units)' "$log" || true
done
