//! Writes `bytes` bytes to stdout and `bytes` to stderr, then returns normally.

use cordon_sdk::Error;

use std::io::Write;
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Input {
    bytes: usize,
}
#[cordon_sdk::tool(name = "stdout-flood")]
fn flood(input: Input) -> Result<usize, Error> {
    let line = [b'y'; 1024];
    let mut left = input.bytes;
    while left > 0 {
        let n = left.min(line.len());
        std::io::stdout().write_all(&line[..n])?;
        std::io::stderr().write_all(&line[..n])?;
        left -= n;
    }
    Ok(input.bytes)
}
