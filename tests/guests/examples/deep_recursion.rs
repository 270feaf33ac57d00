//! Recurses without bound until the wasm stack runs out.

use cordon_sdk::Error;

#[allow(unconditional_recursion)]
fn down(n: u64, pad: [u64; 16]) -> u64 {
    let pad = std::hint::black_box(pad);
    down(n + 1, pad) + pad[(n % 16) as usize]
}
#[cordon_sdk::tool(name = "deep-recursion")]
fn recurse(_: serde_json::Value) -> Result<u64, Error> {
    Ok(down(0, [1; 16]))
}
