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
) -> (cordon_core::LogLevel, cordon_sandbox::LogSink) {
    // Bounded like progress: a slow peer loses the excess, never holds memory for it.
    let (send, mut receive) = tokio::sync::mpsc::channel::<cordon_core::LogMessage>(LOG_BACKLOG);
    tokio::spawn(async move {
        while let Some(m) = receive.recv().await {
            let Ok(level) = serde_json::from_value(json!(m.level)) else {
                continue;
            };
            let mut note = rmcp::model::LoggingMessageNotificationParam::new(level, m.data);
            note.logger = m.logger;
            if peer.notify_logging_message(note).await.is_err() {
                return;
            }
        }
    });
    // MCP's levels are cordon's, by name.
    let least = serde_json::from_value(json!(least)).unwrap_or(cordon_core::LogLevel::Emergency);
    let sink: cordon_sandbox::LogSink = Arc::new(move |m: &cordon_core::LogMessage| {
        let _ = send.try_send(m.clone());
    });
    (least, sink)
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
