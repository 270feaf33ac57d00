//! Seals: every group of links one transaction appends (a group commit of executions, or the
//! administrative events of one change) is signed with the audit log's key *before* the
//! transaction commits, and the signed statement is kept beside the group, in the same
//! transaction (`seals`: the group's first and last sequence numbers and the statement).
//!
//! The store never holds the key: the server hands it a [`Sealer`] once it has read its log key.
//! What a seal proves is that the key holder committed exactly these links: a database writer
//! who rewrites a link, even recomputing every hash after it, cannot make a seal for the new
//! hashes. So the server checks the seals of everything a checkpoint or a receipt is about to
//! vouch for, and refuses to sign over a link that no seal covers as it is.
//!
//! Links written before a key claimed the store need none (a log written before seals existed,
//! the keys an operator made before the first node started). The first node's key claims the
//! store under the log's lock: the store keeps the key id and the *claim*, a statement the key
//! signs naming the log and the last link before the claim. A database writer cannot move that
//! mark (it would need the key), so the server reads it only through the claim's signature. Once
//! a key holds the claim, an append without a sealer is refused by the store itself.

use std::sync::{Arc, PoisonError, RwLock};

/// Signs the chain hashes of a group of links (records `first_seq`, `first_seq + 1`, ...) and
/// returns the signed statement to keep with them. An error aborts the append: nothing is
/// stored unsealed while a sealer is set.
pub trait Sealer: Send + Sync + std::fmt::Debug {
    fn seal(&self, first_seq: i64, hashes: &[&str]) -> Result<String, String>;
}

/// Signs the claim of a store for a log key, given the newest link's number then.
pub type ClaimSigner<'a> = dyn Fn(i64) -> Result<String, String> + 'a;

/// A kept seal: links `first_seq..=last_seq` and the statement signed over their hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSeal {
    pub first_seq: i64,
    pub last_seq: i64,
    pub signed: String,
}

/// Where a backend keeps the sealer it was given (none until the server sets one: tests and
/// offline tools without the log key append unsealed links, which a checkpoint then refuses).
#[derive(Debug, Default)]
pub(crate) struct SealerSlot(RwLock<Option<Arc<dyn Sealer>>>);

impl SealerSlot {
    pub(crate) fn set(&self, sealer: Arc<dyn Sealer>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Some(sealer);
    }

    /// The seal of a group about to be committed, if a sealer is set.
    pub(crate) fn seal(
        &self,
        first_seq: i64,
        hashes: &[&str],
    ) -> Result<Option<String>, crate::StorageError> {
        if hashes.is_empty() {
            return Ok(None);
        }
        let sealer = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match sealer {
            None => Ok(None),
            Some(s) => s
                .seal(first_seq, hashes)
                .map(Some)
                .map_err(crate::StorageError::Seal),
        }
    }
}

/// Why an append without a sealer is refused once a key claimed the store's log.
pub(crate) fn unsealed_refused(holder: &str) -> crate::StorageError {
    crate::StorageError::Seal(format!(
        "this store's audit log is sealed by the log key {holder}, and this command has no key to seal with: give it the log key file (--log-key, or CORDON_LOG_KEY), or make the change through a running server (--server)"
    ))
}

/// The most seals one read returns (a group is at most a few hundred links, so this covers far
/// more than a checkpoint interval at any rate this server reaches).
pub const MAX_SEALS_READ: i64 = 100_000;
