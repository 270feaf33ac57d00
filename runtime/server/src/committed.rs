//! What the journal hands over once a record is durable: the record, its canonical body and the
//! signed batch it was committed in; and what the journal needs to have a batch signed. Both the
//! journal (which commits) and the audit log (which holds the key and makes receipts) build on
//! these types; neither knows the other.

use cordon_storage::ExecutionRecord;
use cordon_trust::{ReceiptError, SignedBatch};
use std::sync::Arc;

/// A durable record, its canonical body, and the signed batch it was committed in.
#[derive(Debug)]
pub struct Committed {
    pub record: ExecutionRecord,
    pub body: String,
    pub batch: Arc<SignedBatch>,
}

/// Signs the statement of one committed group: records `first_seq`, ... with these chain hashes
/// (see `cordon_trust::SignedBatch`).
pub trait BatchSigner: Send + Sync {
    fn sign_batch(
        &self,
        first_seq: i64,
        hashes: &[&str],
        time_ms: i64,
    ) -> Result<SignedBatch, ReceiptError>;
}
