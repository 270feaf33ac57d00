//! The signed statement: what a signature vouches for, in one unambiguous byte encoding.
//!
//! ```text
//! "cordon-signature-v1" 0x00       20 bytes, fixed
//! digest                          32 bytes, sha256 of the component bytes before the section
//! name length, name               u16 big-endian, UTF-8
//! version length, version         u16 big-endian, UTF-8
//! public key                      32 bytes, ed25519
//! signed at                       u64 big-endian, seconds since the Unix epoch (UTC)
//! ```

use crate::keys::KeyId;

pub(crate) const MAGIC: &[u8; 20] = b"cordon-signature-v1\0";

/// The latest signing time a statement may carry: the last second of year 9999 (the range of
/// RFC 3339 timestamps). Anything later is malformed, never a date to format or add to.
pub const MAX_SIGNED_AT: u64 = 253_402_300_799;

/// What a signature vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// sha256 of the component bytes that precede the signature section.
    pub digest: [u8; 32],
    /// The tool's name, as its `describe()` returns it.
    pub name: String,
    /// The tool's version, as its `describe()` returns it.
    pub version: String,
    /// The signer's public key.
    pub key: KeyId,
    /// When it was signed, in seconds since the Unix epoch.
    pub signed_at: u64,
}

impl Statement {
    pub fn digest_hex(&self) -> String {
        hex::encode(self.digest)
    }

    pub(crate) fn encode(&self) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.digest);
        for (field, text) in [("name", &self.name), ("version", &self.version)] {
            let len = u16::try_from(text.len())
                .map_err(|_| format!("the {field} is longer than 65535 bytes"))?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(text.as_bytes());
        }
        out.extend_from_slice(self.key.as_bytes());
        out.extend_from_slice(&self.signed_at.to_be_bytes());
        Ok(out)
    }

    /// Parses exactly one statement; trailing bytes are an error.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(MAGIC.len())? != MAGIC {
            return Err("unknown statement version".into());
        }
        let digest = r.array::<32>()?;
        let name = r.text("name")?;
        let version = r.text("version")?;
        let key = KeyId::from_bytes(r.array::<32>()?);
        let signed_at = u64::from_be_bytes(r.array::<8>()?);
        if signed_at > MAX_SIGNED_AT {
            return Err(format!(
                "the signing time {signed_at} is past the year 9999 (at most {MAX_SIGNED_AT} seconds since 1970)"
            ));
        }
        if r.pos != bytes.len() {
            return Err("trailing bytes after the statement".into());
        }
        Ok(Statement {
            digest,
            name,
            version,
            key,
            signed_at,
        })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or("truncated statement")?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("take returned N bytes"))
    }
    fn text(&mut self, field: &str) -> Result<String, String> {
        let len = u16::from_be_bytes(self.array::<2>()?) as usize;
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| format!("the {field} is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip_and_strictness() {
        let s = Statement {
            digest: [7; 32],
            name: "echo".into(),
            version: "1.2.3".into(),
            key: KeyId::from_bytes([9; 32]),
            signed_at: 1_790_000_000,
        };
        let bytes = s.encode().unwrap();
        assert_eq!(bytes.len(), 20 + 32 + 2 + 4 + 2 + 5 + 32 + 8);
        assert_eq!(Statement::decode(&bytes).unwrap(), s);
        assert_eq!(
            Statement::decode(&bytes[..bytes.len() - 1]).unwrap_err(),
            "truncated statement"
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            Statement::decode(&longer).unwrap_err(),
            "trailing bytes after the statement"
        );
    }
}
