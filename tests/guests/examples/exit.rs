//! Calls `std::process::exit(3)` in the middle of a call. (WASI 0.2 only carries success or
//! failure, so the host sees status 1.)

use cordon_sdk::Error;

#[cordon_sdk::tool(name = "exit")]
fn leave(_: serde_json::Value) -> Result<(), Error> {
    std::process::exit(3);
}
