//! Group commit for tasks, as the journal is for records: one writer thread takes every task
//! waiting to start, and every one waiting to end, and writes each kind in one transaction. A
//! call that can act outside its sandbox is stored as a task before it runs (`api/execute.rs`),
//! so under load many such calls share one commit instead of each waiting for its own behind
//! the others on the store's one writer.

use crate::error::ApiError;
use cordon_storage::{NewTask, Storage, TaskEnd};
use std::sync::Arc;
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Most tasks written in one transaction.
const MAX_BATCH: usize = 512;

/// A task about to start, owned while it waits in the queue.
#[derive(Debug)]
pub struct Starting {
    pub id: String,
    pub caller: String,
    pub tool: String,
    pub version: String,
    pub node: String,
    pub now_ms: i64,
    pub lease_until_ms: i64,
    pub interrupted: String,
    /// The `traceparent` of the span the call runs under, when exported (`trace.rs`).
    pub trace: Option<String>,
}

/// A task about to end, owned while it waits in the queue.
#[derive(Debug)]
pub struct Ending {
    pub id: String,
    pub outcome: String,
    pub result: String,
    /// The call's last progress (JSON), so that a finished task shows what its stream sent.
    pub progress: Option<String>,
    pub now_ms: i64,
    pub expires_at_ms: i64,
    /// A round that ended asking for input: what the task keeps until it is answered (JSON of
    /// a `cordon_storage::Waiting`).
    pub waiting: Option<String>,
}

#[derive(Debug)]
enum Item {
    Start(Starting, oneshot::Sender<Result<(), ApiError>>),
    End(Ending, oneshot::Sender<Result<bool, ApiError>>),
}

/// The handle calls use; cheap to clone.
#[derive(Debug, Clone)]
pub struct TaskWriter {
    queue: mpsc::Sender<Item>,
}

impl TaskWriter {
    /// Starts the writer thread over `store`.
    pub fn start(store: Arc<dyn Storage>) -> std::io::Result<Self> {
        let (queue, incoming) = mpsc::channel::<Item>();
        std::thread::Builder::new()
            .name("cordon-tasks".into())
            .spawn(move || write(&*store, &incoming))?;
        Ok(TaskWriter { queue })
    }

    /// Stores a task; durable when this returns.
    pub async fn begin(&self, task: Starting) -> Result<(), ApiError> {
        let (reply, done) = oneshot::channel();
        self.queue
            .send(Item::Start(task, reply))
            .map_err(|_| stopped())?;
        done.await.map_err(|_| stopped())?
    }

    /// Ends a running task; false when it had ended already (another node marked it).
    pub async fn end(&self, task: Ending) -> Result<bool, ApiError> {
        let (reply, done) = oneshot::channel();
        self.queue
            .send(Item::End(task, reply))
            .map_err(|_| stopped())?;
        done.await.map_err(|_| stopped())?
    }
}

fn stopped() -> ApiError {
    ApiError::internal("the task writer has stopped")
}

/// Every waiting task (up to a batch): the starts in one transaction, the ends in another.
fn write(store: &dyn Storage, incoming: &mpsc::Receiver<Item>) {
    while let Ok(first) = incoming.recv() {
        let mut items = vec![first];
        while items.len() < MAX_BATCH {
            match incoming.try_recv() {
                Ok(next) => items.push(next),
                Err(_) => break,
            }
        }
        let (mut starts, mut ends) = (Vec::new(), Vec::new());
        for item in items {
            match item {
                Item::Start(t, reply) => starts.push((t, reply)),
                Item::End(t, reply) => ends.push((t, reply)),
            }
        }
        if !starts.is_empty() {
            let tasks: Vec<NewTask<'_>> = starts
                .iter()
                .map(|(t, _)| NewTask {
                    id: &t.id,
                    caller: &t.caller,
                    tool: &t.tool,
                    version: &t.version,
                    node: &t.node,
                    now_ms: t.now_ms,
                    lease_until_ms: t.lease_until_ms,
                    interrupted: &t.interrupted,
                    trace: t.trace.as_deref(),
                })
                .collect();
            let stored = store.tasks_start(&tasks).map_err(ApiError::from);
            drop(tasks);
            for (_, reply) in starts {
                let _ = reply.send(stored.clone());
            }
        }
        if !ends.is_empty() {
            let batch: Vec<TaskEnd<'_>> = ends
                .iter()
                .map(|(t, _)| TaskEnd {
                    id: &t.id,
                    outcome: &t.outcome,
                    result: &t.result,
                    progress: t.progress.as_deref(),
                    now_ms: t.now_ms,
                    expires_at_ms: t.expires_at_ms,
                    waiting: t.waiting.as_deref(),
                })
                .collect();
            let ended = store.tasks_finish(&batch).map_err(ApiError::from);
            drop(batch);
            for (i, (_, reply)) in ends.into_iter().enumerate() {
                let one = match &ended {
                    Ok(each) => Ok(each.get(i).copied().unwrap_or(false)),
                    Err(e) => Err(e.clone()),
                };
                let _ = reply.send(one);
            }
        }
    }
}
