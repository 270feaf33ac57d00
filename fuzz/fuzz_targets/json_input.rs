//! The input reader: nesting bound and duplicate keys. Never a panic; whatever is accepted is
//! within the depth bound and means the same to a plain parser.
#![no_main]

use cordon_core::json::{MAX_JSON_DEPTH, json_depth, parse_input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let depth = json_depth(data);
    if let Ok(value) = parse_input(data) {
        assert!(depth <= MAX_JSON_DEPTH);
        // No duplicate keys: the lenient parser reads the very same value.
        let plain: serde_json::Value = serde_json::from_slice(data).expect("valid for serde_json");
        assert_eq!(plain, value);
    }
});
