#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (FUZZ_SECONDS each, default 20), as many at once as
# the machine has cores (FUZZ_JOBS; each fuzzer uses one core), on the stable toolchain (cargo
# fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 allows them). Installs cargo-fuzz if it is missing.
# A crash fails the run and leaves its input in fuzz/artifacts/<target>/: turn it into a
# regression test (docs/fuzzing.md). The checked-in seeds in fuzz/corpus/ are read, never
# written: what the fuzzer finds goes to target/fuzz-corpus/. With --build-only, only builds
# them (scripts/test.sh builds them while the tests run).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-20}
jobs=${FUZZ_JOBS:-$(nproc)}
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz > /dev/null || cargo install --locked cargo-fuzz
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^cordon-fuzz$')
cargo fuzz build --fuzz-dir fuzz
[ "${1:-}" != "--build-only" ] || exit 0

# One target: its log and its status (0, or the fuzzer's exit status) under target/fuzz-corpus/.
fuzz_one() {
    local t=$1 log="target/fuzz-corpus/$1.log" status=0
    cargo fuzz run --fuzz-dir fuzz "$t" "target/fuzz-corpus/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 > "$log" 2>&1 || status=$?
    echo "$status" > "target/fuzz-corpus/$t.status"
}

for t in $targets; do
    mkdir -p "target/fuzz-corpus/$t"
    rm -rf "fuzz/artifacts/$t" "target/fuzz-corpus/$t.status"
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
        wait -n || true
    done
    echo "fuzzing $t for ${seconds}s"
    fuzz_one "$t" &
done
wait

failed=""
for t in $targets; do
    if [ "$(cat "target/fuzz-corpus/$t.status" 2>/dev/null)" != 0 ]; then
        tail -40 "target/fuzz-corpus/$t.log" >&2
        echo "fuzz target $t failed: the input is in fuzz/artifacts/$t/; make it a regression test" >&2
        failed="$failed $t"
    else
        echo "$t: $(grep -E '^stat::number_of_executed_units' "target/fuzz-corpus/$t.log" | sed 's/.*: *//') inputs, no failure"
    fi
done
[ -z "$failed" ]
