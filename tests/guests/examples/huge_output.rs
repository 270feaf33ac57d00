//! Returns a JSON string of `bytes` bytes.

use cordon_sdk::Error;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Input {
    bytes: usize,
}
#[cordon_sdk::tool(name = "huge-output")]
fn big(input: Input) -> Result<String, Error> {
    Ok("x".repeat(input.bytes))
}
