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
//! Links written before a key claimed the store need none: `sealed_after` (in the store's meta)
//! is the last of them. It is the head when the schema got the `seals` table (a log written
//! before seals existed), and again when the first node's log key claims the store (the keys
//! an operator made before any node started). Once a key holds the claim, an append without a
//! sealer is refused by the store itself.

use std::sync::{Arc, PoisonError, RwLock};

/// Signs the chain hashes of a group of links (records `first_seq`, `first_seq + 1`, ...) and
/// returns the signed statement to keep with them. An error aborts the append: nothing is
/// stored unsealed while a sealer is set.
pub trait Sealer: Send + Sync + std::fmt::Debug {
    fn seal(&self, first_seq: i64, hashes: &[&str]) -> Result<String, String>;
}

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
