//! The `cordon-signature` custom section: finding it among a component's top-level sections,
//! and appending it when signing.
//!
//! Only the top level of the binary is walked (section id, LEB128 size, payload); nested modules
//! are inside their sections' payloads and are skipped whole. Nothing here validates wasm: that
//! happens after verification.

use crate::keys::PrivateKey;
use crate::statement::Statement;
use sha2::{Digest, Sha256};

/// Name of the custom section that holds the signature.
pub const SECTION_NAME: &str = "cordon-signature";
const SIGNATURE_LEN: usize = 64;

/// A parsed signature section.
#[derive(Debug, Clone)]
pub struct SignatureSection {
    pub statement: Statement,
    /// The statement's encoding, exactly as signed.
    pub(crate) statement_bytes: Vec<u8>,
    pub(crate) signature: [u8; 64],
    /// Offset of the section's first byte: everything before it is what the digest covers.
    pub unsigned_len: usize,
}

/// Finds the signature section. `Ok(None)`: the binary has none. `Err`: one is there but it is
/// not well formed, or it is not the last section, or the binary's framing is broken.
pub fn find_signature(bytes: &[u8]) -> Result<Option<SignatureSection>, String> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Ok(None);
    }
    let mut pos = 8;
    let mut found: Option<(usize, &[u8])> = None;
    while pos < bytes.len() {
        let start = pos;
        let id = bytes[pos];
        let (size, after) = read_leb_u32(bytes, pos + 1).ok_or("section size is truncated")?;
        let end = after
            .checked_add(size as usize)
            .filter(|&e| e <= bytes.len())
            .ok_or("a section runs past the end of the file")?;
        if id == 0 {
            let (name_len, name_at) =
                read_leb_u32(bytes, after).ok_or("custom section name is truncated")?;
            let name_end = name_at
                .checked_add(name_len as usize)
                .filter(|&e| e <= end)
                .ok_or("custom section name runs past its section")?;
            if &bytes[name_at..name_end] == SECTION_NAME.as_bytes() {
                if found.is_some() {
                    return Err("more than one signature section".into());
                }
                found = Some((start, &bytes[name_end..end]));
            }
        }
        if found.is_some_and(|(s, _)| s != start) {
            return Err("the signature section is not the last section".into());
        }
        pos = end;
    }
    let Some((unsigned_len, payload)) = found else {
        return Ok(None);
    };
    if payload.len() < SIGNATURE_LEN {
        return Err("the section is too short to hold a signature".into());
    }
    let (statement_bytes, signature) = payload.split_at(payload.len() - SIGNATURE_LEN);
    let statement = Statement::decode(statement_bytes)?;
    Ok(Some(SignatureSection {
        statement,
        statement_bytes: statement_bytes.to_vec(),
        signature: signature.try_into().expect("64 bytes"),
        unsigned_len,
    }))
}

/// Signs `component` (any existing signature is replaced) for `name` and `version`, returning
/// the signed bytes. The caller has taken name and version from the component's own
/// `describe()`.
pub fn sign_component(
    component: &[u8],
    key: &PrivateKey,
    name: &str,
    version: &str,
    signed_at: u64,
) -> Result<Vec<u8>, String> {
    let unsigned = match find_signature(component)? {
        Some(existing) => &component[..existing.unsigned_len],
        None => component,
    };
    let statement = Statement {
        digest: Sha256::digest(unsigned).into(),
        name: name.to_owned(),
        version: version.to_owned(),
        key: key.key_id(),
        signed_at,
    };
    let statement_bytes = statement.encode()?;
    let signature = key.sign(&statement_bytes);

    let mut content = Vec::new();
    write_leb_u32(&mut content, SECTION_NAME.len() as u32);
    content.extend_from_slice(SECTION_NAME.as_bytes());
    content.extend_from_slice(&statement_bytes);
    content.extend_from_slice(&signature);

    let mut out = Vec::with_capacity(unsigned.len() + content.len() + 6);
    out.extend_from_slice(unsigned);
    out.push(0);
    write_leb_u32(
        &mut out,
        u32::try_from(content.len()).map_err(|_| "statement too large")?,
    );
    out.extend_from_slice(&content);
    Ok(out)
}

fn read_leb_u32(bytes: &[u8], mut pos: usize) -> Option<(u32, usize)> {
    let mut value: u64 = 0;
    for shift in (0..35).step_by(7) {
        let byte = *bytes.get(pos)?;
        pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return u32::try_from(value).ok().map(|v| (v, pos));
        }
    }
    None
}

fn write_leb_u32(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty component: header only.
    const EMPTY: &[u8] = b"\0asm\x0d\0\x01\0";

    #[test]
    fn leb_round_trip() {
        for v in [0, 1, 127, 128, 300, 16_384, u32::MAX] {
            let mut buf = Vec::new();
            write_leb_u32(&mut buf, v);
            assert_eq!(read_leb_u32(&buf, 0), Some((v, buf.len())));
        }
    }

    #[test]
    fn sign_then_find_and_resign_replaces() {
        let key = PrivateKey::generate().unwrap();
        let signed = sign_component(EMPTY, &key, "t", "1", 5).unwrap();
        let section = find_signature(&signed).unwrap().unwrap();
        assert_eq!(section.unsigned_len, EMPTY.len());
        assert_eq!(section.statement.name, "t");
        assert!(find_signature(EMPTY).unwrap().is_none());
        let again = sign_component(&signed, &key, "t", "2", 6).unwrap();
        assert_eq!(again.len(), signed.len());
        assert_eq!(
            find_signature(&again).unwrap().unwrap().statement.version,
            "2"
        );
    }

    #[test]
    fn a_section_after_the_signature_is_refused() {
        let key = PrivateKey::generate().unwrap();
        let mut signed = sign_component(EMPTY, &key, "t", "1", 5).unwrap();
        signed.extend_from_slice(&[0, 2, 1, b'x']);
        assert_eq!(
            find_signature(&signed).unwrap_err(),
            "the signature section is not the last section"
        );
    }
}
