//! Adds this node's tallies to the store (each second while there are any, at once when one
//! reached its rule's count) and acts on the rules the store says reached their counts.

use crate::clock::now_ms;
use crate::detect::act::Fired;
use crate::state::AppState;
use std::sync::Arc;
use std::time::Duration;

/// How often tallies are added to the store: the longest a rule that a spread burst reached
/// waits to fire.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// How often signals past every window are forgotten.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Starts this node's flusher (none without rules).
pub fn spawn(state: Arc<AppState>) {
    if state.detector.is_empty() {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pruned = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = state.detector.due.notified() => {}
            }
            flush(&state).await;
            if pruned.elapsed() >= PRUNE_EVERY {
                pruned = tokio::time::Instant::now();
                let before = now_ms().saturating_sub(
                    i64::try_from(state.detector.longest_window().as_millis()).unwrap_or(i64::MAX),
                );
                if let Err(e) = state.db(move |s| s.detect_prune(before)).await {
                    tracing::warn!(target: "cordon::security", error = e.message, "cannot forget old detection signals");
                }
            }
        }
    });
}

/// One flush: the tallies to the store, then what the rules that reached their counts do.
async fn flush(state: &Arc<AppState>) {
    let (tallies, dropped) = state.detector.take();
    if dropped > 0 {
        tracing::warn!(target: "cordon::security", dropped, "detection signals of new keys dropped: too many keys within a second");
    }
    if tallies.is_empty() {
        return;
    }
    let now = now_ms();
    let reached = match state.db(move |s| s.detect_flush(now, &tallies)).await {
        Ok(reached) => reached,
        Err(e) => {
            tracing::error!(target: "cordon::security", error = e.message, "cannot add the detection signals to the store; they are not counted");
            return;
        }
    };
    for r in reached {
        let Some(rule) = state.detector.rule(&r.rule).cloned() else {
            continue;
        };
        let key = rule.per.map(|_| r.key);
        let fired = Fired {
            rule,
            key,
            count: r.n,
            executions: r.executions,
        };
        let state = state.clone();
        tokio::spawn(async move { state.act(fired).await });
    }
}
