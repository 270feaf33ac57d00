//! Allocates 1 MiB blocks and keeps them until the host refuses more memory.

use cordon_sdk::Error;

#[cordon_sdk::tool(name = "memory-growth")]
fn grow(_: serde_json::Value) -> Result<usize, Error> {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        // Touch every page so the memory is really used, not just reserved.
        blocks.push(std::hint::black_box(vec![1u8; 1 << 20]));
        if blocks.len() == usize::MAX {
            return Ok(blocks.len());
        }
    }
}
