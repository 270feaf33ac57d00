//! Group commit for the execution log: one writer thread takes every record waiting in its queue
//! (up to a batch), appends them in one transaction, signs one batch statement over them with
//! the log key, and only then answers each waiting request. Under load many executions share one
//! fsync and one signature; with a single caller it is one of each per record, as before. Either
//! way no answer is sent before its record is durable, and each answer's receipt is proven
//! against its batch's signed statement (`cordon_trust::SignedBatch`).

use crate::server::audit::AuditLog;
use crate::server::error::ApiError;
use crate::server::state::now_ms;
use cordon_storage::{ExecutionRecord, NewExecution, Storage};
use cordon_trust::SignedBatch;
use std::sync::Arc;
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Most records committed in one transaction.
const MAX_BATCH: usize = 512;

/// A durable record and the signed batch it was committed in.
#[derive(Debug)]
pub struct Committed {
    pub record: ExecutionRecord,
    pub batch: Arc<SignedBatch>,
}

type Reply = oneshot::Sender<Result<Committed, String>>;

/// The handle requests use to append; cheap to clone.
#[derive(Debug, Clone)]
pub struct Journal {
    queue: mpsc::Sender<(NewExecution, Reply)>,
}

impl Journal {
    /// Starts the writer thread over the execution log in `log`, signing with `audit`'s key.
    pub fn start(log: Arc<dyn Storage>, audit: Arc<AuditLog>) -> std::io::Result<Self> {
        let (queue, incoming) = mpsc::channel::<(NewExecution, Reply)>();
        std::thread::Builder::new()
            .name("cordon-journal".into())
            .spawn(move || {
                while let Ok(first) = incoming.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match incoming.try_recv() {
                            Ok(next) => batch.push(next),
                            Err(_) => break,
                        }
                    }
                    let (records, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                    match commit(&*log, &audit, &records) {
                        Ok((stored, signed)) => {
                            for (reply, record) in replies.into_iter().zip(stored) {
                                let _ = reply.send(Ok(Committed {
                                    record,
                                    batch: signed.clone(),
                                }));
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, records = records.len(), "execution log append failed");
                            for reply in replies {
                                let _ = reply.send(Err(e.clone()));
                            }
                        }
                    }
                }
            })?;
        Ok(Journal { queue })
    }

    /// Appends one record and waits until it is durable and its batch signed.
    pub async fn append(&self, record: NewExecution) -> Result<Committed, ApiError> {
        let (reply, done) = oneshot::channel();
        self.queue
            .send((record, reply))
            .map_err(|_| ApiError::internal("the execution log writer has stopped"))?;
        done.await
            .map_err(|_| ApiError::internal("the execution log writer has stopped"))?
            .map_err(ApiError::internal)
    }
}

/// Appends `records` in one transaction and signs their batch.
fn commit(
    log: &dyn Storage,
    audit: &AuditLog,
    records: &[NewExecution],
) -> Result<(Vec<ExecutionRecord>, Arc<SignedBatch>), String> {
    let stored = log.append(records).map_err(|e| e.to_string())?;
    let first = stored.first().map_or(0, |r| r.seq);
    let hashes: Vec<&str> = stored.iter().map(|r| r.hash.as_str()).collect();
    let signed = audit
        .sign_batch(first, &hashes, now_ms())
        // The records are durable: the log verifies; only these answers' receipts are lost.
        .map_err(|e| {
            format!("the records were stored, but their batch could not be signed: {e}")
        })?;
    Ok((stored, Arc::new(signed)))
}
