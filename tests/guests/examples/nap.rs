//! Sleeps for the number of milliseconds it is given (at most 10 s), then answers how long it
//! slept: a tool that waits rather than computes, for concurrency tests and benchmarks.
//!
//! Its name carries a fixed-width placeholder suffix (`0000`) that the restart benchmark
//! rewrites in the component bytes to publish many distinct tools from one build.

use cordon_sdk::Error;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, schemars::JsonSchema)]
struct Nap {
    /// Milliseconds to sleep, 0 to 10000.
    ms: u64,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Slept {
    ms: u64,
}

#[cordon_sdk::tool(name = "nap-0000", description = "sleeps for the given milliseconds")]
fn nap(input: Nap) -> Result<Slept, Error> {
    if input.ms > 10_000 {
        return Err(Error::invalid_input("ms is at most 10000"));
    }
    std::thread::sleep(std::time::Duration::from_millis(input.ms));
    Ok(Slept { ms: input.ms })
}
