//! Statements a server signs with its log key: checkpoints of its audit log ([`Checkpoint`])
//! and the batches its receipts of executions are proven against (`receipt.rs`). Both travel as JSON and are checked offline, by
//! anyone holding the log's public key (its key id), without trusting the server or its
//! database.
//!
//! The signature covers `cordon <kind> v1\n` followed by the statement's canonical JSON (object
//! keys sorted at every level, no whitespace). So a signed statement may be
//! re-indented or have its keys reordered and still verify, while any change to a value, an
//! added or a removed field, or another kind fails.

use crate::keys::{KeyId, PrivateKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::Signature;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a signed statement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignedError {
    #[error("not a signed cordon statement: {0}")]
    Malformed(String),
    #[error("this is a {found}, not a {expected}")]
    WrongKind { expected: String, found: String },
    #[error("signed by {found}, not by the log key {expected}")]
    OtherKey { expected: String, found: String },
    #[error("the signature does not match the statement (it was changed after signing)")]
    BadSignature,
}

/// A statement and the log key's signature over it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signed {
    /// `checkpoint` or `batch`.
    pub kind: String,
    pub statement: Value,
    /// The signing key's id (`ed25519:...`).
    pub key: String,
    /// Base64 of the 64-byte ed25519 signature.
    pub signature: String,
}

/// Compact JSON with object keys sorted at every level, whatever map type `serde_json` was
/// built with.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn message(kind: &str, statement: &Value) -> Vec<u8> {
    let mut m = format!("cordon {kind} v1\n");
    canonical(statement, &mut m);
    m.into_bytes()
}

impl Signed {
    /// Signs `statement` (which must serialize to a JSON object) as a `kind`.
    pub fn sign(
        key: &PrivateKey,
        kind: &str,
        statement: &impl Serialize,
    ) -> Result<Self, SignedError> {
        let statement =
            serde_json::to_value(statement).map_err(|e| SignedError::Malformed(e.to_string()))?;
        let signature = key.sign(&message(kind, &statement));
        Ok(Signed {
            kind: kind.to_owned(),
            statement,
            key: key.key_id().to_string(),
            signature: STANDARD.encode(signature),
        })
    }

    pub fn parse(text: &str) -> Result<Self, SignedError> {
        serde_json::from_str(text).map_err(|e| SignedError::Malformed(e.to_string()))
    }

    /// Compact JSON, one line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Checks that this is a `kind` signed by `key`, and returns the statement as `T`.
    pub fn verify<T: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
        key: &KeyId,
    ) -> Result<T, SignedError> {
        if self.kind != kind {
            return Err(SignedError::WrongKind {
                expected: kind.to_owned(),
                found: self.kind.clone(),
            });
        }
        if self.key != key.to_string() {
            return Err(SignedError::OtherKey {
                expected: key.to_string(),
                found: self.key.clone(),
            });
        }
        let bytes = STANDARD
            .decode(&self.signature)
            .map_err(|_| SignedError::BadSignature)?;
        let bytes: [u8; 64] = bytes.try_into().map_err(|_| SignedError::BadSignature)?;
        let vk = key.verifying_key().ok_or(SignedError::BadSignature)?;
        vk.verify_strict(
            &message(&self.kind, &self.statement),
            &Signature::from_bytes(&bytes),
        )
        .map_err(|_| SignedError::BadSignature)?;
        serde_json::from_value(self.statement.clone())
            .map_err(|e| SignedError::Malformed(format!("the statement: {e}")))
    }
}

/// A checkpoint of an audit log: it held `size` links (the last sequence number) ending in
/// `head` at `time_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub log_id: String,
    pub size: i64,
    pub head: String,
    pub time_ms: i64,
}

impl Checkpoint {
    pub const KIND: &'static str = "checkpoint";

    pub fn sign(&self, key: &PrivateKey) -> Result<Signed, SignedError> {
        Signed::sign(key, Self::KIND, self)
    }
}

/// Every single-byte change of `text` (to `0`, `a`, `"`, a space or `9`) that `accepts` still
/// takes, named by position.
#[cfg(test)]
pub(crate) fn single_byte_changes_accepted(
    text: &str,
    accepts: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut accepted = Vec::new();
    for i in 0..text.len() {
        for replacement in [b'0', b'a', b'"', b' ', b'9'] {
            let mut bytes = text.as_bytes().to_vec();
            if bytes[i] == replacement {
                continue;
            }
            bytes[i] = replacement;
            if let Ok(changed) = String::from_utf8(bytes)
                && accepts(&changed)
            {
                accepted.push(format!("byte {i} -> {}", replacement as char));
            }
        }
    }
    accepted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            log_id: "0f".repeat(16),
            size: 42,
            head: "ab".repeat(32),
            time_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn a_checkpoint_verifies_with_its_key_only() {
        let key = PrivateKey::generate().unwrap();
        let signed = checkpoint().sign(&key).unwrap();
        let back = Signed::parse(&signed.to_json()).unwrap();
        assert_eq!(
            back.verify::<Checkpoint>(Checkpoint::KIND, &key.key_id())
                .unwrap(),
            checkpoint()
        );
        // Re-indented JSON is the same statement.
        let pretty = serde_json::to_string_pretty(&signed).unwrap();
        assert!(
            Signed::parse(&pretty)
                .unwrap()
                .verify::<Checkpoint>(Checkpoint::KIND, &key.key_id())
                .is_ok()
        );
        let other = PrivateKey::generate().unwrap();
        assert!(matches!(
            back.verify::<Checkpoint>(Checkpoint::KIND, &other.key_id()),
            Err(SignedError::OtherKey { .. })
        ));
        // Signed by another key that claims to be ours.
        let mut forged = checkpoint().sign(&other).unwrap();
        forged.key = key.key_id().to_string();
        assert_eq!(
            forged.verify::<Checkpoint>(Checkpoint::KIND, &key.key_id()),
            Err(SignedError::BadSignature)
        );
        assert!(matches!(
            back.verify::<Checkpoint>("receipt", &key.key_id()),
            Err(SignedError::WrongKind { .. })
        ));
    }

    #[test]
    fn every_single_byte_change_is_refused() {
        let key = PrivateKey::generate().unwrap();
        let text = checkpoint().sign(&key).unwrap().to_json();
        // The compact form has no whitespace between tokens, so every byte carries meaning:
        // nothing changed may verify.
        let accepted = single_byte_changes_accepted(&text, |changed| {
            Signed::parse(changed).is_ok_and(|s| {
                s.verify::<Checkpoint>(Checkpoint::KIND, &key.key_id())
                    .is_ok()
            })
        });
        assert!(accepted.is_empty(), "{accepted:?}");
    }
}
