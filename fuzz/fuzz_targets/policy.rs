//! The policy parser and the limits it yields, on any text: never a panic; every error names a
//! key path or the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.toml");
    match cordon_core::Policy::parse(text, path, Path::new("/nonexistent-fuzz-base")) {
        Ok(policy) => {
            let caps = cordon_core::Limits::server_caps();
            let _ = policy.effective_limits(&cordon_core::Limits::default(), &caps, path);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
