//! Asks for one allocation of `bytes` bytes (default 1 GiB).

use cordon_sdk::Error;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Input {
    #[serde(default = "one_gib")]
    bytes: usize,
}
fn one_gib() -> usize {
    1 << 30
}
#[cordon_sdk::tool(name = "huge-allocation")]
fn alloc(input: Input) -> Result<usize, Error> {
    let v: Vec<u8> = Vec::with_capacity(input.bytes);
    Ok(std::hint::black_box(v).capacity())
}
