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
use ct_merkle::{InclusionProof, RootHash};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
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
    /// A kept seal does not vouch for the links as they are stored now.
    #[error("the links as stored are not the ones their seal signed: {0}")]
    SealMismatch(String),
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
    pub fn records(&self) -> Option<u64> {
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

/// An RFC 6962 Merkle tree, every level kept: built with 2n - 1 hashes, and each audit path
/// then read off in log2(n) steps. (`ct_merkle`'s tree re-hashes a path on every push, which
/// made a batch of 16 cost 20 us more to sign than a batch of 1; its verifier is what checks the
/// paths this tree gives, in [`Receipt::verify`] and the tests.)
struct Tree {
    /// `levels[0]` the leaf hashes, each next level their parents; the last holds the root.
    levels: Vec<Vec<[u8; 32]>>,
}

impl Tree {
    /// The tree over `len` chain hashes in hex (at most [`MAX_BATCH_RECORDS`]).
    fn of_hashes(hashes: &[&str], len: i64) -> Result<Tree, ReceiptError> {
        if len > MAX_BATCH_RECORDS {
            return Err(ReceiptError::Malformed(format!(
                "a batch of {len} records (at most {MAX_BATCH_RECORDS})"
            )));
        }
        let leaves = hashes
            .iter()
            .map(|h| decode32(h).ok_or_else(|| ReceiptError::Malformed(format!("hash {h:?}"))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Tree::new(&leaves))
    }

    fn new(leaves: &[[u8; 32]]) -> Tree {
        let mut level: Vec<[u8; 32]> = leaves
            .iter()
            .map(|l| {
                let mut h = sha2::Sha256::new();
                h.update([0u8]);
                h.update(l);
                h.finalize().into()
            })
            .collect();
        let mut levels = Vec::new();
        while level.len() > 1 {
            // Pairs are hashed; an odd last node moves up unchanged, which is what RFC 6962's
            // split at the largest power of two below n amounts to.
            let next = level
                .chunks(2)
                .map(|pair| match pair {
                    [left, right] => {
                        let mut h = sha2::Sha256::new();
                        h.update([1u8]);
                        h.update(left);
                        h.update(right);
                        h.finalize().into()
                    }
                    [only] => *only,
                    _ => unreachable!("chunks of two"),
                })
                .collect();
            levels.push(std::mem::replace(&mut level, next));
        }
        levels.push(level);
        Tree { levels }
    }

    fn len(&self) -> usize {
        self.levels[0].len()
    }

    fn root(&self) -> [u8; 32] {
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or_default()
    }

    /// The audit path of leaf `index` (< len), leaf side first.
    fn path(&self, mut index: usize) -> Vec<[u8; 32]> {
        let mut out = Vec::new();
        for level in &self.levels[..self.levels.len() - 1] {
            if let Some(sibling) = level.get(index ^ 1) {
                out.push(*sibling);
            }
            index /= 2;
        }
        out
    }
}

/// One committed group of consecutive records, with its Merkle tree and signed statement;
/// makes the receipt of each of its records.
pub struct SignedBatch {
    first_seq: i64,
    tree: Tree,
    signed: Signed,
    /// `signed` as JSON, rendered once for all the batch's receipts.
    json: Box<serde_json::value::RawValue>,
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
        let tree = Tree::of_hashes(hashes, len)?;
        let statement = Batch {
            log_id: log_id.to_owned(),
            first_seq,
            size: first_seq + len - 1,
            head: (*head).to_owned(),
            root: hex::encode(tree.root()),
            time_ms,
        };
        let signed = Signed::sign(key, Batch::KIND, &statement)?;
        Ok(SignedBatch {
            first_seq,
            tree,
            json: serde_json::value::to_raw_value(&signed)
                .map_err(|e| ReceiptError::Malformed(e.to_string()))?,
            signed,
        })
    }

    /// A batch kept as its seal (the signed statement as JSON), rebuilt over the chain hashes
    /// of its records as they are stored now: refused unless the statement is a batch of
    /// `log_id` signed by `key`, for exactly records `first_seq..` with these hashes. This is how
    /// a link rewritten in the database, even with every hash after it recomputed, is caught.
    pub fn from_seal(
        json: &str,
        key: &KeyId,
        log_id: &str,
        first_seq: i64,
        hashes: &[&str],
    ) -> Result<Self, ReceiptError> {
        let signed = Signed::parse(json)?;
        let statement: Batch = signed.verify(Batch::KIND, key)?;
        if statement.log_id != log_id {
            return Err(ReceiptError::OtherLog {
                receipt: log_id.to_owned(),
                batch: statement.log_id,
            });
        }
        Self::rebuilt(signed, &statement, first_seq, hashes)
    }

    /// [`SignedBatch::from_seal`] of a seal this process made a moment ago (its signature is
    /// not checked again; its statement still has to match the hashes).
    pub fn from_own_seal(
        json: &str,
        first_seq: i64,
        hashes: &[&str],
    ) -> Result<Self, ReceiptError> {
        let signed = Signed::parse(json)?;
        let statement: Batch = serde_json::from_value(signed.statement.clone())
            .map_err(|e| ReceiptError::Malformed(e.to_string()))?;
        Self::rebuilt(signed, &statement, first_seq, hashes)
    }

    fn rebuilt(
        signed: Signed,
        statement: &Batch,
        first_seq: i64,
        hashes: &[&str],
    ) -> Result<Self, ReceiptError> {
        let len = i64::try_from(hashes.len()).unwrap_or(i64::MAX);
        if statement.first_seq != first_seq
            || statement.size != first_seq.saturating_add(len) - 1
            || hashes.last() != Some(&statement.head.as_str())
        {
            return Err(ReceiptError::SealMismatch(format!(
                "the seal is for records {} to {}, the store holds records {first_seq} to {}",
                statement.first_seq,
                statement.size,
                first_seq.saturating_add(len) - 1
            )));
        }
        let tree = Tree::of_hashes(hashes, len)?;
        if hex::encode(tree.root()) != statement.root {
            return Err(ReceiptError::SealMismatch(format!(
                "records {first_seq} to {} no longer hash to the root their seal signed",
                statement.size
            )));
        }
        Ok(SignedBatch {
            first_seq,
            tree,
            json: serde_json::value::to_raw_value(&signed)
                .map_err(|e| ReceiptError::Malformed(e.to_string()))?,
            signed,
        })
    }

    /// The signed batch statement.
    pub fn statement(&self) -> &Signed {
        &self.signed
    }

    /// The signed batch statement as JSON.
    pub fn statement_json(&self) -> &serde_json::value::RawValue {
        &self.json
    }

    /// The audit path of record `seq` (hex, leaf side first).
    pub fn path(&self, seq: i64) -> Result<Vec<String>, ReceiptError> {
        let last = self
            .first_seq
            .saturating_add(i64::try_from(self.tree.len()).unwrap_or(i64::MAX) - 1);
        let index = seq
            .checked_sub(self.first_seq)
            .and_then(|i| usize::try_from(i).ok())
            .filter(|i| *i < self.tree.len())
            .ok_or(ReceiptError::NotInBatch {
                seq,
                first: self.first_seq,
                last,
            })?;
        Ok(self.tree.path(index).iter().map(hex::encode).collect())
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
        Ok(Receipt {
            log_id: log_id.to_owned(),
            seq,
            prev_hash: prev_hash.to_owned(),
            hash: hash.to_owned(),
            record,
            path: self.path(seq)?,
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
            .records()
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
