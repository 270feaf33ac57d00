//! The Standard Webhooks signature (standardwebhooks.com): `webhook-signature: v1,` and the
//! base64 HMAC-SHA256, keyed with the secret's bytes, of `{webhook-id}.{webhook-timestamp}.{body}`.
//! Existing receivers and the official libraries verify it as it is.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The key of a secret as Standard Webhooks gives them: `whsec_` (optional) and base64.
pub fn key(secret: &str) -> Result<Vec<u8>, String> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret).trim();
    let key = STANDARD.decode(encoded).map_err(|_| {
        "not whsec_ followed by base64, as Standard Webhooks secrets are".to_owned()
    })?;
    if key.len() < 24 {
        return Err(format!(
            "{} bytes is too short a key: use at least 24 random bytes (whsec_$(openssl rand -base64 32))",
            key.len()
        ));
    }
    Ok(key)
}

/// The `webhook-signature` value for one message.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| <Hmac<Sha256> as Mac>::new_from_slice(&[0]).expect("a one-byte key"));
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_of_id_timestamp_and_body() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let k = key(secret).unwrap();
        let sig = signature(&k, "msg_1", 1_614_265_330, br#"{"test": 1}"#);
        assert!(sig.starts_with("v1,"));
        // Recomputed independently of `signature`.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&k).unwrap();
        mac.update(br#"msg_1.1614265330.{"test": 1}"#);
        assert_eq!(
            sig,
            format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
        );
        // Another id, time or body is another signature.
        assert_ne!(
            sig,
            signature(&k, "msg_2", 1_614_265_330, br#"{"test": 1}"#)
        );
        assert_ne!(
            sig,
            signature(&k, "msg_1", 1_614_265_331, br#"{"test": 1}"#)
        );
    }

    #[test]
    fn secrets_that_receivers_would_not_take_are_refused_with_the_fix() {
        assert!(key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
        assert!(key("not base64!").unwrap_err().contains("base64"));
        assert!(key("whsec_c2hvcnQ=").unwrap_err().contains("openssl rand"));
    }
}
