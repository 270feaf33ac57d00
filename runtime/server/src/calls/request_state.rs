//! The `requestState` a round that asked for input hands its caller (MCP SEP-2322; REST
//! `request_state`): the tool's own state, with what the host needs to take the next round,
//! sealed so the caller can neither read nor change it.
//!
//! - XChaCha20-Poly1305 under a key derived from the log key (`PrivateKey::derive`): every node
//!   sharing a store holds that key, so any node takes any round; a random 24-byte nonce per
//!   state.
//! - Bound, as associated data, to the caller, the tool and version, and the sha256 of the
//!   input: a state is refused for another caller, another tool or version, or changed input.
//! - It expires [`STATE_TTL`] after it was made.
//!
//! Text form: `cs1.` then base64url (no padding) of nonce and ciphertext.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};

/// How long a state may come back: a person reads a question and answers it in minutes; a
/// state kept longer is more likely replayed than answered.
pub const STATE_TTL_MS: i64 = 15 * 60 * 1000;

/// Largest sealed state accepted back, in bytes of text: a state is the tool's output and is
/// bounded like it on the way out; this bounds what a caller can make the server decrypt.
pub const MAX_STATE_TEXT: usize = 16 * 1024 * 1024;

const PREFIX: &str = "cs1.";
const PURPOSE: &str = "cordon request state v1";

/// What the state carries besides the tool's own bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The tool's state, as it gave it.
    #[serde(with = "b64")]
    pub state: Vec<u8>,
    /// The execution (round) that asked: the next round's record follows it.
    pub follows: String,
    /// The keys that round asked under: only answers to them reach the tool.
    pub keys: Vec<String>,
    pub expires_at_ms: i64,
    /// Tokens of sampling the call asked for up to that round (its policy's budget is per
    /// call).
    #[serde(default)]
    pub sampled_tokens: u64,
}

/// Who and what a state belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub caller: &'a str,
    pub tool: &'a str,
    pub version: &'a str,
    pub input_sha256: &'a str,
}

impl Binding<'_> {
    fn aad(&self) -> Vec<u8> {
        [
            PURPOSE,
            self.caller,
            self.tool,
            self.version,
            self.input_sha256,
        ]
        .join("\0")
        .into_bytes()
    }
}

/// Why a state came back refused. Said to the caller without detail: which check failed is of
/// use to someone forging one, not to someone who made a mistake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    #[error(
        "requestState is not one this server made for this caller, tool, version and input (it was changed, or belongs to another call); call again without it to start over"
    )]
    Refused,
    #[error(
        "requestState has expired (a round's state is kept for 15 minutes); call again without it to start over"
    )]
    Expired,
    #[error("cannot seal the request state: {0}")]
    Seal(String),
}

/// Seals and opens states with one key.
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").finish_non_exhaustive()
    }
}

impl Sealer {
    /// A sealer under `key` (derive it with [`Sealer::for_log_key`]).
    pub fn new(key: &[u8; 32]) -> Sealer {
        Sealer {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// The sealer every node with this log key shares.
    pub fn for_log_key(key: &cordon_trust::PrivateKey) -> Sealer {
        let mut derived = key.derive(PURPOSE);
        let sealer = Sealer::new(&derived);
        derived.fill(0);
        sealer
    }

    pub fn seal(&self, envelope: &Envelope, binding: &Binding<'_>) -> Result<String, StateError> {
        let plain = serde_json::to_vec(envelope).map_err(|e| StateError::Seal(e.to_string()))?;
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|e| StateError::Seal(e.to_string()))?;
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: &binding.aad(),
                },
            )
            .map_err(|e| StateError::Seal(e.to_string()))?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The envelope of `text`, if it is one this sealer made for `binding` and it has not
    /// expired at `now_ms`.
    pub fn open(
        &self,
        text: &str,
        binding: &Binding<'_>,
        now_ms: i64,
    ) -> Result<Envelope, StateError> {
        if text.len() > MAX_STATE_TEXT {
            return Err(StateError::Refused);
        }
        let bytes = text
            .strip_prefix(PREFIX)
            .and_then(|b| URL_SAFE_NO_PAD.decode(b).ok())
            .filter(|b| b.len() > 24)
            .ok_or(StateError::Refused)?;
        let (nonce, sealed) = bytes.split_at(24);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &binding.aad(),
                },
            )
            .map_err(|_| StateError::Refused)?;
        let envelope: Envelope = serde_json::from_slice(&plain).map_err(|_| StateError::Refused)?;
        if now_ms > envelope.expires_at_ms {
            return Err(StateError::Expired);
        }
        Ok(envelope)
    }
}

mod b64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: Binding<'static> = Binding {
        caller: "key-a",
        tool: "confirm",
        version: "1.0.0",
        input_sha256: "00",
    };

    fn envelope() -> Envelope {
        Envelope {
            state: b"answers so far".to_vec(),
            follows: "ex_1".into(),
            keys: vec!["confirm".into()],
            expires_at_ms: 1_000,
            sampled_tokens: 40,
        }
    }

    #[test]
    fn a_state_opens_only_for_its_binding_and_unchanged() {
        let sealer = Sealer::new(&[7; 32]);
        let text = sealer.seal(&envelope(), &BOUND).unwrap();
        assert!(text.starts_with("cs1."));
        // The caller cannot read the tool's state in it.
        assert!(!text.contains("answers"));
        assert_eq!(sealer.open(&text, &BOUND, 999).unwrap(), envelope());
        // Sealed twice, two different texts (a fresh nonce each time).
        assert_ne!(text, sealer.seal(&envelope(), &BOUND).unwrap());

        for other in [
            Binding {
                caller: "key-b",
                ..BOUND
            },
            Binding {
                tool: "delete",
                ..BOUND
            },
            Binding {
                version: "1.0.1",
                ..BOUND
            },
            Binding {
                input_sha256: "01",
                ..BOUND
            },
        ] {
            assert_eq!(sealer.open(&text, &other, 999), Err(StateError::Refused));
        }
        // Another key (another store), a flipped character, a suffix, nonsense.
        assert_eq!(
            Sealer::new(&[8; 32]).open(&text, &BOUND, 999),
            Err(StateError::Refused)
        );
        let mut flipped = text.clone().into_bytes();
        let last = flipped.len() - 3;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        for bad in [
            flipped,
            format!("{text}-TAMPERED"),
            "cs1.".into(),
            "x".into(),
        ] {
            assert_eq!(
                sealer.open(&bad, &BOUND, 999),
                Err(StateError::Refused),
                "{bad}"
            );
        }
        assert_eq!(sealer.open(&text, &BOUND, 1_001), Err(StateError::Expired));
    }

    #[test]
    fn nodes_with_one_log_key_share_the_sealer() {
        let key = cordon_trust::PrivateKey::generate().unwrap();
        let text = Sealer::for_log_key(&key).seal(&envelope(), &BOUND).unwrap();
        assert!(Sealer::for_log_key(&key).open(&text, &BOUND, 0).is_ok());
        let other = cordon_trust::PrivateKey::generate().unwrap();
        assert!(Sealer::for_log_key(&other).open(&text, &BOUND, 0).is_err());
    }
}
