//! The network part of a policy: which hosts a tool may call (allow-list patterns) and which
//! addresses are off limits whatever a name resolves to (SSRF protection).
//!
//! Matching is done on the parsed authority of the request, never on the URL text: scheme,
//! host (lower-cased, trailing dot removed) and port must all match one pattern.

use ipnet::IpNet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `http` or `https`; nothing else is ever allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "http" => Some(Scheme::Http),
            "https" => Some(Scheme::Https),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    /// Exactly this host.
    Exact(String),
    /// Any host strictly below this domain (`*.example.com` matches `a.example.com`, not
    /// `example.com`).
    Subdomains(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortMatch {
    Any,
    Exact(u16),
}

/// One entry of `network.allow`: `[scheme://]host[:port]`, where host may start with `*.` and
/// port may be `*`. Without a scheme only https is allowed; without a port, the scheme's default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    scheme: Scheme,
    host: HostMatch,
    port: PortMatch,
}

impl HostPattern {
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("{text:?} is not a host pattern: {why}");
        let (scheme, rest) = match text.split_once("://") {
            Some((s, rest)) => (
                Scheme::parse(s).ok_or_else(|| bad("the scheme must be http or https"))?,
                rest,
            ),
            None => (Scheme::Https, text),
        };
        if !text.contains("://") && text.contains("//") {
            return Err(bad("a scheme must be followed by `://`"));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Err(bad("no host"));
        }
        if rest.contains(['/', '?', '#', '@', ' ']) || rest.contains("//") {
            return Err(bad(
                "only [scheme://]host[:port] is allowed (no path, query or user)",
            ));
        }
        let (host, port) = split_host_port(rest).ok_or_else(|| bad("malformed host or port"))?;
        let port = match port {
            None => PortMatch::Exact(scheme.default_port()),
            Some("*") => PortMatch::Any,
            Some(p) => PortMatch::Exact(
                p.parse::<u16>()
                    .ok()
                    .filter(|&p| p != 0)
                    .ok_or_else(|| bad("the port must be 1-65535 or *"))?,
            ),
        };
        let host = normalize_host(host);
        let host = if let Some(domain) = host.strip_prefix("*.") {
            check_hostname(domain).map_err(|w| bad(&w))?;
            HostMatch::Subdomains(domain.to_owned())
        } else if host.contains('*') {
            return Err(bad("a wildcard is only allowed as a leading `*.`"));
        } else {
            if host.parse::<IpAddr>().is_err() {
                check_hostname(&host).map_err(|w| bad(&w))?;
            }
            HostMatch::Exact(host)
        };
        Ok(HostPattern { scheme, host, port })
    }

    /// The one destination this pattern names, when it names exactly one (no `*.` host, no
    /// `*` port): scheme, normalized host, port.
    pub fn exact(&self) -> Option<(Scheme, &str, u16)> {
        match (&self.host, self.port) {
            (HostMatch::Exact(h), PortMatch::Exact(p)) => Some((self.scheme, h.as_str(), p)),
            _ => None,
        }
    }

    /// Whether a request to `scheme://host:port` fits this pattern. `host` must already be
    /// normalized with [`normalize_host`].
    pub fn matches(&self, scheme: Scheme, host: &str, port: u16) -> bool {
        self.scheme == scheme
            && match self.port {
                PortMatch::Any => true,
                PortMatch::Exact(p) => p == port,
            }
            && self.matches_host(host)
    }

    /// Whether `host` (normalized) is one this pattern names, whatever the scheme and port.
    pub fn matches_host(&self, host: &str) -> bool {
        match &self.host {
            HostMatch::Exact(h) => h == host,
            HostMatch::Subdomains(d) => host
                .strip_suffix(d.as_str())
                .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.')),
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme.as_str())?;
        match &self.host {
            HostMatch::Exact(h) if h.contains(':') => write!(f, "[{h}]")?,
            HostMatch::Exact(h) => f.write_str(h)?,
            HostMatch::Subdomains(d) => write!(f, "*.{d}")?,
        }
        match self.port {
            PortMatch::Any => f.write_str(":*"),
            PortMatch::Exact(p) => write!(f, ":{p}"),
        }
    }
}

