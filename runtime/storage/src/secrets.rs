//! The local secret store: `<data dir>/secrets.json`, every value encrypted at rest with
//! XChaCha20-Poly1305 under a 256-bit key taken from the `CORDON_SECRET_KEY` environment
//! variable (never from a file next to the secrets, never from argv).
//!
//! File layout: `{"version": 1, "secrets": {"NAME": {"nonce": b64, "ciphertext": b64}}}`. Each
//! value has its own random 24-byte nonce, and the secret's name is the associated data, so a
//! ciphertext moved to another name fails to decrypt. Values never appear in `Debug`, errors or
//! logs.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Environment variable that holds the store's key (base64 of 32 bytes).
pub const KEY_VAR: &str = "CORDON_SECRET_KEY";
const FILE: &str = "secrets.json";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    #[error("{KEY_VAR} is not set; create a key with `cordon secret new-key` and export it")]
    NoKey,
    #[error("{KEY_VAR} must be the base64 encoding of exactly 32 bytes")]
    BadKey,
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("secret {0} cannot be decrypted with this key (wrong key, or the file was altered)")]
    Decrypt(String),
    #[error("{0:?} is not a valid secret name (letters, digits, '-', '_', '.')")]
    BadName(String),
    #[error("no randomness available: {0}")]
    Random(String),
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    nonce: String,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct StoreFile {
    version: u32,
    secrets: BTreeMap<String, Sealed>,
}

/// An open secret store.
pub struct SecretStore {
    path: PathBuf,
    cipher: XChaCha20Poly1305,
    file: StoreFile,
}

impl std::fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretStore")
            .field("path", &self.path)
            .field("names", &self.file.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A fresh random key, base64-encoded, for `CORDON_SECRET_KEY`.
pub fn new_key() -> Result<String, SecretError> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| SecretError::Random(e.to_string()))?;
    Ok(STANDARD.encode(key))
}

impl SecretStore {
    /// Opens (or starts) the store in `data_dir` with the key from the environment.
    pub fn open(data_dir: &Path) -> Result<Self, SecretError> {
        let key = std::env::var(KEY_VAR).map_err(|_| SecretError::NoKey)?;
        Self::open_with_key(data_dir, &key)
    }

    pub fn open_with_key(data_dir: &Path, key_b64: &str) -> Result<Self, SecretError> {
        let key = STANDARD
            .decode(key_b64.trim())
            .ok()
            .filter(|k| k.len() == 32)
            .ok_or(SecretError::BadKey)?;
        let cipher = XChaCha20Poly1305::new_from_slice(&key).map_err(|_| SecretError::BadKey)?;
        let path = data_dir.join(FILE);
        let file_err = |message: String| SecretError::File {
            path: path.clone(),
            message,
        };
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let file: StoreFile =
                    serde_json::from_str(&text).map_err(|e| file_err(e.to_string()))?;
                if file.version != 1 {
                    return Err(file_err(format!("unknown version {}", file.version)));
                }
                file
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => StoreFile {
                version: 1,
                secrets: BTreeMap::new(),
            },
            Err(e) => return Err(file_err(e.to_string())),
        };
        Ok(SecretStore { path, cipher, file })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.file.secrets.keys().map(String::as_str)
    }

    /// The value of `name`, `Ok(None)` if there is no such secret.
    pub fn get(&self, name: &str) -> Result<Option<String>, SecretError> {
        let Some(sealed) = self.file.secrets.get(name) else {
            return Ok(None);
        };
        let fail = || SecretError::Decrypt(name.to_owned());
        let nonce = STANDARD.decode(&sealed.nonce).map_err(|_| fail())?;
        let ciphertext = STANDARD.decode(&sealed.ciphertext).map_err(|_| fail())?;
        if nonce.len() != 24 {
            return Err(fail());
        }
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| fail())?;
        String::from_utf8(plain).map(Some).map_err(|_| fail())
    }

    /// Stores `value` under `name` and writes the file (atomically, mode 0600).
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), SecretError> {
        let valid = !name.is_empty()
            && name.len() <= 128
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !valid {
            return Err(SecretError::BadName(name.to_owned()));
        }
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|e| SecretError::Random(e.to_string()))?;
        let ciphertext = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: value.as_bytes(),
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Decrypt(name.to_owned()))?;
        self.file.secrets.insert(
            name.to_owned(),
            Sealed {
                nonce: STANDARD.encode(nonce),
                ciphertext: STANDARD.encode(ciphertext),
            },
        );
        self.save()
    }

    /// Removes `name`; true if it existed.
    pub fn remove(&mut self, name: &str) -> Result<bool, SecretError> {
        let existed = self.file.secrets.remove(name).is_some();
        if existed {
            self.save()?;
        }
        Ok(existed)
    }

    fn save(&self) -> Result<(), SecretError> {
        use std::io::Write;
        let file_err = |e: std::io::Error| SecretError::File {
            path: self.path.clone(),
            message: e.to_string(),
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(file_err)?;
        }
        let tmp = self
            .path
            .with_extension(format!("tmp{}", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp).map_err(file_err)?;
        let text = serde_json::to_string_pretty(&self.file)
            .map_err(|e| file_err(std::io::Error::other(e)))?;
        f.write_all(text.as_bytes()).map_err(file_err)?;
        f.sync_all().map_err(file_err)?;
        std::fs::rename(&tmp, &self.path).map_err(file_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_encrypted_at_rest_and_bound_to_the_name() {
        let dir = std::env::temp_dir().join(format!("cordon-secrets-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let key = new_key().unwrap();
        let mut store = SecretStore::open_with_key(&dir, &key).unwrap();
        store.set("gh-token", "ghp_abcdef123456").unwrap();
        store.set("other", "x").unwrap();
        let text = std::fs::read_to_string(dir.join(FILE)).unwrap();
        assert!(!text.contains("ghp_abcdef123456"));

        let store = SecretStore::open_with_key(&dir, &key).unwrap();
        assert_eq!(
            store.get("gh-token").unwrap().as_deref(),
            Some("ghp_abcdef123456")
        );
        assert_eq!(store.get("missing").unwrap(), None);
        assert_eq!(store.names().collect::<Vec<_>>(), ["gh-token", "other"]);
        assert!(!format!("{store:?}").contains("ghp_"));

        let wrong = SecretStore::open_with_key(&dir, &new_key().unwrap()).unwrap();
        assert!(matches!(
            wrong.get("gh-token"),
            Err(SecretError::Decrypt(_))
        ));

        // A ciphertext moved under another name does not decrypt.
        let mut file: serde_json::Value = serde_json::from_str(&text).unwrap();
        file["secrets"]["other"] = file["secrets"]["gh-token"].clone();
        std::fs::write(dir.join(FILE), file.to_string()).unwrap();
        let store = SecretStore::open_with_key(&dir, &key).unwrap();
        assert!(matches!(store.get("other"), Err(SecretError::Decrypt(_))));

        assert!(matches!(
            SecretStore::open_with_key(&dir, "c2hvcnQ="),
            Err(SecretError::BadKey)
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
