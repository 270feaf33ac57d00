//! Keys: key ids derived from public keys, private key generation and PKCS#8 PEM files.

use crate::error::KeyError;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use std::fmt;
use std::path::Path;

const PREFIX: &str = "ed25519:";

/// A public key, written `ed25519:` + base64url (no padding) of its 32 bytes. The id *is* the
/// key, so a trust store entry cannot name one key and mean another.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 32]);

impl KeyId {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        KeyId(bytes)
    }
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let bad = || KeyError::BadKeyId(text.to_owned());
        let b64 = text.trim().strip_prefix(PREFIX).ok_or_else(bad)?;
        let bytes = URL_SAFE_NO_PAD.decode(b64).map_err(|_| bad())?;
        Ok(KeyId(bytes.try_into().map_err(|_| bad())?))
    }
    pub(crate) fn verifying_key(&self) -> Option<VerifyingKey> {
        VerifyingKey::from_bytes(&self.0).ok()
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// A signing key. Its bytes never appear in `Debug` output, errors or logs.
pub struct PrivateKey(SigningKey);

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({})", self.key_id())
    }
}

impl PrivateKey {
    /// A new key from the operating system's randomness.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        let key = SigningKey::from_bytes(&seed);
        seed.fill(0);
        Ok(PrivateKey(key))
    }

    pub fn key_id(&self) -> KeyId {
        KeyId(self.0.verifying_key().to_bytes())
    }

    /// A 256-bit key for `purpose`, derived from this key (HKDF-SHA256 over its seed, the
    /// purpose as the info): every node holding the key derives the same one, and no key
    /// derived for one purpose says anything about the key itself or another purpose's.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"cordon derived key"), &self.0.to_bytes());
        // 32 bytes is far below HKDF-SHA256's limit of 8160: it cannot fail.
        let _ = hk.expand(purpose.as_bytes(), &mut out);
        out
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// Reads a PKCS#8 PEM file (as written by [`PrivateKey::write_new`] or
    /// `openssl genpkey -algorithm ed25519`).
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let pem = std::fs::read_to_string(path).map_err(|error| KeyError::Read {
            path: path.to_owned(),
            error,
        })?;
        SigningKey::from_pkcs8_pem(&pem)
            .map(PrivateKey)
            .map_err(|_| KeyError::NotAPrivateKey {
                path: path.to_owned(),
            })
    }

    /// Writes the key as PKCS#8 PEM to a new file readable only by its owner (mode 0600).
    /// Refuses to overwrite an existing file.
    pub fn write_new(&self, path: &Path) -> Result<(), KeyError> {
        use std::io::Write;
        let write_err = |error| KeyError::Write {
            path: path.to_owned(),
            error,
        };
        // PKCS#8 v1 (RFC 8410: the seed only, no public key), exactly what
        // `openssl genpkey -algorithm ed25519` writes and every openssl 3 reads. The v2 form with
        // the public key attached is not read by openssl 3.0.
        let seed = ed25519_dalek::pkcs8::KeypairBytes {
            secret_key: self.0.to_bytes(),
            public_key: None,
        };
        let pem = seed
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| write_err(std::io::Error::other(e.to_string())))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(write_err)?;
        file.write_all(pem.as_bytes()).map_err(write_err)?;
        file.sync_all().map_err(write_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_round_trips_and_rejects_junk() {
        let key = PrivateKey::generate().unwrap();
        let id = key.key_id();
        let text = id.to_string();
        assert!(
            text.starts_with("ed25519:") && text.len() == 8 + 43,
            "{text}"
        );
        assert_eq!(KeyId::parse(&text).unwrap(), id);
        for junk in ["", "ed25519:", "ed25519:abc", "rsa:AAAA", &text[1..]] {
            assert!(KeyId::parse(junk).is_err(), "{junk}");
        }
    }

    #[test]
    fn private_key_file_is_0600_not_overwritten_and_debug_hides_it() {
        let dir = std::env::temp_dir().join(format!("cordon-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("dev.pem");
        let key = PrivateKey::generate().unwrap();
        key.write_new(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(
            PrivateKey::generate().unwrap().write_new(&path),
            Err(KeyError::Write { .. })
        ));
        let back = PrivateKey::read(&path).unwrap();
        assert_eq!(back.key_id(), key.key_id());
        let pem = std::fs::read_to_string(&path).unwrap();
        assert!(!format!("{back:?}").contains(pem.lines().nth(1).unwrap()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
