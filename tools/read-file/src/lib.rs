//! `read-file`: reads a text file with plain `std::fs`. It can only see the directories its
//! policy mounts; without a policy every path is denied and it fails cleanly.

use cordon_sdk::Error;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// Path inside the sandbox, e.g. `/data/hello.txt`.
    path: String,
    /// Most bytes to return (default 65536).
    #[serde(default = "default_max")]
    max_bytes: usize,
}

fn default_max() -> usize {
    64 * 1024
}

#[derive(Serialize, JsonSchema)]
struct Output {
    /// The file's text (invalid UTF-8 replaced), cut at `max_bytes`.
    content: String,
    /// The file's full size in bytes.
    size: u64,
    /// True when `content` was cut.
    truncated: bool,
}

#[cordon_sdk::tool]
fn read_file(input: Input) -> Result<Output, Error> {
    let bytes = std::fs::read(&input.path)
        .map_err(|e| Error::failed(format!("cannot read {}: {e}", input.path)))?;
    let truncated = bytes.len() > input.max_bytes;
    let shown = &bytes[..bytes.len().min(input.max_bytes)];
    Ok(Output {
        content: String::from_utf8_lossy(shown).into_owned(),
        size: bytes.len() as u64,
        truncated,
    })
}
