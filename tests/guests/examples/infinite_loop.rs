//! Spins forever without touching memory or calling the host.

use cordon_sdk::Error;

#[cordon_sdk::tool(name = "infinite-loop")]
fn spin(_: serde_json::Value) -> Result<u64, Error> {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}
