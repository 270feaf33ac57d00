//! Outbound HTTP over `wasi:http`, as blocking calls a tool function can make directly.
//!
//! Every request goes through the host, which checks it against the tool's policy. A refused
//! request comes back as an [`Error`] (`failed`) that says so, e.g.
//! `request to https://x/ failed: denied by the host's network policy (HTTP-request-denied)`.
//! Redirects are not followed: a 3xx is returned as it is.

use crate::Error;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
use wasip2::io::streams::StreamError;

/// Largest chunk written to or read from a stream at once.
const CHUNK: usize = 64 * 1024;

/// An HTTP response with its whole body read.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `GET url`.
pub fn get(url: &str) -> Result<Response, Error> {
    send("GET", url, &[], &[])
}

/// Sends one request and reads the whole response.
pub fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response, Error> {
    let failed = |what: String| Error::failed(format!("request to {url} failed: {what}"));
    let request = build(method, url, headers)?;
    let outgoing_body = request
        .body()
        .map_err(|()| failed("no request body".into()))?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| failed(describe(&e)))?;

    // Write the body; if the host refused the request the stream is closed, and the response
    // below carries the real reason, so a write error only matters when the response is fine.
    let written = write_body(outgoing_body, body);

    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(failed(describe(&code))),
        Some(Err(())) | None => return Err(failed("the response was lost".into())),
    };
    written.map_err(failed)?;

    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let incoming = response
        .consume()
        .map_err(|()| failed("no response body".into()))?;
    let stream = incoming
        .stream()
        .map_err(|()| failed("no response body stream".into()))?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(CHUNK as u64) {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(failed(format!("reading the body: {}", e.to_debug_string())));
            }
        }
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn build(method: &str, url: &str, headers: &[(&str, &str)]) -> Result<OutgoingRequest, Error> {
    let invalid = |what: &str| Error::invalid_input(format!("bad request for {url}: {what}"));
    let uri: http::Uri = url.parse().map_err(|_| invalid("not a URL"))?;
    // Any other scheme goes to the host as it is: the host refuses it, and its refusal is a
    // denial in the call's usage report.
    let scheme = match uri.scheme_str() {
        Some("https") => Scheme::Https,
        Some("http") => Scheme::Http,
        Some(other) => Scheme::Other(other.to_owned()),
        None => return Err(invalid("no scheme (expected http:// or https://)")),
    };
    let authority = uri.authority().ok_or_else(|| invalid("no host"))?.as_str();
    let path = uri.path_and_query().map_or("/", |p| p.as_str());

    let fields = Fields::new();
    for (name, value) in headers {
        fields
            .append(name, value.as_bytes())
            .map_err(|e| invalid(&format!("header {name}: {e:?}")))?;
    }
    let request = OutgoingRequest::new(fields);
    let method = match method.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "PATCH" => Method::Patch,
        "OPTIONS" => Method::Options,
        other => Method::Other(other.to_owned()),
    };
    let set = |ok: Result<(), ()>, what: &str| ok.map_err(|()| invalid(what));
    set(request.set_method(&method), "method")?;
    set(request.set_scheme(Some(&scheme)), "scheme")?;
    set(request.set_authority(Some(authority)), "host")?;
    set(request.set_path_with_query(Some(path)), "path")?;
    Ok(request)
}

fn write_body(outgoing: OutgoingBody, body: &[u8]) -> Result<(), String> {
    {
        let stream = outgoing
            .write()
            .map_err(|()| "no request body stream".to_owned())?;
        for chunk in body.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| format!("writing the body: {e:?}"))?;
        }
    }
    OutgoingBody::finish(outgoing, None).map_err(|e| describe(&e))
}

/// A one-line reason for a wasi:http error code, naming the code as the WIT spells it.
fn describe(code: &ErrorCode) -> String {
    match code {
        ErrorCode::HttpRequestDenied => {
            "denied by the host's network policy (HTTP-request-denied)".to_owned()
        }
        ErrorCode::DestinationIpProhibited => {
            "the destination address is prohibited (destination-IP-prohibited)".to_owned()
        }
        ErrorCode::ConnectionTimeout | ErrorCode::ConnectionReadTimeout => "timed out".to_owned(),
        other => format!("{other:?}"),
    }
}
