//! Each node reports itself to the store every [`BEAT_EVERY`] (`cordon_storage::nodes`): its
//! version, readiness, confinement and load. `GET /v1/status` lists every node sharing the
//! store from these reports, so an operator sees a node that stopped reporting (dead, cut off
//! from the database) as not seen since then.

use crate::clock::now_ms;
use crate::state::AppState;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How often a node reports itself: often enough that a dead node is noticed within half a
/// minute ([`STALE_AFTER_MS`]), rarely enough to cost the store nothing (one upsert per node).
pub const BEAT_EVERY: Duration = Duration::from_secs(10);

/// A node whose last report is older than this (three reports missed) is shown as not seen.
pub const STALE_AFTER_MS: i64 = 30_000;

/// What a node reports of itself.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct NodeBeat {
    pub version: String,
    /// When this node started (ms since the epoch).
    pub started_at_ms: i64,
    /// Every stored tool loaded (the report itself shows the store answered).
    pub ready: bool,
    /// Its confinement (Landlock, seccomp), as `/readyz` gives it.
    pub confinement: String,
    /// Calls running on it.
    pub running: usize,
    /// Calls it may still admit (`max_in_flight` less those in flight).
    pub free_slots: usize,
    pub max_in_flight: usize,
}

/// This node's report now.
pub fn now(state: &AppState) -> NodeBeat {
    NodeBeat {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at_ms: state.started_at_ms,
        ready: state.ready.load(Ordering::Acquire),
        confinement: cordon_host::confine::status()
            .map_or_else(|| "not applied".to_owned(), |s| s.describe()),
        running: state.running.len(),
        free_slots: state.in_flight.available_permits(),
        max_in_flight: state.settings.max_in_flight,
    }
}

/// Reports this node now and every [`BEAT_EVERY`] after, for as long as the server runs; a
/// report the store refuses is logged once per failure streak.
pub fn spawn(state: Arc<AppState>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(BEAT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tick.tick().await;
            let beat = now(&state);
            let Ok(text) = serde_json::to_string(&beat) else {
                continue;
            };
            let name = state.settings.node_name.clone();
            match state.db(move |s| s.node_beat(&name, &text, now_ms())).await {
                Ok(()) => failing = false,
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = e.message, "cannot report this node to the store");
                }
                Err(_) => {}
            }
        }
    });
}
