//! `sha256`: hashes `text` repeated `repeat` times with SHA-256, streaming (no buffer of the
//! repeated text is built). CPU-bound by design: the benchmarks use it to compare sandboxed and
//! native speed.

use cordon_sdk::Error;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The text to hash.
    text: String,
    /// How many times to hash it back to back (default 1).
    #[serde(default = "one")]
    repeat: u64,
}

fn one() -> u64 {
    1
}

#[derive(Serialize, JsonSchema)]
struct Output {
    /// Lowercase hex SHA-256 digest.
    sha256: String,
    /// Bytes hashed.
    bytes: u64,
}

#[cordon_sdk::tool]
fn sha256(input: Input) -> Result<Output, Error> {
    let mut hasher = Sha256::new();
    for _ in 0..input.repeat {
        hasher.update(input.text.as_bytes());
    }
    let digest = hasher.finalize();
    let sha256 = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Output {
        sha256,
        bytes: input.text.len() as u64 * input.repeat,
    })
}
