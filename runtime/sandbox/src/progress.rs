//! The host side of `cordon:tool/progress`: each report counted, rate-limited by the policy,
//! cut to the message limit, redacted, and passed to the call's [`ProgressSink`].

use crate::control::ProgressSink;
use cordon_core::{Limits, Progress, redact};
use std::time::{Duration, Instant};

/// One call's progress gate.
pub(crate) struct ProgressGate {
    sink: Option<ProgressSink>,
    /// Shortest time between two forwarded reports (`None`: forward none).
    interval: Option<Duration>,
    max_message_bytes: usize,
    /// Secret values the message must not carry.
    secrets: Vec<String>,
    last_forwarded: Option<Instant>,
    /// Reports the guest made, forwarded or not.
    pub(crate) reports: u64,
}

impl ProgressGate {
    pub(crate) fn new(limits: &Limits, secrets: Vec<String>, sink: Option<ProgressSink>) -> Self {
        ProgressGate {
            sink,
            interval: (limits.progress_per_sec > 0)
                .then(|| Duration::from_secs(1) / limits.progress_per_sec.min(1_000_000) as u32),
            max_message_bytes: usize::try_from(limits.max_progress_message_bytes)
                .unwrap_or(usize::MAX),
            secrets,
            last_forwarded: None,
            reports: 0,
        }
    }

    /// Takes one report from the guest.
    pub(crate) fn report(&mut self, done: u64, total: Option<u64>, message: String) {
        self.reports = self.reports.saturating_add(1);
        let (Some(sink), Some(interval)) = (&self.sink, self.interval) else {
            return;
        };
        let now = Instant::now();
        if self
            .last_forwarded
            .is_some_and(|last| now.duration_since(last) < interval)
        {
            return;
        }
        self.last_forwarded = Some(now);
        // Redacted whole, then cut: a secret the cut would split is still found and replaced.
        let message = if self.secrets.is_empty() {
            message
        } else {
            redact(&message, &self.secrets)
        };
        let message = cut(message, self.max_message_bytes);
        sink(&Progress {
            done,
            total,
            message,
        });
    }
}

/// `text` cut to at most `max` bytes at a character boundary.
pub(crate) fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}
