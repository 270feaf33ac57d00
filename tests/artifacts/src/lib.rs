//! Paths of the guest components built for the tests and benchmarks: one constant per example
//! tool (`ECHO`, `WORD_COUNT`, ...) and per hostile guest (`INFINITE_LOOP`, `PANIC`, ...).

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// Reads a guest component's bytes.
pub fn bytes(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read guest {path}: {e}"))
}