/// Splits `host[:port]` or `[v6]:port`; the host is returned without brackets.
fn split_host_port(s: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            _ => Some((host, Some(after.strip_prefix(':')?))),
        };
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => Some((host, Some(port))),
        Some(_) => None,
        None => Some((s, None)),
    }
}

/// Lower-cases a host and removes one trailing dot, so `API.Example.com.` matches
/// `api.example.com`.
pub fn normalize_host(host: &str) -> String {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = host.strip_suffix('.').unwrap_or(host);
    host.to_ascii_lowercase()
}

fn check_hostname(host: &str) -> Result<(), String> {
    if host.is_empty() || host.len() > 253 {
        return Err("bad host length".into());
    }
    for label in host.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!("{label:?} is not a valid host label"));
        }
    }
    Ok(())
}

/// The `[network]` section, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkPolicy {
    /// Allowed destinations; empty means no request is allowed.
    pub allow: Vec<HostPattern>,
    /// Non-public address ranges explicitly allowed (e.g. `127.0.0.0/8` for a test server).
    pub allow_private: Vec<IpNet>,
    /// Whether the tool's requests carry the call's W3C trace context (`traceparent`) when
    /// traces are exported. Off by default: an outside API must not learn an organization's
    /// trace ids unless the operator says so.
    pub propagate_trace: bool,
}

/// Why a request was refused by the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkDenial {
    /// The destination matches no allow-list pattern.
    NotAllowed,
    /// The destination resolves to an address that is not publicly routable.
    Prohibited { addr: IpAddr, class: &'static str },
}

impl fmt::Display for NetworkDenial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkDenial::NotAllowed => f.write_str("not in the policy's network allow list"),
            NetworkDenial::Prohibited { addr, class } => {
                write!(f, "resolves to {addr}, a {class} address")
            }
        }
    }
}

impl NetworkPolicy {
    /// Whether the allow list names `host` at all (any scheme, any port): a host the tool may
    /// reach, so a link to it in its output carries data where the tool could send it anyway.
    pub fn names_host(&self, host: &str) -> bool {
        let host = normalize_host(host);
        self.allow.iter().any(|p| p.matches_host(&host))
    }

    /// Checks the destination of a request against the allow list.
    pub fn check_destination(
        &self,
        scheme: Scheme,
        host: &str,
        port: u16,
    ) -> Result<(), NetworkDenial> {
        if self.allow.iter().any(|p| p.matches(scheme, host, port)) {
            Ok(())
        } else {
            Err(NetworkDenial::NotAllowed)
        }
    }

    /// Checks one address a destination resolved to: public addresses pass, others only when
    /// an `allow_private` range contains them.
    pub fn check_address(&self, addr: IpAddr) -> Result<(), NetworkDenial> {
        match classify(addr) {
            None => Ok(()),
            Some(_) if self.allow_private.iter().any(|net| net.contains(&addr)) => Ok(()),
            Some(class) => Err(NetworkDenial::Prohibited { addr, class }),
        }
    }
}

/// `None` for a globally routable unicast address; otherwise what kind of address it is.
/// IPv4-mapped, IPv4-compatible, NAT64, 6to4 and Teredo addresses are judged by the IPv4
/// address they carry or refused outright.
pub fn classify(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    let class = match o {
        [0, ..] => "unspecified (0.0.0.0/8)",
        [10, ..] => "private (10.0.0.0/8)",
        [100, b, ..] if (64..128).contains(&b) => "shared (100.64.0.0/10)",
        [127, ..] => "loopback",
        [169, 254, ..] => "link-local (incl. cloud metadata)",
        [172, b, ..] if (16..32).contains(&b) => "private (172.16.0.0/12)",
        [192, 0, 0, _] => "IETF protocol (192.0.0.0/24)",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "documentation",
        [192, 88, 99, _] => "6to4 relay",
        [192, 168, ..] => "private (192.168.0.0/16)",
        [198, b, ..] if b == 18 || b == 19 => "benchmarking (198.18.0.0/15)",
        [a, ..] if (224..240).contains(&a) => "multicast",
        [a, ..] if a >= 240 => "reserved or broadcast",
        _ => return None,
    };
    Some(class)
}

