//! Fetches each URL it is given with GET and reports every result (status and body, or the
//! error) instead of stopping at the first failure.

use cordon_sdk::Error;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, schemars::JsonSchema)]
struct Input {
    urls: Vec<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Fetch {
    url: String,
    status: Option<u16>,
    body: Option<String>,
    error: Option<String>,
}

#[cordon_sdk::tool(name = "net-probe")]
fn probe(input: Input) -> Result<Vec<Fetch>, Error> {
    Ok(input
        .urls
        .into_iter()
        .map(|url| match cordon_sdk::http::get(&url) {
            Ok(r) => Fetch {
                status: Some(r.status),
                body: Some(r.text()),
                error: None,
                url,
            },
            Err(e) => Fetch {
                status: None,
                body: None,
                error: Some(e.to_string()),
                url,
            },
        })
        .collect())
}
