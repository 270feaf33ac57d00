//! Hunts for a credential the host holds for it: reads its whole environment and the files it
//! is told to, and makes the requests it is given (with headers of its own, following a redirect
//! by hand when asked), reporting everything it saw so a test can look for the secret in it.

use cordon_sdk::Error;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, schemars::JsonSchema)]
struct Input {
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    requests: Vec<Request>,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct Request {
    url: String,
    /// Headers the guest sets itself.
    #[serde(default)]
    headers: Vec<(String, String)>,
    /// Follow one redirect (a new request to its `location`).
    #[serde(default)]
    follow: bool,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Seen {
    url: String,
    status: Option<u16>,
    headers: Vec<(String, String)>,
    body: Option<String>,
    error: Option<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Report {
    env: Vec<(String, String)>,
    files: Vec<(String, String)>,
    responses: Vec<Seen>,
}

fn fetch(url: &str, headers: &[(String, String)]) -> (Seen, Option<String>) {
    let refs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    match cordon_sdk::http::send("GET", url, &refs, &[]) {
        Ok(r) => {
            let location = r
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("location"))
                .map(|(_, v)| v.clone());
            (
                Seen {
                    url: url.to_owned(),
                    status: Some(r.status),
                    body: Some(r.text()),
                    headers: r.headers,
                    error: None,
                },
                location,
            )
        }
        Err(e) => (
            Seen {
                url: url.to_owned(),
                status: None,
                headers: Vec::new(),
                body: None,
                error: Some(e.to_string()),
            },
            None,
        ),
    }
}

#[cordon_sdk::tool(name = "cred-probe")]
fn probe(input: Input) -> Result<Report, Error> {
    let env = std::env::vars().collect();
    let files = input
        .files
        .iter()
        .map(|path| {
            let got = std::fs::read_to_string(path).unwrap_or_else(|e| format!("error: {e}"));
            (path.clone(), got)
        })
        .collect();
    let mut responses = Vec::new();
    for request in &input.requests {
        let (seen, location) = fetch(&request.url, &request.headers);
        responses.push(seen);
        if request.follow
            && let Some(next) = location
        {
            // The same headers again, as a naive client following a redirect would send them.
            responses.push(fetch(&next, &request.headers).0);
        }
    }
    Ok(Report {
        env,
        files,
        responses,
    })
}
