//! Which address a request comes from: the connection's peer, or, when the peer is a proxy the
//! operator trusts (`trusted_proxies`), the client the proxy names in `X-Forwarded-For`. The
//! per-address rate limits and failed-authentication budgets count this address: behind a
//! load balancer without it, every client would share the balancer's one budget, and one
//! client guessing keys would lock all of them out.
//!
//! Deny by default: with no trusted proxy, `X-Forwarded-For` is ignored (any client can write
//! it). With some, the header is read from its right end (the entry the nearest proxy added)
//! leftwards, skipping trusted proxies; the first address that is not one is the client.
//! Entries left of it were written by whoever sent the request and are never believed.

use ipnet::IpNet;
use std::net::IpAddr;

/// The client's address for a request from `peer` carrying these `X-Forwarded-For` values.
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded_for: impl Iterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    // Every header line, in order, then every comma-separated entry: right to left.
    let entries: Vec<&str> = forwarded_for.flat_map(|v| v.split(',')).collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        let Some(ip) = parse(entry.trim()) else {
            // Unreadable: stop at the last address a trusted hop vouched for.
            return client;
        };
        client = ip;
        if !is_trusted(&ip) {
            return ip;
        }
    }
    client
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:80`.
fn parse(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    if let Ok(sock) = entry.parse::<std::net::SocketAddr>() {
        return Some(sock.ip());
    }
    entry
        .strip_prefix('[')
        .and_then(|rest| rest.split(']').next())
        .and_then(|ip| ip.parse().ok())
}

/// Parses `trusted_proxies` entries: CIDR blocks or single addresses.
pub fn parse_trusted(entries: &[String]) -> Result<Vec<IpNet>, String> {
    entries
        .iter()
        .map(|e| {
            let e = e.trim();
            e.parse::<IpNet>()
                .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!(
                        "trusted_proxies: {e:?} is neither an address nor a CIDR block (10.0.0.0/8)"
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_a_trusted_peer_is_believed_and_only_for_the_hops_it_vouches_for() {
        let lb = parse_trusted(&["10.0.0.0/24".into(), "192.0.2.1".into()]).unwrap();
        let from = |peer: &str, headers: &[&str]| client_ip(ip(peer), headers.iter().copied(), &lb);
        // No trusted proxy: the peer, whatever the header says.
        assert_eq!(
            client_ip(ip("10.0.0.5"), ["6.6.6.6"].into_iter(), &[]),
            ip("10.0.0.5")
        );
        // An untrusted peer's header is ignored.
        assert_eq!(from("203.0.113.9", &["6.6.6.6"]), ip("203.0.113.9"));
        // Through the balancer: the address it added.
        assert_eq!(from("10.0.0.5", &["198.51.100.7"]), ip("198.51.100.7"));
        // A forged entry left of it is not believed.
        assert_eq!(
            from("10.0.0.5", &["6.6.6.6, 198.51.100.7"]),
            ip("198.51.100.7")
        );
        // Two trusted hops, over two header lines, with ports and brackets.
        assert_eq!(
            from("10.0.0.5", &["6.6.6.6, 198.51.100.7:5000", "192.0.2.1"]),
            ip("198.51.100.7")
        );
        assert_eq!(from("10.0.0.5", &["[2001:db8::7]:443"]), ip("2001:db8::7"));
        // No header, an empty or unreadable one: the last address vouched for.
        assert_eq!(from("10.0.0.5", &[]), ip("10.0.0.5"));
        assert_eq!(from("10.0.0.5", &["garbage"]), ip("10.0.0.5"));
        assert_eq!(from("10.0.0.5", &["garbage, 192.0.2.1"]), ip("192.0.2.1"));
        assert!(parse_trusted(&["not-an-address".into()]).is_err());
    }
}
