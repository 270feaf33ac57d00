//! Notifications on a request's response stream: the progress and log messages of the call it
//! runs, as the client asked for them.

use cordon_core::Progress;
use cordon_sandbox::ProgressSink;
use rmcp::RoleServer;
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::service::Peer;
use serde_json::json;
use std::sync::Arc;

/// Progress notifications waiting for a slow peer before the newest are dropped.
const PROGRESS_BACKLOG: usize = 64;

/// Log messages waiting for a slow peer before the newest are dropped.
const LOG_BACKLOG: usize = 64;

/// Sends each log message of the call, at `least` or more severe, as `notifications/message`,
/// in order, on the request's response stream. rmcp marks MCP logging deprecated (SEP-2577,
/// after the 2026-07-28 revision, which still has it and its per-request `logLevel`): used
/// deliberately, for the clients of every revision cordon serves.
#[allow(deprecated)]
pub fn log_notifier(
    peer: Peer<RoleServer>,
    least: rmcp::model::LoggingLevel,
) -> (cordon_core::LogLevel, cordon_sandbox::LogSink, Drain) {
    // Bounded like progress: a slow peer loses the excess, never holds memory for it.
    let (send, mut receive) = tokio::sync::mpsc::channel::<cordon_core::LogMessage>(LOG_BACKLOG);
    let drain = Drain::default();
    let sent = drain.clone();
    tokio::spawn(async move {
        while let Some(m) = receive.recv().await {
            let delivered = match serde_json::from_value(json!(m.level)) {
                Ok(level) => {
                    let mut note = rmcp::model::LoggingMessageNotificationParam::new(level, m.data);
                    note.logger = m.logger;
                    peer.notify_logging_message(note).await.is_ok()
                }
                Err(_) => true,
            };
            sent.done();
            if !delivered {
                // The peer is gone: what is left will never be sent, and nobody waits for it.
                receive.close();
                while receive.try_recv().is_ok() {
                    sent.done();
                }
                return;
            }
        }
    });
    // MCP's levels are cordon's, by name.
    let least = serde_json::from_value(json!(least)).unwrap_or(cordon_core::LogLevel::Emergency);
    let queued = drain.clone();
    let sink: cordon_sandbox::LogSink = Arc::new(move |m: &cordon_core::LogMessage| {
        if send.try_send(m.clone()).is_ok() {
            queued.queued();
        }
    });
    (least, sink, drain)
}

/// The messages a call queued for its client and not yet handed to the response stream: the
/// answer waits for them (up to [`DRAIN_LIMIT`]), so that a message the tool logged before it
/// returned is on the stream before the result.
#[derive(Debug, Clone, Default)]
pub struct Drain(Arc<std::sync::atomic::AtomicUsize>);

/// The longest an answer waits for its call's messages to reach the stream.
pub const DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(1);

impl Drain {
    fn queued(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    fn done(&self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Waits until every queued message is on the stream (or the peer is gone), at most
    /// [`DRAIN_LIMIT`].
    pub async fn wait(&self) {
        let _ = tokio::time::timeout(DRAIN_LIMIT, async {
            while self.0.load(std::sync::atomic::Ordering::Acquire) > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        })
        .await;
    }
}

/// Sends each progress report of the call as `notifications/progress` with `token`, in order,
/// on the request's response stream.
pub fn progress_notifier(peer: Peer<RoleServer>, token: ProgressToken) -> ProgressSink {
    // Bounded: a peer slower than the tool's reports loses the excess (each report carries
    // the whole state), never holds memory for them.
    let (send, mut receive) = tokio::sync::mpsc::channel::<Progress>(PROGRESS_BACKLOG);
    tokio::spawn(async move {
        while let Some(p) = receive.recv().await {
            let mut note = ProgressNotificationParam::new(token.clone(), p.done as f64);
            note.total = p.total.map(|t| t as f64);
            note.message = (!p.message.is_empty()).then_some(p.message);
            if peer.notify_progress(note).await.is_err() {
                return;
            }
        }
    });
    Arc::new(move |p: &Progress| {
        let _ = send.try_send(p.clone());
    })
}
