//! Group commit for the execution log: one writer thread takes every record waiting in its queue
//! (up to a batch), appends them in one transaction, signs the committed group once, and only
//! then are the waiting requests answered. Under load many executions share one fsync and one
//! signature; with a single caller it is one of each per record. Either way no answer is sent
//! before its record is durable, and each answer's receipt is proven against its batch's signed
//! statement (`cordon_trust::SignedBatch`).
//!
//! Only what must be serial is: each record is prepared (its canonical body and check bytes) on
//! its request's own task before it is queued; the writer chains, stores and signs. Signing on
//! the writer (a few tens of microseconds a group) costs one thread wake less per group than a
//! signer thread of its own would, and records that arrive meanwhile join the next group.
//! (Signing on the request tasks instead would stall the async workers on each other for the
//! length of a signature.)

use crate::clock::now_ms;
use crate::committed::{BatchSigner, Committed};
use crate::error::ApiError;
use cordon_storage::{ExecutionRecord, NewExecution, Prepared, Storage};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;
use tokio::sync::oneshot;

/// Most records committed in one transaction.
const MAX_BATCH: usize = 512;

type Reply = oneshot::Sender<Result<Committed, ApiError>>;

/// The handle requests use to append; cheap to clone.
#[derive(Debug, Clone)]
pub struct Journal {
    queue: mpsc::Sender<(Prepared, Reply)>,
}

impl Journal {
    /// Starts the writer thread over the execution log in `log`, each committed group signed
    /// by `signer` (the audit log's key).
    pub fn start(log: Arc<dyn Storage>, signer: Arc<dyn BatchSigner>) -> std::io::Result<Self> {
        let (queue, incoming) = mpsc::channel::<(Prepared, Reply)>();
        std::thread::Builder::new()
            .name("cordon-journal".into())
            .spawn(move || write(&*log, &*signer, &incoming))?;
        Ok(Journal { queue })
    }

    /// Prepares one record, appends it and waits until it is durable and its batch signed.
    pub async fn append(&self, record: NewExecution) -> Result<Committed, ApiError> {
        let prepared = Prepared::new(record).map_err(ApiError::internal)?;
        let (reply, done) = oneshot::channel();
        self.queue
            .send((prepared, reply))
            .map_err(|_| ApiError::internal("the execution log writer has stopped"))?;
        done.await
            .map_err(|_| ApiError::internal("the execution log writer has stopped"))?
    }
}

/// The writer: every waiting record (up to a batch) in one transaction, then one signature.
fn write(
    log: &dyn Storage,
    signer: &dyn BatchSigner,
    incoming: &mpsc::Receiver<(Prepared, Reply)>,
) {
    while let Ok(first) = incoming.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match incoming.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let (records, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let count = records.len();
        match log.append_prepared(&records) {
            Ok(stored) => {
                sign(signer, (stored, records, replies));
                crate::metrics::group_commit(count, started.elapsed());
            }
            Err(e) => {
                tracing::error!(error = %e, records = records.len(), "execution log append failed; these executions are not acknowledged");
                let refusal = match e {
                    // Whether a commit cut off by a lost connection landed is unknown: the
                    // record may be in the log, but the answer never says `ok` for it.
                    cordon_storage::StorageError::Unavailable(_) => ApiError::new(
                        axum::http::StatusCode::SERVICE_UNAVAILABLE,
                        "store_unavailable",
                        "the database is unavailable: this execution could not be recorded, so it is not acknowledged; retry shortly",
                    )
                    .retry_after(crate::error::STORE_RETRY_SECS),
                    other => ApiError::internal(other),
                };
                for reply in replies {
                    let _ = reply.send(Err(refusal.clone()));
                }
            }
        }
    }
}

/// A committed group: the records as stored, as prepared, and who waits for each.
type Stored = (Vec<ExecutionRecord>, Vec<Prepared>, Vec<Reply>);

/// One signature over a committed group, then every answer of the group.
fn sign(signer: &dyn BatchSigner, (stored, records, replies): Stored) {
    let first = stored.first().map_or(0, |r| r.seq);
    let hashes: Vec<&str> = stored.iter().map(|r| r.hash.as_str()).collect();
    match signer.sign_batch(first, &hashes, now_ms()) {
        Ok(signed) => {
            let signed = Arc::new(signed);
            for ((reply, record), prepared) in replies.into_iter().zip(stored).zip(records) {
                let _ = reply.send(Ok(Committed {
                    record,
                    body: prepared.into_body(),
                    batch: signed.clone(),
                }));
            }
        }
        Err(e) => {
            // The records are durable and the log verifies; only these receipts are lost.
            tracing::error!(error = %e, records = stored.len(), "cannot sign a committed batch");
            let refusal = ApiError::internal(format!(
                "the record was stored, but its receipt could not be signed: {e}"
            ));
            for reply in replies {
                let _ = reply.send(Err(refusal.clone()));
            }
        }
    }
}
