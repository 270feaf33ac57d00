//! `Host` and `Origin` parsing: never a panic, and whatever parses has exactly the authority
//! shape (no `@`, `/`, whitespace or control characters, nothing after the port).
#![no_main]

use cordon_core::authority::Authority;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(a) = Authority::parse(text) {
        assert!(!text.contains(['@', '/', ' ', '\t', '\r', '\n', '\0']), "{text:?}");
        let host = a.host_text();
        assert!(!host.is_empty());
        // Parsing is stable: the authority rebuilt from its parts parses to itself.
        let rebuilt = match (&a.host, a.port) {
            (cordon_core::authority::HostPart::Ip(std::net::IpAddr::V6(_)), Some(p)) => {
                format!("[{host}]:{p}")
            }
            (cordon_core::authority::HostPart::Ip(std::net::IpAddr::V6(_)), None) => {
                format!("[{host}]")
            }
            (_, Some(p)) => format!("{host}:{p}"),
            (_, None) => host.clone(),
        };
        assert_eq!(Authority::parse(&rebuilt), Some(a), "{text:?} -> {rebuilt:?}");
    }
    let _ = Authority::parse_origin(text);
});
