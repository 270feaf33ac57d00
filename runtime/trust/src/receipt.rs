//! Receipts of executions, signed once per group commit.
//!
//! The server commits records in groups (one transaction, one fsync). For each group it builds
//! a Merkle tree (RFC 6962: leaf `sha256(0x00 || h)`, node `sha256(0x01 || left || right)`)
//! over the chain hashes `h` of the group's records, in sequence order, and signs one
//! [`Batch`] statement: the log, the group's first and last sequence numbers, the log's head
//! after it, and the tree's root. A record's [`Receipt`] carries the record itself (its
//! canonical JSON, exactly the bytes the chain hashed), its place in the chain, its audit path
//! in the group's tree, and the signed batch. So one signature serves every record of a group,
//! and each receipt is still checked on its own, offline, with the log key alone:
//!
//! 1. the record's chain hash is recomputed from `prev_hash`, `seq` and `record`;
//! 2. the audit path leads from that hash to the batch's root;
//! 3. the batch is signed by the log key.
//!
//! The path names only hashes of the group's other records: a receipt reveals nothing of
//! another caller's execution. A batch statement is also a checkpoint of the log (`size` links
//! ending in `head`), so whoever keeps a receipt also holds evidence of the log's state then.

use crate::keys::{KeyId, PrivateKey};
use crate::signed::{Signed, SignedError};
use cordon_core::link::link_hash;
use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{InclusionProof, RootHash};
use serde::{Deserialize, Serialize};
use sha2_v11::Sha256;

/// The most records one batch may hold; far above what one group commit takes, it bounds the
/// audit path a verifier walks (log2 of it) whatever a receipt claims.
pub const MAX_BATCH_RECORDS: i64 = 1 << 20;

/// Why a receipt was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptError {
    #[error("not a cordon receipt: {0}")]
    Malformed(String),
    #[error("the record does not match its hash: it was changed after it was signed")]
    RecordChanged,
    #[error("the batch: {0}")]
    Batch(#[from] SignedError),
    #[error("the receipt is for log {receipt}, its batch was signed for log {batch}")]
    OtherLog { receipt: String, batch: String },
    #[error("record {seq} is not in the signed batch (records {first} to {last})")]
    NotInBatch { seq: i64, first: i64, last: i64 },
    #[error("the record's audit path does not lead to the batch's signed root")]
    BadPath,
}

/// The signed statement of one group commit: records `first_seq..=size` of log `log_id`, after
/// which the log held `size` links ending in `head`; `root` is the Merkle tree hash of their
/// chain hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    pub log_id: String,
    pub first_seq: i64,
    pub size: i64,
    pub head: String,
    pub root: String,
    pub time_ms: i64,
}

impl Batch {
    pub const KIND: &'static str = "batch";

    /// How many records the batch holds; `None` for a range that holds none or cannot be.
    pub fn len(&self) -> Option<u64> {
        let span = self.size.checked_sub(self.first_seq)?.checked_add(1)?;
        u64::try_from(span).ok().filter(|n| *n > 0)
    }
}

/// A receipt of one execution record: the record, where it sits in the audit log, and the proof
/// that the log key signed it (see the module's documentation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    pub log_id: String,
    pub seq: i64,
    /// The hash of the link before this record.
    pub prev_hash: String,
    /// This record's chain hash.
    pub hash: String,
    /// The record's canonical JSON, as a string: exactly the bytes that were hashed.
    pub record: String,
    /// The audit path from this record's leaf to the batch's root (hex, leaf side first).
    pub path: Vec<String>,
    /// The signed [`Batch`] the record was committed in.
    pub batch: Signed,
}

fn decode32(hex_text: &str) -> Option<[u8; 32]> {
    hex::decode(hex_text).ok()?.try_into().ok()
}

/// One committed group of consecutive records, with its Merkle tree and signed statement;
/// makes the receipt of each of its records.
pub struct SignedBatch {
    first_seq: i64,
    tree: MemoryBackedTree<Sha256, [u8; 32]>,
    signed: Signed,
}

impl std::fmt::Debug for SignedBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedBatch")
            .field("first_seq", &self.first_seq)
            .field("len", &self.tree.len())
            .finish_non_exhaustive()
    }
}

