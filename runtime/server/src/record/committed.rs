//! What the journal hands over once a record is durable: the record, its canonical body and the
//! signed batch it was committed in (the seal the store kept with its group). Both the journal
//! (which commits) and the audit log (which holds the key and makes receipts) build on this
//! type; neither knows the other.

use cordon_storage::ExecutionRecord;
use cordon_trust::SignedBatch;
use std::sync::Arc;

/// A durable record, its canonical body, and the signed batch it was committed in.
#[derive(Debug)]
pub struct Committed {
    pub record: ExecutionRecord,
    pub body: String,
    pub batch: Arc<SignedBatch>,
}
