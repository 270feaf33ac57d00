//! The signature section and statement parser, on any bytes: never a panic, and whatever
//! parses is refused by an empty trust store.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = cordon_trust::find_signature(data);
    let verdict = cordon_trust::verify(data, &cordon_trust::TrustStore::default(), None);
    assert!(verdict.is_err(), "an empty trust store accepted a component");
    if let Ok(Some(section)) = parsed {
        assert!(section.statement.signed_at <= cordon_trust::MAX_SIGNED_AT);
        assert!(section.unsigned_len <= data.len());
    }
});