impl SignedBatch {
    /// Builds the tree over `hashes` (the chain hashes of records `first_seq`, `first_seq + 1`,
    /// ..., in hex) and signs its batch statement with `key`.
    pub fn sign(
        key: &PrivateKey,
        log_id: &str,
        first_seq: i64,
        hashes: &[&str],
        time_ms: i64,
    ) -> Result<Self, ReceiptError> {
        let (Some(head), Ok(len)) = (hashes.last(), i64::try_from(hashes.len())) else {
            return Err(ReceiptError::Malformed("an empty batch".into()));
        };
        if len > MAX_BATCH_RECORDS {
            return Err(ReceiptError::Malformed(format!(
                "a batch of {len} records (at most {MAX_BATCH_RECORDS})"
            )));
        }
        let mut tree = MemoryBackedTree::new();
        for h in hashes {
            tree.push(decode32(h).ok_or_else(|| ReceiptError::Malformed(format!("hash {h:?}")))?);
        }
        let statement = Batch {
            log_id: log_id.to_owned(),
            first_seq,
            size: first_seq + len - 1,
            head: (*head).to_owned(),
            root: hex::encode(tree.root().as_bytes()),
            time_ms,
        };
        Ok(SignedBatch {
            first_seq,
            tree,
            signed: Signed::sign(key, Batch::KIND, &statement)?,
        })
    }

    /// The signed batch statement.
    pub fn statement(&self) -> &Signed {
        &self.signed
    }

    /// The receipt of record `seq` of this batch, given the rest of its link.
    pub fn receipt(
        &self,
        log_id: &str,
        seq: i64,
        prev_hash: &str,
        hash: &str,
        record: String,
    ) -> Result<Receipt, ReceiptError> {
        let last = self
            .first_seq
            .saturating_add(i64::try_from(self.tree.len()).unwrap_or(i64::MAX) - 1);
        let Some(index) = seq
            .checked_sub(self.first_seq)
            .and_then(|i| usize::try_from(i).ok())
            .filter(|i| (*i as u64) < self.tree.len())
        else {
            return Err(ReceiptError::NotInBatch {
                seq,
                first: self.first_seq,
                last,
            });
        };
        let proof = self.tree.prove_inclusion(index);
        Ok(Receipt {
            log_id: log_id.to_owned(),
            seq,
            prev_hash: prev_hash.to_owned(),
            hash: hash.to_owned(),
            record,
            path: proof.as_bytes().chunks(32).map(hex::encode).collect(),
            batch: self.signed.clone(),
        })
    }
}

impl Receipt {
    /// Parses a receipt from JSON.
    pub fn parse(value: serde_json::Value) -> Result<Self, ReceiptError> {
        serde_json::from_value(value).map_err(|e| ReceiptError::Malformed(e.to_string()))
    }

    /// Checks the receipt against the log key (steps 1-3 of the module's documentation) and
    /// returns its batch statement. Never panics, whatever the receipt holds.
    pub fn verify(&self, key: &KeyId) -> Result<Batch, ReceiptError> {
        if link_hash(&self.prev_hash, self.seq, &self.record) != self.hash {
            return Err(ReceiptError::RecordChanged);
        }
        let batch: Batch = self.batch.verify(Batch::KIND, key)?;
        if batch.log_id != self.log_id {
            return Err(ReceiptError::OtherLog {
                receipt: self.log_id.clone(),
                batch: batch.log_id,
            });
        }
        let not_in = || ReceiptError::NotInBatch {
            seq: self.seq,
            first: batch.first_seq,
            last: batch.size,
        };
        let len = batch
            .len()
            .filter(|n| *n <= MAX_BATCH_RECORDS as u64)
            .ok_or_else(not_in)?;
        let index = self
            .seq
            .checked_sub(batch.first_seq)
            .and_then(|i| u64::try_from(i).ok())
            .filter(|i| *i < len)
            .ok_or_else(not_in)?;
        let leaf = decode32(&self.hash).ok_or(ReceiptError::RecordChanged)?;
        let root = decode32(&batch.root).ok_or(ReceiptError::BadPath)?;
        let mut path = Vec::with_capacity(self.path.len() * 32);
        for node in &self.path {
            path.extend(decode32(node).ok_or(ReceiptError::BadPath)?);
        }
        let proof =
            InclusionProof::<Sha256>::try_from_bytes(path).map_err(|_| ReceiptError::BadPath)?;
        RootHash::<Sha256>::new(root.into(), len)
            .verify_inclusion(&leaf, index, &proof)
            .map_err(|_| ReceiptError::BadPath)?;
        Ok(batch)
    }

    /// The record the receipt is for, as JSON (check it with [`Receipt::verify`] first).
    pub fn record_json(&self) -> Result<serde_json::Value, ReceiptError> {
        serde_json::from_str(&self.record).map_err(|e| ReceiptError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
#[path = "receipt_tests.rs"]
mod tests;