fn classify_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let class = match s {
        [0, 0, 0, 0, 0, 0, 0, 0] => "unspecified",
        [0, 0, 0, 0, 0, 0, 0, 1] => "loopback",
        [0, 0, 0, 0, 0, 0, _, _] => "IPv4-compatible (deprecated)",
        [0x64, 0xff9b, ..] => "NAT64",
        [0x100, 0, 0, 0, ..] => "discard-only",
        [0x2001, 0xdb8, ..] => "documentation",
        [0x2001, b, ..] if b < 0x200 => "IETF protocol (2001::/23, incl. Teredo)",
        [0x2002, ..] => "6to4",
        [a, ..] if a & 0xfe00 == 0xfc00 => "unique local (fc00::/7)",
        [a, ..] if a & 0xffc0 == 0xfe80 => "link-local",
        [a, ..] if a & 0xffc0 == 0xfec0 => "site-local (deprecated)",
        [a, ..] if a & 0xff00 == 0xff00 => "multicast",
        _ => return None,
    };
    Some(class)
}

/// Parses a host the way the C library's `inet_aton` does, so odd spellings of an IPv4 address
/// (`127.1`, `2130706433`, `0x7f.1`, `0177.0.0.1`) are recognised as the address they mean and
/// never sent to a resolver that might read them the same way behind our back.
pub fn parse_ipv4_loose(host: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = host.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let nums: Vec<u64> = parts
        .iter()
        .map(|p| parse_c_number(p))
        .collect::<Option<_>>()?;
    let (last, init) = nums.split_last()?;
    if init.iter().any(|&n| n > 255) {
        return None;
    }
    let rest_bits = 8 * (4 - init.len() as u32);
    if rest_bits < 64 && *last >= 1u64 << rest_bits {
        return None;
    }
    let mut value: u64 = 0;
    for (i, &n) in init.iter().enumerate() {
        value |= n << (24 - 8 * i as u32);
    }
    value |= last;
    u32::try_from(value).ok().map(Ipv4Addr::from)
}

