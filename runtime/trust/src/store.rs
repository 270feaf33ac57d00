//! The trust store: which publisher each trusted key belongs to, and which keys are revoked.
//!
//! Two equivalent forms, chosen by what the path is:
//!
//! - a TOML file:
//!   ```toml
//!   revoked = ["ed25519:..."]
//!   [publishers]
//!   acme = ["ed25519:...", "ed25519:..."]
//!   ```
//! - a directory: one `<publisher>.pub` file per publisher with one key id per line, and an
//!   optional `revoked` file with one key id per line (`#` starts a comment in both).
//!
//! A key may belong to one publisher only; a revoked key is refused whoever lists it.

use crate::error::StoreError;
use crate::keys::KeyId;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    /// Trusted key → publisher name.
    publishers: BTreeMap<KeyId, String>,
    /// Keys refused even if a publisher lists them.
    revoked: BTreeSet<KeyId>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustFile {
    #[serde(default)]
    revoked: Vec<String>,
    #[serde(default)]
    publishers: BTreeMap<String, Vec<String>>,
}

impl TrustStore {
    /// Reads a trust store from a TOML file or a directory (see the module docs).
    pub fn load(path: &Path) -> Result<Self, StoreError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|error| StoreError::Read {
                path: p.to_owned(),
                error,
            })
        };
        let parse_err = |p: &Path, message: String| StoreError::Parse {
            path: p.to_owned(),
            message,
        };
        let mut store = TrustStore::default();
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|error| StoreError::Read {
                path: path.to_owned(),
                error,
            })?;
            let mut files: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            files.sort();
            for file in files {
                let is_pub = file.extension().is_some_and(|e| e == "pub");
                let is_revoked = file.file_name().is_some_and(|n| n == "revoked");
                if !is_pub && !is_revoked {
                    continue;
                }
                for (i, line) in read(&file)?.lines().enumerate() {
                    let line = line.split('#').next().unwrap_or("").trim();
                    if line.is_empty() {
                        continue;
                    }
                    let key = KeyId::parse(line)
                        .map_err(|e| parse_err(&file, format!("line {}: {e}", i + 1)))?;
                    if is_revoked {
                        store.revoke(key);
                    } else {
                        let name = file.file_stem().unwrap_or_default().to_string_lossy();
                        store.add(&name, key).map_err(|m| parse_err(&file, m))?;
                    }
                }
            }
        } else {
            let text = read(path)?;
            let file: TrustFile =
                toml::from_str(&text).map_err(|e| parse_err(path, e.message().to_owned()))?;
            for (i, key) in file.revoked.iter().enumerate() {
                let key =
                    KeyId::parse(key).map_err(|e| parse_err(path, format!("revoked[{i}]: {e}")))?;
                store.revoke(key);
            }
            for (name, keys) in &file.publishers {
                for (i, key) in keys.iter().enumerate() {
                    let key = KeyId::parse(key)
                        .map_err(|e| parse_err(path, format!("publishers.{name}[{i}]: {e}")))?;
                    store.add(name, key).map_err(|m| parse_err(path, m))?;
                }
            }
        }
        Ok(store)
    }

    /// Trusts `key` as belonging to `publisher`.
    pub fn add(&mut self, publisher: &str, key: KeyId) -> Result<(), String> {
        match self.publishers.get(&key) {
            Some(existing) if existing != publisher => Err(format!(
                "key {key} is listed for both {existing} and {publisher}"
            )),
            _ => {
                self.publishers.insert(key, publisher.to_owned());
                Ok(())
            }
        }
    }

    /// Refuses `key` from now on.
    pub fn revoke(&mut self, key: KeyId) {
        self.revoked.insert(key);
    }

    pub fn publisher_of(&self, key: &KeyId) -> Option<&str> {
        self.publishers.get(key).map(String::as_str)
    }

    pub fn is_revoked(&self, key: &KeyId) -> bool {
        self.revoked.contains(key)
    }
}
