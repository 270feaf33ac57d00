//! Group commit for the execution log: one writer thread takes every record waiting in its queue
//! (up to a batch), appends them in one transaction, and only then answers each waiting request.
//! Under load many executions share one fsync; with a single caller it is one fsync per record,
//! as before. Either way no answer is sent before its record is durable.

use crate::server::error::ApiError;
use cordon_storage::{ExecutionRecord, NewExecution, Storage};
use std::sync::Arc;
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Most records committed in one transaction.
const MAX_BATCH: usize = 512;

type Reply = oneshot::Sender<Result<ExecutionRecord, String>>;

/// The handle requests use to append; cheap to clone.
#[derive(Debug, Clone)]
pub struct Journal {
    queue: mpsc::Sender<(NewExecution, Reply)>,
}

impl Journal {
    /// Starts the writer thread over the execution log in `log`.
    pub fn start(log: Arc<dyn Storage>) -> std::io::Result<Self> {
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
                    match log.append(&records) {
                        Ok(stored) => {
                            for (reply, record) in replies.into_iter().zip(stored) {
                                let _ = reply.send(Ok(record));
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, records = records.len(), "execution log append failed");
                            for reply in replies {
                                let _ = reply.send(Err(e.to_string()));
                            }
                        }
                    }
                }
            })?;
        Ok(Journal { queue })
    }

    /// Appends one record and waits until it is durable.
    pub async fn append(&self, record: NewExecution) -> Result<ExecutionRecord, ApiError> {
        let (reply, done) = oneshot::channel();
        self.queue
            .send((record, reply))
            .map_err(|_| ApiError::internal("the execution log writer has stopped"))?;
        done.await
            .map_err(|_| ApiError::internal("the execution log writer has stopped"))?
            .map_err(ApiError::internal)
    }
}
