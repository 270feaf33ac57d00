//! Which addresses a pull may reach, and finding them for a host: the guard resolves every name
//! itself, checks each address, and connects only to one that passed.

use cordon_core::network::{classify, parse_ipv4_loose};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::TcpStream;

/// Which addresses a pull may reach: every globally routable address, and the ranges in
/// `allow_private` besides. Loopback, private, link-local (cloud metadata), and the other
/// special ranges `classify` names are refused unless listed.
#[derive(Debug, Clone, Default)]
pub struct AddressRules {
    pub allow_private: Vec<IpNet>,
}

impl AddressRules {
    /// `Ok` for an address a pull may connect to; otherwise why not.
    pub fn check(&self, addr: IpAddr) -> Result<(), String> {
        match classify(addr) {
            None => Ok(()),
            Some(_) if self.allow_private.iter().any(|n| n.contains(&addr)) => Ok(()),
            Some(class) => Err(format!("{addr} is {class}")),
        }
    }
}

/// How long a connection to a checked address may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What resolving and checking a host found.
#[derive(Debug)]
pub(crate) enum Found {
    /// The addresses the rules allow, in the resolver's order (at least one).
    Allowed(Vec<SocketAddr>),
    /// No address is allowed: why (for a name, only that it is not public, never the address).
    Refused(String),
    /// The name does not resolve: the resolver's answer.
    Unresolved(String),
}

/// Resolves `host` (a literal address, in any spelling `inet_aton` reads, is taken as is) and
/// checks every address against the rules.
pub(crate) async fn find(host: &str, port: u16, rules: &AddressRules) -> Found {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let literal = bare
        .parse::<IpAddr>()
        .ok()
        .or_else(|| parse_ipv4_loose(bare).map(IpAddr::V4));
    let addrs: Vec<SocketAddr> = match literal {
        Some(ip) => vec![SocketAddr::new(ip, port)],
        None => match tokio::net::lookup_host((bare, port)).await {
            Ok(found) => found.collect(),
            Err(e) => return Found::Unresolved(e.to_string()),
        },
    };
    if addrs.is_empty() {
        return Found::Unresolved("the resolver returned no address".into());
    }
    let mut refusal = None;
    let mut allowed = Vec::new();
    for addr in addrs {
        match rules.check(addr.ip()) {
            Ok(()) => allowed.push(addr),
            // The address a name resolved to stays on the server: the answer says only that it
            // is not public, so a refusal does not map internal names to addresses.
            Err(why) => {
                refusal.get_or_insert(if literal.is_some() {
                    why
                } else {
                    "resolves to an address that is not public".to_owned()
                });
            }
        }
    }
    match refusal {
        Some(why) if allowed.is_empty() => Found::Refused(why),
        _ => Found::Allowed(allowed),
    }
}

/// What opening a connection to a host came to.
#[derive(Debug)]
pub(crate) enum Opened {
    Connected(TcpStream),
    /// See [`Found::Refused`].
    Refused(String),
    /// See [`Found::Unresolved`].
    Unresolved(String),
    /// Every allowed address failed to connect: the last failure.
    NoConnection(String),
}

/// Resolves `host`, checks every address, and connects to the first allowed one that answers.
pub(crate) async fn open(host: &str, port: u16, rules: &AddressRules) -> Opened {
    let addrs = match find(host, port, rules).await {
        Found::Allowed(addrs) => addrs,
        Found::Refused(why) => return Opened::Refused(why),
        Found::Unresolved(why) => return Opened::Unresolved(why),
    };
    let mut failure = String::new();
    for addr in addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Opened::Connected(stream);
            }
            Ok(Err(e)) => failure = e.to_string(),
            Err(_) => failure = format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
        }
    }
    Opened::NoConnection(failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_pass_unless_a_range_is_listed() {
        let closed = AddressRules::default();
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "169.254.169.254",
            "::1",
            "fd00::1",
            "::ffff:10.0.0.1",
        ] {
            let addr: IpAddr = refused.parse().unwrap();
            let why = closed.check(addr).unwrap_err();
            assert!(why.starts_with(refused), "{why}");
        }
        assert!(closed.check("93.184.216.34".parse().unwrap()).is_ok());
        let open = AddressRules {
            allow_private: vec!["127.0.0.0/8".parse().unwrap()],
        };
        assert!(open.check("127.0.0.1".parse().unwrap()).is_ok());
        assert!(open.check("10.1.2.3".parse().unwrap()).is_err());
    }

    fn refusal(found: Found) -> String {
        match found {
            Found::Refused(why) => why,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_refused_name_is_not_answered_with_its_address() {
        let closed = AddressRules::default();
        let why = refusal(find("localhost", 443, &closed).await);
        assert_eq!(why, "resolves to an address that is not public");
        let why = refusal(find("127.0.0.1", 443, &closed).await);
        assert_eq!(why, "127.0.0.1 is loopback");
    }

    /// The spellings of an address `inet_aton` reads are that address, refused as such without
    /// asking a resolver.
    #[tokio::test]
    async fn every_spelling_of_a_refused_address_is_refused() {
        let closed = AddressRules::default();
        for (host, why) in [
            ("2130706433", "127.0.0.1 is loopback"),
            ("0177.0.0.1", "127.0.0.1 is loopback"),
            ("0x7f.1", "127.0.0.1 is loopback"),
            ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1 is loopback"),
            ("0.0.0.0", "0.0.0.0 is unspecified (0.0.0.0/8)"),
            (
                "169.254.169.254",
                "169.254.169.254 is link-local (incl. cloud metadata)",
            ),
        ] {
            assert_eq!(refusal(find(host, 80, &closed).await), why, "{host}");
        }
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_or_a_port_that_does_not_answer_says_so() {
        let loopback = AddressRules {
            allow_private: vec!["127.0.0.0/8".parse().unwrap()],
        };
        // RFC 6761: `.invalid` never resolves.
        match open("cordon-test.invalid", 80, &loopback).await {
            Opened::Unresolved(why) => assert!(!why.is_empty()),
            other => panic!("{other:?}"),
        }
        // A port nothing listens on (taken, then let go).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        match open("127.0.0.1", port, &loopback).await {
            Opened::NoConnection(why) => assert!(why.contains("refused"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
