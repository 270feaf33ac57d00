//! Network allow-list patterns and host matching: a pattern, then a host, separated by the
//! first newline. Never a panic; a literal host pattern matches its own host.
#![no_main]

use cordon_core::network::{HostPattern, Scheme, classify, normalize_host, parse_ipv4_loose};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (pattern, host) = text.split_once('\n').unwrap_or((text, ""));
    let host = normalize_host(host);
    if let Some(v4) = parse_ipv4_loose(&host) {
        let _ = classify(std::net::IpAddr::V4(v4));
    }
    if let Ok(ip) = host.parse() {
        let _ = classify(ip);
    }
    if let Ok(p) = HostPattern::parse(pattern) {
        for scheme in [Scheme::Http, Scheme::Https] {
            let _ = p.matches(scheme, &host, scheme.default_port());
            let _ = p.matches(scheme, &host, 0);
        }
    }
});
