//! [`CallControl`]: what the caller of [`crate::Sandbox::call_with`] holds on a running call:
//! a way to stop it, and where its progress reports go.

use cordon_core::{LogLevel, LogMessage, Progress};
use std::sync::{Arc, OnceLock};
use tokio_util::sync::CancellationToken;

/// Receives the progress reports of one call that pass the policy's rate limit. Called on the
/// call's own task: it must not block (send to a channel, update a cell).
pub type ProgressSink = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Receives the log messages of one call that pass the level and the policy's rate limit. Called
/// on the call's own task: it must not block.
pub type LogSink = Arc<dyn Fn(&LogMessage) + Send + Sync>;

/// The handle on one running call. Clones share the call: cancelling any clone stops it.
#[derive(Clone, Default)]
pub struct CallControl {
    token: CancellationToken,
    /// Who asked for the stop, set once by the first [`CallControl::cancel`].
    by: Arc<OnceLock<String>>,
    progress: Option<ProgressSink>,
    /// The least severe level passed on, and where.
    logs: Option<(LogLevel, LogSink)>,
}

impl std::fmt::Debug for CallControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallControl")
            .field("cancelled_by", &self.by.get())
            .field("progress", &self.progress.is_some())
            .field("logs", &self.logs.as_ref().map(|(level, _)| level))
            .finish()
    }
}

impl CallControl {
    /// A control with no progress sink: reports are counted and dropped.
    pub fn new() -> Self {
        CallControl::default()
    }

    /// Sends the call's forwarded progress reports to `sink`.
    pub fn with_progress(mut self, sink: ProgressSink) -> Self {
        self.progress = Some(sink);
        self
    }

    /// Sends the call's log messages at `least` or more severe to `sink` (none are sent
    /// without one: the client did not ask).
    pub fn with_logs(mut self, least: LogLevel, sink: LogSink) -> Self {
        self.logs = Some((least, sink));
        self
    }

    /// Stops the call: a guest computing stops at the next epoch tick, one waiting in a host
    /// call (a sleep, a request) at once. `by` names who asked; the first request's name is the
    /// one recorded. Cancelling a call that has ended does nothing.
    pub fn cancel(&self, by: &str) {
        let _ = self.by.set(by.to_owned());
        self.token.cancel();
    }

    /// True once [`CallControl::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Who cancelled the call, if anyone did.
    pub fn cancelled_by(&self) -> Option<&str> {
        self.by.get().map(String::as_str)
    }

    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Where the call's forwarded progress reports go.
    pub fn sink(&self) -> Option<&ProgressSink> {
        self.progress.as_ref()
    }
}

impl CallControl {
    /// Where the call's log messages go, from which level.
    pub(crate) fn logs(&self) -> Option<&(LogLevel, LogSink)> {
        self.logs.as_ref()
    }
}
