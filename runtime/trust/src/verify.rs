//! Verification, in the order that keeps untrusted bytes away from the compiler: find and parse
//! the signature section, check the ed25519 signature, check the digest of the bytes, then the
//! key (revoked, known) and the publisher against the tool's policy. Only an accepted component
//! is compiled; after that, [`check_describe`] compares what it says about itself with what was
//! signed.

use crate::error::Rejection;
use crate::section::find_signature;
use crate::statement::Statement;
use crate::store::TrustStore;
use ed25519_dalek::Signature;
use sha2::{Digest, Sha256};

/// How far ahead of this machine's clock a signing time may be (clock differences).
pub const FUTURE_SLACK_SECS: u64 = 86_400;

/// A component whose signature was accepted.
#[derive(Debug, Clone)]
pub struct Verified {
    pub statement: Statement,
    /// The publisher the signing key belongs to.
    pub publisher: String,
    /// Length of the component without its signature section: `bytes[..unsigned_len]` is what
    /// the digest covers and what should be compiled.
    pub unsigned_len: usize,
}

/// Checks a signed component against `store`. `allowed` is the tool policy's `publishers` list;
/// `None` lets any trusted publisher sign it.
pub fn verify(
    bytes: &[u8],
    store: &TrustStore,
    allowed: Option<&[String]>,
) -> Result<Verified, Rejection> {
    let section = find_signature(bytes)
        .map_err(Rejection::Malformed)?
        .ok_or(Rejection::Unsigned)?;
    let statement = section.statement;
    let key = statement.key.clone();
    let verifying = key.verifying_key().ok_or_else(|| {
        Rejection::Malformed("the public key is not a valid ed25519 point".into())
    })?;
    verifying
        .verify_strict(
            &section.statement_bytes,
            &Signature::from_bytes(&section.signature),
        )
        .map_err(|_| Rejection::BadSignature(key.clone()))?;

    let actual: [u8; 32] = Sha256::digest(&bytes[..section.unsigned_len]).into();
    if actual != statement.digest {
        return Err(Rejection::DigestMismatch {
            actual: hex::encode(actual),
            signed: statement.digest_hex(),
        });
    }
    // A stamp far ahead of the clock is a forged or broken signer clock: refused. A day of
    // slack absorbs clock differences between the signer's machine and this one.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if statement.signed_at > now.saturating_add(FUTURE_SLACK_SECS) {
        return Err(Rejection::SignedInTheFuture {
            signed_at: statement.signed_at,
            now,
        });
    }
    if store.is_revoked(&key) {
        return Err(Rejection::RevokedKey(key));
    }
    let publisher = store
        .publisher_of(&key)
        .ok_or_else(|| Rejection::UnknownKey(key.clone()))?
        .to_owned();
    if let Some(allowed) = allowed
        && !allowed.contains(&publisher)
    {
        return Err(Rejection::PublisherNotAllowed {
            publisher,
            key,
            allowed: allowed.join(", "),
        });
    }
    Ok(Verified {
        statement,
        publisher,
        unsigned_len: section.unsigned_len,
    })
}

/// After compiling: the component's own `describe()` must name the tool that was signed.
pub fn check_describe(verified: &Verified, name: &str, version: &str) -> Result<(), Rejection> {
    let s = &verified.statement;
    if s.name == name && s.version == version {
        Ok(())
    } else {
        Err(Rejection::DescribeMismatch {
            signed_name: s.name.clone(),
            signed_version: s.version.clone(),
            name: name.to_owned(),
            version: version.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PrivateKey;
    use crate::section::sign_component;

    const EMPTY: &[u8] = b"\0asm\x0d\0\x01\0";

    fn setup() -> (PrivateKey, TrustStore, Vec<u8>) {
        let key = PrivateKey::generate().unwrap();
        let mut store = TrustStore::default();
        store.add("acme", key.key_id()).unwrap();
        let signed = sign_component(EMPTY, &key, "t", "1.0.0", 1_790_000_000).unwrap();
        (key, store, signed)
    }

    #[test]
    fn signing_times_out_of_range_are_refused_without_panicking() {
        let key = PrivateKey::generate().unwrap();
        let mut store = TrustStore::default();
        store.add("acme", key.key_id()).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let at = |stamp: u64| sign_component(EMPTY, &key, "t", "1.0.0", stamp).unwrap();
        for stamp in [
            u64::MAX,
            i64::MAX as u64,
            crate::statement::MAX_SIGNED_AT + 1,
        ] {
            let err = verify(&at(stamp), &store, None).unwrap_err();
            assert_eq!(err.code(), "malformed_signature", "{stamp}");
            assert!(err.to_string().contains("year 9999"), "{err}");
        }
        let err = verify(&at(now + 2 * 86_400), &store, None).unwrap_err();
        assert_eq!(err.code(), "signed_in_the_future");
        assert!(verify(&at(now + 3_600), &store, None).is_ok());
        assert!(verify(&at(crate::statement::MAX_SIGNED_AT), &store, None).is_err());
    }

    #[test]
    fn every_rejection_has_its_own_code() {
        let (key, store, signed) = setup();
        let ok = verify(&signed, &store, None).unwrap();
        assert_eq!(
            (ok.publisher.as_str(), ok.unsigned_len),
            ("acme", EMPTY.len())
        );
        assert_eq!(
            verify(&signed, &store, Some(&["acme".into()]))
                .unwrap()
                .publisher,
            "acme"
        );

        let code = |bytes: &[u8], store: &TrustStore, allowed: Option<&[String]>| {
            verify(bytes, store, allowed).unwrap_err().code()
        };
        assert_eq!(code(EMPTY, &store, None), "unsigned");
        assert_eq!(
            code(&signed[..signed.len() - 1], &store, None),
            "malformed_signature"
        );

        // A byte of the statement (the version's last character) changed.
        let mut tampered = signed.clone();
        let at = tampered.len() - 64 - 8 - 32 - 1;
        tampered[at] ^= 1;
        assert_eq!(code(&tampered, &store, None), "bad_signature");

        // A byte of the component changed (the header's layer byte).
        let mut changed = signed.clone();
        changed[6] ^= 1;
        assert_eq!(code(&changed, &store, None), "digest_mismatch");

        assert_eq!(code(&signed, &TrustStore::default(), None), "unknown_key");
        let mut revoked = store.clone();
        revoked.revoke(key.key_id());
        assert_eq!(code(&signed, &revoked, None), "revoked_key");
        assert_eq!(
            code(&signed, &store, Some(&["other".into()])),
            "publisher_not_allowed"
        );
        assert_eq!(
            check_describe(&ok, "t", "2.0.0").unwrap_err().code(),
            "describe_mismatch"
        );
        assert!(check_describe(&ok, "t", "1.0.0").is_ok());
    }
}
