//! Credentials the host attaches to a tool's outbound requests (`[[network.credentials]]`): the
//! guest names a destination, the host adds the header with the secret to requests for exactly
//! that scheme, host and port, after the allow list and the address checks passed. The value
//! never enters the sandbox: not in its environment, not in a response it reads (echoes are
//! redacted), not in errors, logs or the record (which names the credential, never its value).
//!
//! ```toml
//! [[network.credentials]]
//! destination = "https://api.github.com"    # as in network.allow, one destination exactly
//! header = "Authorization"
//! value = "Bearer {secret:github-token}"    # {secret:NAME} anywhere, from the secret store
//! ```

use crate::network::{HostPattern, Scheme};
use std::fmt;

/// One piece of a credential's value template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Literal(String),
    /// A secret store entry, looked up for each call.
    Secret(String),
}

/// A credential as the policy declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub scheme: Scheme,
    /// Lower-case, as the destination is written (no trailing dot).
    pub host: String,
    pub port: u16,
    /// Lower-case header name.
    pub header: String,
    pub value: Vec<Part>,
}

/// Headers a credential may not set: they frame or route the request, and the host sets them.
const RESERVED: [&str; 11] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "expect",
    "cookie2",
];

impl Credential {
    /// Parses one `[[network.credentials]]` entry; an error names the field (`destination`,
    /// `header` or `value`) and what is wrong with it.
    pub fn parse(
        destination: &str,
        header: &str,
        value: &str,
    ) -> Result<Self, (&'static str, String)> {
        if !destination.contains("://") {
            return Err((
                "destination",
                format!(
                    "{destination:?}: write the scheme too, e.g. \"https://api.github.com\" (a credential is attached for one scheme, host and port)"
                ),
            ));
        }
        let pattern = HostPattern::parse(destination).map_err(|e| ("destination", e))?;
        let (scheme, host, port) = pattern.exact().ok_or_else(|| {
            (
                "destination",
                format!(
                    "{destination:?}: a credential names one destination; no `*.` host or `*` port"
                ),
            )
        })?;
        let valid_name = !header.is_empty()
            && header
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid_name {
            return Err(("header", format!("{header:?} is not an HTTP header name")));
        }
        let header = header.to_ascii_lowercase();
        if RESERVED.contains(&header.as_str()) {
            return Err((
                "header",
                format!(
                    "{header:?} frames or routes the request; the host sets it, a credential may not"
                ),
            ));
        }
        let parts = parse_template(value).map_err(|e| ("value", e))?;
        Ok(Credential {
            scheme,
            host: host.to_owned(),
            port,
            header,
            value: parts,
        })
    }

    /// The secret names the value uses.
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.value.iter().filter_map(|p| match p {
            Part::Secret(s) => Some(s.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// `scheme://host:port`, as the record names it.
    pub fn destination(&self) -> String {
        destination(self.scheme, &self.host, self.port)
    }

    /// The value with each secret looked up.
    pub fn resolve(
        &self,
        mut secret: impl FnMut(&str) -> Option<String>,
    ) -> Result<ResolvedCredential, Unresolved> {
        let mut value = String::new();
        let mut secrets = Vec::new();
        for part in &self.value {
            match part {
                Part::Literal(text) => value.push_str(text),
                Part::Secret(name) => {
                    let v = secret(name).ok_or_else(|| Unresolved::Missing(name.clone()))?;
                    // A line break in a header value would start another header (or request).
                    if v.chars().any(char::is_control) {
                        return Err(Unresolved::NotAHeaderValue(name.clone()));
                    }
                    value.push_str(&v);
                    secrets.push(v);
                }
            }
        }
        Ok(ResolvedCredential {
            scheme: self.scheme,
            host: self.host.clone(),
            port: self.port,
            header: self.header.clone(),
            value,
            secret_values: secrets,
            secret_names: self.secrets().map(str::to_owned).collect(),
        })
    }
}

/// Why a credential's value cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unresolved {
    #[error("secret {0} is not in the secret store")]
    Missing(String),
    #[error(
        "secret {0} holds a line break or another control character: it cannot be sent in a header"
    )]
    NotAHeaderValue(String),
}

/// `scheme://host:port` (IPv6 hosts bracketed).
pub fn destination(scheme: Scheme, host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("{}://[{host}]:{port}", scheme.as_str())
    } else {
        format!("{}://{host}:{port}", scheme.as_str())
    }
}

