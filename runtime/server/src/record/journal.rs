//! Group commit for the execution log: one writer thread takes every record waiting in its queue
//! (up to a batch) and appends them in one transaction, in which the store has the group sealed
//! (signed with the log key, `cordon_storage::seal`) and keeps the seal; only then are the
//! waiting requests answered. Under load many executions share one fsync and one signature; with
//! a single caller it is one of each per record. Either way no answer is sent before its record
//! is durable, and each answer's receipt is proven against its group's seal
//! (`cordon_trust::SignedBatch`), the same one a receipt of the stored record is made from later.
//!
//! Only what must be serial is: each record is prepared (its canonical body and check bytes) on
//! its request's own task before it is queued; the writer chains, seals and stores. Signing on
//! the writer (a few tens of microseconds a group) costs one thread wake less per group than a
//! signer thread of its own would, and records that arrive meanwhile join the next group.
//! (Signing on the request tasks instead would stall the async workers on each other for the
//! length of a signature.)

use crate::error::ApiError;
use crate::record::committed::Committed;
use cordon_storage::{Appended, NewExecution, Prepared, Storage};
use cordon_trust::SignedBatch;
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
    /// Starts the writer thread over the execution log in `log` (whose sealer is set: every
    /// group it commits is sealed with the audit log's key).
    pub fn start(log: Arc<dyn Storage>) -> std::io::Result<Self> {
        let (queue, incoming) = mpsc::channel::<(Prepared, Reply)>();
        std::thread::Builder::new()
            .name("cordon-journal".into())
            .spawn(move || write(&*log, &incoming))?;
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

/// The writer: every waiting record (up to a batch) in one sealed transaction.
fn write(log: &dyn Storage, incoming: &mpsc::Receiver<(Prepared, Reply)>) {
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
                // Observed before the answers go out: a caller that has its answer sees
                // its commit in `/metrics`.
                crate::metrics::group_commit(count, started.elapsed());
                answer(stored, records, replies);
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

/// Every answer of a committed group, each with the group's seal as its signed batch.
fn answer(stored: Appended, records: Vec<Prepared>, replies: Vec<Reply>) {
    let first = stored.records.first().map_or(0, |r| r.seq);
    let hashes: Vec<&str> = stored.records.iter().map(|r| r.hash.as_str()).collect();
    let batch = match &stored.seal {
        Some(seal) => SignedBatch::from_own_seal(seal, first, &hashes).map_err(|e| e.to_string()),
        None => Err("the store kept no seal".to_owned()),
    };
    match batch {
        Ok(signed) => {
            let signed = Arc::new(signed);
            for ((reply, record), prepared) in replies.into_iter().zip(stored.records).zip(records)
            {
                let _ = reply.send(Ok(Committed {
                    record,
                    body: prepared.into_body(),
                    batch: signed.clone(),
                }));
            }
        }
        Err(e) => {
            // The records are durable and sealed; only these receipts are lost.
            tracing::error!(error = %e, records = hashes.len(), "cannot read back a committed group's seal");
            let refusal = ApiError::internal(format!(
                "the record was stored, but its receipt could not be made: {e}"
            ));
            for reply in replies {
                let _ = reply.send(Err(refusal.clone()));
            }
        }
    }
}
