//! Why a component is refused, with a stable code for each reason, and the errors of key and
//! trust-store files.

use crate::keys::KeyId;

/// A component that may not be run. Each variant has a stable [`Rejection::code`]; the messages
/// never contain key material beyond public key ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    #[error("the component is not signed (no cordon-signature section)")]
    Unsigned,
    #[error("the signature section is malformed: {0}")]
    Malformed(String),
    #[error(
        "the signature does not verify: the signed statement was altered or not made by key {0}"
    )]
    BadSignature(KeyId),
    #[error(
        "the component's sha256 is {actual} but the signature covers {signed}: the component was changed after signing, or the signature belongs to another component"
    )]
    DigestMismatch { actual: String, signed: String },
    #[error(
        "the signature is dated {signed_at} s after 1970, more than a day after this machine's clock ({now}): re-sign it with a correct clock, or check this machine's clock"
    )]
    SignedInTheFuture { signed_at: u64, now: u64 },
    #[error("the signing key {0} is revoked")]
    RevokedKey(KeyId),
    #[error("the signing key {0} belongs to no trusted publisher")]
    UnknownKey(KeyId),
    #[error(
        "the tool's policy allows publishers [{allowed}], but it was signed by {publisher} ({key})"
    )]
    PublisherNotAllowed {
        publisher: String,
        key: KeyId,
        allowed: String,
    },
    #[error(
        "the signature is for {signed_name} {signed_version}, but the component describes itself as {name} {version}"
    )]
    DescribeMismatch {
        signed_name: String,
        signed_version: String,
        name: String,
        version: String,
    },
}

impl Rejection {
    /// Stable machine-readable code, used in API errors and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Unsigned => "unsigned",
            Rejection::Malformed(_) => "malformed_signature",
            Rejection::BadSignature(_) => "bad_signature",
            Rejection::DigestMismatch { .. } => "digest_mismatch",
            Rejection::SignedInTheFuture { .. } => "signed_in_the_future",
            Rejection::RevokedKey(_) => "revoked_key",
            Rejection::UnknownKey(_) => "unknown_key",
            Rejection::PublisherNotAllowed { .. } => "publisher_not_allowed",
            Rejection::DescribeMismatch { .. } => "describe_mismatch",
        }
    }
}

/// A key file or key id that cannot be used. Never includes the key's bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("{path}: cannot read the key: {error}")]
    Read {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: cannot write the key: {error}")]
    Write {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: not an ed25519 private key in PKCS#8 PEM form")]
    NotAPrivateKey { path: std::path::PathBuf },
    #[error("{0:?} is not a key id (expected `ed25519:` followed by 43 base64url characters)")]
    BadKeyId(String),
    #[error("no randomness available from the operating system: {0}")]
    Random(String),
}

/// A trust store that cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("{path}: cannot read: {error}")]
    Read {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse {
        path: std::path::PathBuf,
        message: String,
    },
}
