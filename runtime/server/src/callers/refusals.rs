//! Refused requests per minute on this node, by error code, for the last hour: what the
//! console's overview charts beside the calls (quota refusals, rate limits, denied access). The
//! execution log holds only calls that ran; a refusal before a call leaves a metric and a log
//! line, and is counted here. Bounded: 60 minutes, each a map over the server's fixed set of
//! error codes.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, PoisonError};

/// Minutes kept.
pub const MINUTES: usize = 60;

/// One minute's refusals: its start (ms since the epoch) and the count per code.
pub type Minute = (i64, BTreeMap<&'static str, u64>);

/// Minutes of counts, oldest first.
#[derive(Debug, Default)]
pub struct Ring {
    minutes: Mutex<VecDeque<Minute>>,
}

impl Ring {
    pub const fn new() -> Ring {
        Ring {
            minutes: Mutex::new(VecDeque::new()),
        }
    }

    /// Counts one refusal with `code` at `now_ms`.
    pub fn note(&self, code: &'static str, now_ms: i64) {
        let minute = now_ms - now_ms.rem_euclid(60_000);
        let mut ring = self.minutes.lock().unwrap_or_else(PoisonError::into_inner);
        if ring.back().is_none_or(|(m, _)| *m < minute) {
            ring.push_back((minute, BTreeMap::new()));
            while ring.len() > MINUTES {
                ring.pop_front();
            }
        }
        // A clock that stepped back counts into the newest minute.
        if let Some((_, counts)) = ring.back_mut() {
            *counts.entry(code).or_default() += 1;
        }
    }

    /// The minutes that began at or after `since_ms`, oldest first.
    pub fn since(&self, since_ms: i64) -> Vec<Minute> {
        let ring = self.minutes.lock().unwrap_or_else(PoisonError::into_inner);
        ring.iter()
            .filter(|(m, _)| *m >= since_ms)
            .cloned()
            .collect()
    }
}

/// This process's refusals.
static RING: Ring = Ring::new();

/// Counts one refusal with `code` at `now_ms`.
pub fn note(code: &'static str, now_ms: i64) {
    RING.note(code, now_ms);
}

/// This process's refusals in the minutes that began at or after `since_ms`.
pub fn since(since_ms: i64) -> Vec<Minute> {
    RING.since(since_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_minute_and_code_and_forgets_after_an_hour() {
        let ring = Ring::new();
        let base = 1_800_000_000_000;
        ring.note("quota_exceeded", base + 1);
        ring.note("quota_exceeded", base + 59_999);
        ring.note("rate_limited", base + 60_000);
        let got = ring.since(base);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1["quota_exceeded"], 2);
        assert_eq!(got[1].1["rate_limited"], 1);
        assert!(ring.since(base + 120_000).is_empty());
        for m in 0..70 {
            ring.note("forbidden", base + 120_000 + m * 60_000);
        }
        let kept = ring.since(0);
        assert_eq!(kept.len(), MINUTES);
        assert_eq!(kept[0].0, base + 120_000 + 10 * 60_000);
        // A clock stepping back counts into the newest minute rather than losing the refusal.
        ring.note("forbidden", base);
        assert_eq!(ring.since(0).last().unwrap().1["forbidden"], 2);
    }
}