fn parse_c_number(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok();
    }
    if s.len() > 1 && s.starts_with('0') {
        return u64::from_str_radix(&s[1..], 8).ok();
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> HostPattern {
        HostPattern::parse(s).unwrap()
    }

    #[test]
    fn pattern_parsing_defaults_and_errors() {
        let cases = [
            ("https://api.github.com", "https://api.github.com:443"),
            ("api.github.com", "https://api.github.com:443"),
            ("http://api.github.com", "http://api.github.com:80"),
            ("api.example.com:8443", "https://api.example.com:8443"),
            ("*.example.com", "https://*.example.com:443"),
            ("https://*.example.com:*", "https://*.example.com:*"),
            ("API.Example.COM.", "https://api.example.com:443"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://[::1]:8080", "http://[::1]:8080"),
            ("https://api.github.com/", "https://api.github.com:443"),
        ];
        for (input, shown) in cases {
            assert_eq!(p(input).to_string(), shown, "{input}");
        }
        for bad in [
            "https//api.x",
            "ftp://x.com",
            "",
            "*",
            "*.",
            "a.*.com",
            "https://x.com/path",
            "https://user@x.com",
            "x.com:0",
            "x.com:99999",
            "x.com:http",
            "exa mple.com",
            "-bad.com",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?} must be refused");
        }
        assert_eq!(
            HostPattern::parse("https//api.x").unwrap_err(),
            "\"https//api.x\" is not a host pattern: a scheme must be followed by `://`"
        );
    }

    #[test]
    fn matching_is_exact_on_scheme_host_and_port() {
        let table: &[(&str, Scheme, &str, u16, bool)] = &[
            (
                "https://api.github.com",
                Scheme::Https,
                "api.github.com",
                443,
                true,
            ),
            (
                "https://api.github.com",
                Scheme::Http,
                "api.github.com",
                80,
                false,
            ),
            (
                "https://api.github.com",
                Scheme::Https,
                "api.github.com",
                8443,
                false,
            ),
            (
                "https://api.github.com",
                Scheme::Https,
                "api.github.com.evil.net",
                443,
                false,
            ),
            (
                "https://api.github.com",
                Scheme::Https,
                "evil.net",
                443,
                false,
            ),
            ("example.com", Scheme::Https, "evilexample.com", 443, false),
            (
                "example.com",
                Scheme::Https,
                "example.com.evil.net",
                443,
                false,
            ),
            ("*.example.com", Scheme::Https, "a.example.com", 443, true),
            ("*.example.com", Scheme::Https, "a.b.example.com", 443, true),
            ("*.example.com", Scheme::Https, "example.com", 443, false),
            (
                "*.example.com",
                Scheme::Https,
                "evilexample.com",
                443,
                false,
            ),
            (
                "*.example.com",
                Scheme::Https,
                "a.example.com.evil.net",
                443,
                false,
            ),
            (
                "https://*.example.com:*",
                Scheme::Https,
                "a.example.com",
                9999,
                true,
            ),
            (
                "https://*.example.com:*",
                Scheme::Http,
                "a.example.com",
                9999,
                false,
            ),
            (
                "api.example.com:8443",
                Scheme::Https,
                "api.example.com",
                8443,
                true,
            ),
            (
                "api.example.com:8443",
                Scheme::Https,
                "api.example.com",
                443,
                false,
            ),
        ];
        for (pattern, scheme, host, port, expected) in table {
            assert_eq!(
                p(pattern).matches(*scheme, &normalize_host(host), *port),
                *expected,
                "{pattern} vs {scheme:?}://{host}:{port}"
            );
        }
        // Normalisation makes case and a trailing dot irrelevant.
        assert!(p("api.github.com").matches(
            Scheme::Https,
            &normalize_host("API.GitHub.com."),
            443
        ));
    }

    #[test]
    fn address_classification() {
        let denied = [
            "127.0.0.1",
            "127.255.255.254",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "192.0.0.8",
            "::1",
            "::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
            "2002:7f00:1::",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "::127.0.0.1",
        ];
        for a in denied {
            let addr: IpAddr = a.parse().unwrap();
            assert!(
                classify(addr).is_some(),
                "{a} must be classified non-public"
            );
        }
        for a in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            let addr: IpAddr = a.parse().unwrap();
            assert_eq!(classify(addr), None, "{a} is public");
        }
    }

    #[test]
    fn allow_private_opens_only_the_listed_range() {
        let policy = NetworkPolicy {
            allow: vec![],
            allow_private: vec!["127.0.0.0/8".parse().unwrap()],
            propagate_trace: false,
        };
        assert!(policy.check_address("127.0.0.1".parse().unwrap()).is_ok());
        assert!(policy.check_address("8.8.8.8".parse().unwrap()).is_ok());
        let err = policy
            .check_address("10.0.0.1".parse().unwrap())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "resolves to 10.0.0.1, a private (10.0.0.0/8) address"
        );
    }

    #[test]
    fn loose_ipv4_spellings_are_recognised() {
        let lo = Ipv4Addr::new(127, 0, 0, 1);
        for s in [
            "127.0.0.1",
            "127.1",
            "2130706433",
            "0x7f.1",
            "0x7f000001",
            "0177.0.0.1",
            "127.0.1",
        ] {
            assert_eq!(parse_ipv4_loose(s), Some(lo), "{s}");
        }
        assert_eq!(parse_ipv4_loose("0"), Some(Ipv4Addr::UNSPECIFIED));
        for s in [
            "example.com",
            "256.1.1.1",
            "1.2.3.4.5",
            "",
            "1..2",
            "0x",
            "4294967296",
        ] {
            assert_ne!(parse_ipv4_loose(s).map(|_| ()), Some(()), "{s}");
        }
    }
}
