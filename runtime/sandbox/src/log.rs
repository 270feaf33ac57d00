//! The host side of `cordon:tool/log@0.2.0`: each message counted, kept only at or above the
//! level the caller's client asked for, rate-limited by the policy, bounded in size, redacted,
//! and passed to the call's [`LogSink`].

use crate::control::LogSink;
use crate::progress::cut;
use cordon_core::{Limits, LogLevel, LogMessage, redact};
use std::time::{Duration, Instant};

/// Longest logger name passed on, in bytes: a name, not a message.
const MAX_LOGGER_BYTES: usize = 128;

/// One call's log gate.
pub(crate) struct LogGate {
    /// Where messages go, and the least severe level the client wants.
    sink: Option<(LogLevel, LogSink)>,
    /// Shortest time between two forwarded messages (`None`: forward none).
    interval: Option<Duration>,
    max_message_bytes: usize,
    /// Secret values no message may carry.
    secrets: Vec<String>,
    last_forwarded: Option<Instant>,
    /// Messages the guest wrote, forwarded or not.
    pub(crate) messages: u64,
}

impl LogGate {
    pub(crate) fn new(
        limits: &Limits,
        secrets: Vec<String>,
        sink: Option<(LogLevel, LogSink)>,
    ) -> Self {
        LogGate {
            sink,
            interval: (limits.logs_per_sec > 0)
                .then(|| Duration::from_secs(1) / limits.logs_per_sec.min(1_000_000) as u32),
            max_message_bytes: usize::try_from(limits.max_log_message_bytes).unwrap_or(usize::MAX),
            secrets,
            last_forwarded: None,
            messages: 0,
        }
    }

    /// Takes one message from the guest: `data` is JSON text (anything else is passed on as a
    /// string).
    pub(crate) fn write(&mut self, level: LogLevel, logger: Option<String>, data: String) {
        self.messages = self.messages.saturating_add(1);
        let Some((least, sink)) = &self.sink else {
            return;
        };
        let Some(interval) = self.interval else {
            return;
        };
        if level < *least {
            return;
        }
        let now = Instant::now();
        if self
            .last_forwarded
            .is_some_and(|last| now.duration_since(last) < interval)
        {
            return;
        }
        self.last_forwarded = Some(now);
        let scrub = |text: String| {
            if self.secrets.is_empty() {
                text
            } else {
                redact(&text, &self.secrets)
            }
        };
        let data = if data.len() > self.max_message_bytes {
            serde_json::Value::String(format!(
                "(a log message of {} bytes, over this tool's max_log_message_bytes of {}, was dropped)",
                data.len(),
                self.max_message_bytes
            ))
        } else {
            // Redacted as text first: a secret inside a JSON string is found the same way.
            let data = scrub(data);
            serde_json::from_str(&data).unwrap_or(serde_json::Value::String(data))
        };
        let logger = logger.map(|l| cut(scrub(l), MAX_LOGGER_BYTES));
        sink(&LogMessage {
            level,
            logger,
            data,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn gate(least: LogLevel, limits: &Limits) -> (LogGate, Arc<Mutex<Vec<LogMessage>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let into = seen.clone();
        let sink: LogSink = Arc::new(move |m: &LogMessage| into.lock().unwrap().push(m.clone()));
        (
            LogGate::new(limits, vec!["hunter2".into()], Some((least, sink))),
            seen,
        )
    }

    #[test]
    fn below_the_level_or_over_the_rate_is_counted_not_sent() {
        let limits = Limits {
            logs_per_sec: 1,
            ..Limits::default()
        };
        let (mut g, seen) = gate(LogLevel::Warning, &limits);
        g.write(LogLevel::Info, None, "\"quiet\"".into());
        g.write(
            LogLevel::Error,
            Some("db".into()),
            r#"{"pw":"hunter2"}"#.into(),
        );
        g.write(LogLevel::Error, None, "\"too soon\"".into());
        assert_eq!(g.messages, 3);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].level, LogLevel::Error);
        assert_eq!(seen[0].logger.as_deref(), Some("db"));
        assert_eq!(
            seen[0].data,
            serde_json::json!({"pw": cordon_core::REDACTED})
        );
    }

    #[test]
    fn text_that_is_not_json_is_a_string_and_too_large_is_replaced() {
        let limits = Limits {
            max_log_message_bytes: 10,
            logs_per_sec: 1_000_000,
            ..Limits::default()
        };
        let (mut g, seen) = gate(LogLevel::Debug, &limits);
        g.write(LogLevel::Debug, None, "plain".into());
        g.write(LogLevel::Debug, None, "x".repeat(11));
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0].data, serde_json::json!("plain"));
        let note = seen[1].data.as_str().unwrap();
        assert!(
            note.contains("11 bytes") && note.contains("max_log_message_bytes"),
            "{note}"
        );
    }

    #[test]
    fn without_a_sink_nothing_is_sent_but_all_is_counted() {
        let mut g = LogGate::new(&Limits::default(), Vec::new(), None);
        g.write(LogLevel::Emergency, None, "1".into());
        assert_eq!(g.messages, 1);
    }
}