/// `Bearer {secret:NAME}` into its parts; `{` only opens a placeholder as `{secret:`.
fn parse_template(value: &str) -> Result<Vec<Part>, String> {
    if value.chars().any(|c| c.is_control()) {
        return Err(
            "the value may not hold control characters (a header value is one line)".into(),
        );
    }
    let mut parts = Vec::new();
    let mut rest = value;
    while let Some(at) = rest.find("{secret:") {
        if at > 0 {
            parts.push(Part::Literal(rest[..at].to_owned()));
        }
        let after = &rest[at + "{secret:".len()..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("{value:?}: `{{secret:` is not closed with `}}`"))?;
        let name = &after[..end];
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !valid {
            return Err(format!(
                "{name:?} is not a secret name (letters, digits, - _ .)"
            ));
        }
        parts.push(Part::Secret(name.to_owned()));
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest.to_owned()));
    }
    Ok(parts)
}

/// A credential ready to attach: its value holds secrets, so `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ResolvedCredential {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    pub header: String,
    pub value: String,
    /// The secret values inside `value` (redacted from whatever the guest reads).
    pub secret_values: Vec<String>,
    /// Their names, for the record.
    pub secret_names: Vec<String>,
}

impl ResolvedCredential {
    /// Whether a request goes to exactly this credential's destination. `host` is the host the
    /// guest wrote, compared without regard to case but not otherwise normalized:
    /// `api.example.com.` (a trailing dot) or another spelling of the same address is another
    /// destination, and gets nothing.
    pub fn matches(&self, scheme: Scheme, host: &str, port: u16) -> bool {
        self.scheme == scheme && self.port == port && self.host.eq_ignore_ascii_case(host)
    }

    pub fn destination(&self) -> String {
        destination(self.scheme, &self.host, self.port)
    }
}

impl fmt::Debug for ResolvedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedCredential")
            .field("destination", &self.destination())
            .field("header", &self.header)
            .field("secrets", &self.secret_names)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_names_one_destination_a_header_and_a_template() {
        let c = Credential::parse(
            "https://API.GitHub.com",
            "Authorization",
            "Bearer {secret:github-token} and {secret:b}!",
        )
        .unwrap();
        assert_eq!(c.destination(), "https://api.github.com:443");
        assert_eq!(c.header, "authorization");
        assert_eq!(c.secrets().collect::<Vec<_>>(), ["github-token", "b"]);
        let r = c.resolve(|n| Some(format!("<{n}>"))).unwrap();
        assert_eq!(r.value, "Bearer <github-token> and <b>!");
        assert_eq!(r.secret_values, ["<github-token>", "<b>"]);
        assert!(!format!("{r:?}").contains("<github-token>"));
        assert_eq!(
            c.resolve(|n| (n == "b").then(String::new)).unwrap_err(),
            Unresolved::Missing("github-token".into())
        );
        assert_eq!(
            c.resolve(|n| Some(format!("x\r\nInjected: {n}")))
                .unwrap_err(),
            Unresolved::NotAHeaderValue("github-token".into())
        );
        assert!(r.matches(Scheme::Https, "api.github.com", 443));
        assert!(r.matches(Scheme::Https, "API.GitHub.com", 443));
        assert!(!r.matches(Scheme::Https, "api.github.com.", 443));
        assert!(!r.matches(Scheme::Https, "api.github.com", 8443));
        assert!(!r.matches(Scheme::Http, "api.github.com", 443));
        let port = Credential::parse("http://10.0.0.1:8080", "X-Api-Key", "{secret:k}").unwrap();
        assert_eq!(port.destination(), "http://10.0.0.1:8080");
    }

    #[test]
    fn every_mistake_names_its_field() {
        let field = |d: &str, h: &str, v: &str| Credential::parse(d, h, v).unwrap_err().0;
        assert_eq!(field("api.github.com", "Authorization", "x"), "destination");
        assert_eq!(
            field("https://*.github.com", "Authorization", "x"),
            "destination"
        );
        assert_eq!(
            field("https://api.github.com:*", "Authorization", "x"),
            "destination"
        );
        assert_eq!(
            field("https://api.github.com/path", "Authorization", "x"),
            "destination"
        );
        assert_eq!(field("https://api.github.com", "Bad Header", "x"), "header");
        assert_eq!(field("https://api.github.com", "Host", "x"), "header");
        assert_eq!(
            field("https://api.github.com", "Content-Length", "x"),
            "header"
        );
        assert_eq!(
            field("https://api.github.com", "X", "{secret:open"),
            "value"
        );
        assert_eq!(field("https://api.github.com", "X", "{secret:}"), "value");
        assert_eq!(
            field("https://api.github.com", "X", "{secret:a b}"),
            "value"
        );
        assert_eq!(
            field("https://api.github.com", "X", "a\r\nInjected: 1"),
            "value"
        );
    }
}
