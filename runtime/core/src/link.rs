//! How one link of the audit log's hash chain is hashed. The log (`cordon-storage`) chains its
//! records with it, and a receipt's verifier (`cordon-trust`) recomputes it from the record a
//! receipt carries: one definition for both, so they cannot drift apart.

use sha2::{Digest, Sha256};

/// What the first link points back to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of link `seq` with `body` (its canonical JSON), chained to `prev`:
/// `sha256(prev || "\n" || seq || "\n" || body)` in lowercase hex.
pub fn link_hash(prev: &str, seq: i64, body: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(seq.to_string().as_bytes());
    h.update(b"\n");
    h.update(body.as_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_hash_is_the_sha256_of_its_three_parts() {
        // sha256("0…0\n1\n{}") computed independently (Python hashlib).
        assert_eq!(
            link_hash(GENESIS, 1, "{}"),
            "857ee6299d26533d1f5f46c02209ae8bc34dc4898a8a9545493946b4ea59d6f3"
        );
    }
}
