//! `http-get`: fetches a URL with GET. Every request is checked by the host against the tool's
//! network policy; without a policy all are denied and the tool reports that cleanly.

use cordon_sdk::Error;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// Absolute `http://` or `https://` URL.
    url: String,
    /// Most body bytes to return (default 65536).
    #[serde(default = "default_max")]
    max_bytes: usize,
}

fn default_max() -> usize {
    64 * 1024
}

#[derive(Serialize, JsonSchema)]
struct Output {
    status: u16,
    /// Response body as text (invalid UTF-8 replaced), cut at `max_bytes`.
    body: String,
    /// True when `body` was cut.
    truncated: bool,
}

#[cordon_sdk::tool]
fn http_get(input: Input) -> Result<Output, Error> {
    if !(input.url.starts_with("http://") || input.url.starts_with("https://")) {
        return Err(Error::invalid_input("url must start with http:// or https://"));
    }
    let response = cordon_sdk::http::get(&input.url)?;
    let truncated = response.body.len() > input.max_bytes;
    let shown = &response.body[..response.body.len().min(input.max_bytes)];
    Ok(Output {
        status: response.status,
        body: String::from_utf8_lossy(shown).into_owned(),
        truncated,
    })
}
