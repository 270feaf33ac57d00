//! Fetches each URL it is given with GET and reports every result (status and body, or the
//! error) instead of stopping at the first failure.

use cordon_sdk::Error;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, schemars::JsonSchema)]
struct Input {
    #[serde(default)]
    urls: Vec<String>,
    /// Also try raw sockets: a TCP connection to this address and a name lookup of this host.
    #[serde(default)]
    tcp: Option<String>,
    #[serde(default)]
    lookup: Option<String>,
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
    use std::net::ToSocketAddrs;
    let mut raw = Vec::new();
    if let Some(addr) = input.tcp {
        let error = match std::net::TcpStream::connect(&addr) {
            Ok(_) => None,
            Err(e) => Some(e.to_string()),
        };
        raw.push(Fetch { url: format!("tcp://{addr}"), status: None, body: None, error });
    }
    if let Some(host) = input.lookup {
        let error = match (host.as_str(), 80).to_socket_addrs() {
            Ok(mut addrs) => addrs.next().is_none().then(|| "no addresses".to_owned()),
            Err(e) => Some(e.to_string()),
        };
        raw.push(Fetch { url: format!("lookup://{host}"), status: None, body: None, error });
    }
    Ok(raw.into_iter().chain(input
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
        }))
        .collect())
}
