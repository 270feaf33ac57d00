//! HTTP authorities as they arrive in `Host` and `Origin` headers, parsed strictly: a bracketed
//! IPv6 literal, an IPv4 literal or a DNS name, then optionally `:` and a decimal port, and
//! nothing else. Whatever does not have exactly that shape is refused, so `[::1]x`,
//! `[::1].evil.example` or `localhost@evil.example` can never pass for a loopback address.

use std::net::{IpAddr, Ipv6Addr};

/// The host part of an authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPart {
    Ip(IpAddr),
    /// A DNS name, lower-cased, without a trailing dot.
    Name(String),
}

/// A parsed `host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    pub host: HostPart,
    pub port: Option<u16>,
}

/// Longest DNS name (RFC 1035).
const MAX_NAME: usize = 253;

fn port(digits: &str) -> Option<u16> {
    if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn name(text: &str) -> Option<String> {
    let text = text.strip_suffix('.').unwrap_or(text);
    let labels_ok = text.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    // A name whose last label is a number (`0x7f.1`, `127.1`) is an address to a browser's URL
    // parser (WHATWG "ends in a number"): ambiguous, so refused.
    let last = text.rsplit('.').next().unwrap_or("");
    let numeric = last.bytes().all(|b| b.is_ascii_digit())
        || last
            .strip_prefix("0x")
            .or_else(|| last.strip_prefix("0X"))
            .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    (!text.is_empty() && text.len() <= MAX_NAME && labels_ok && !numeric)
        .then(|| text.to_ascii_lowercase())
}

impl Authority {
    /// Parses a `Host` header value (RFC 9110 §7.2: `uri-host [ ":" port ]`).
    pub fn parse(text: &str) -> Option<Authority> {
        if let Some(rest) = text.strip_prefix('[') {
            let (inside, after) = rest.split_once(']')?;
            let ip: Ipv6Addr = inside.parse().ok()?;
            let port = match after {
                "" => None,
                _ => Some(port(after.strip_prefix(':')?)?),
            };
            return Some(Authority {
                host: HostPart::Ip(IpAddr::V6(ip)),
                port,
            });
        }
        let (host, port) = match text.split_once(':') {
            Some((host, digits)) => (host, Some(port(digits)?)),
            None => (text, None),
        };
        let host = match host.parse::<std::net::Ipv4Addr>() {
            Ok(v4) => HostPart::Ip(IpAddr::V4(v4)),
            // Names made only of digits and dots are malformed addresses, not names.
            Err(_) if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') => return None,
            Err(_) => HostPart::Name(name(host)?),
        };
        Some(Authority { host, port })
    }

    /// Parses a serialized origin (`scheme://authority`, RFC 6454), returning the scheme and
    /// the authority with its port made explicit (80 for http, 443 for https).
    pub fn parse_origin(origin: &str) -> Option<(&str, Authority)> {
        let (scheme, rest) = origin.split_once("://")?;
        let default = match scheme.to_ascii_lowercase().as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        let mut authority = Authority::parse(rest)?;
        authority.port.get_or_insert(default);
        Some((scheme, authority))
    }

    /// Whether the host is `localhost` or a loopback address.
    pub fn is_loopback(&self) -> bool {
        match &self.host {
            HostPart::Ip(ip) => ip.is_loopback(),
            HostPart::Name(n) => n == "localhost",
        }
    }

    /// The host as text (IPv6 without brackets).
    pub fn host_text(&self) -> String {
        match &self.host {
            HostPart::Ip(ip) => ip.to_string(),
            HostPart::Name(n) => n.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_authorities_parse() {
        let cases = [
            ("localhost:7878", "localhost", Some(7878)),
            ("LocalHost", "localhost", None),
            ("127.0.0.1:7878", "127.0.0.1", Some(7878)),
            ("[::1]:7878", "::1", Some(7878)),
            ("[::1]", "::1", None),
            ("[2001:db8::1]:443", "2001:db8::1", Some(443)),
            ("tools.example.com.", "tools.example.com", None),
            ("a-b.example:0", "a-b.example", Some(0)),
        ];
        for (text, host, port) in cases {
            let a = Authority::parse(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!((a.host_text().as_str(), a.port), (host, port), "{text}");
        }
    }

    #[test]
    fn anything_after_the_authority_is_refused() {
        for bad in [
            "[::1]x",
            "[::1].evil.example",
            "[::1]:7920.evil.example",
            "[::1]:",
            "[::1]:+80",
            "[::1]:65536",
            "[::1",
            "[evil.example]",
            "[127.0.0.1]",
            "localhost:7878.evil.example",
            "localhost:",
            "localhost:80:80",
            "user@localhost",
            "localhost/path",
            "local host",
            "",
            ":80",
            "a..b",
            "-a.example",
            "1.2.3.4.5",
            "0x7f.1",
            "127.1",
            "localhost\0",
            "é.example",
        ] {
            assert_eq!(Authority::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn origins_carry_their_default_port() {
        let (scheme, a) = Authority::parse_origin("http://127.0.0.1").unwrap();
        assert_eq!((scheme, a.port), ("http", Some(80)));
        let (_, a) = Authority::parse_origin("https://[::1]:9").unwrap();
        assert_eq!(a.port, Some(9));
        for bad in [
            "null",
            "ftp://localhost",
            "http://localhost/",
            "http://[::1]x",
            "http://",
        ] {
            assert!(Authority::parse_origin(bad).is_none(), "{bad}");
        }
    }
}
