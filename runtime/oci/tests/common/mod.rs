//! What the registry tests share: a small signed component, and its artifact as a registry
//! stand-in serves it.

use cordon_trust::PrivateKey;

/// A signed component: the component preamble with a custom section of padding (so the layer
/// has some size), signed as `echo` 1.2.0.
pub fn signed_component() -> Vec<u8> {
    let mut bytes = b"\0asm\x0d\x00\x01\x00".to_vec();
    let name = b"padding";
    let payload: Vec<u8> = (0..4000u32).map(|i| (i % 251) as u8).collect();
    let size = 1 + name.len() + payload.len();
    bytes.push(0);
    // LEB128 of the section size (under 2^14).
    bytes.push((size & 0x7f) as u8 | 0x80);
    bytes.push((size >> 7) as u8);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(&payload);
    let key = PrivateKey::generate().unwrap();
    cordon_trust::sign_component(&bytes, &key, "echo", "1.2.0", 1_764_800_000).unwrap()
}
