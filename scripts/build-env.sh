# Sourced by scripts/test.sh and scripts/demo.sh: the settings their cargo builds share, so that
# whichever runs second reuses what the first compiled (cargo rebuilds a crate whose compiler
# settings changed).
#
# cordon's own crates are compiled through clippy's driver: one build both compiles them and
# lints them, instead of a separate `cargo clippy` check build that compiles every dependency a
# second time (about 4 minutes on a 2-core machine). Dependencies are compiled by rustc as
# usual. Lints are warnings here; scripts/test.sh fails on any.
rustup component add clippy > /dev/null 2>&1 || rustup component add clippy
export RUSTC_WORKSPACE_WRAPPER=clippy-driver
