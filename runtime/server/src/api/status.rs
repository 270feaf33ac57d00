//! `GET /v1/status`: this node as an operator checks it: version, name, whether it is ready and
//! its store answers, its confinement, calls running and slots free; and every node sharing the
//! store as each last reported itself (`beat.rs`). For an admin or auditor (`read_metrics`): it
//! names the store and the process's protections.

use crate::beat::{NodeBeat, STALE_AFTER_MS};
use crate::caller::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use cordon_core::Action;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// One node's state.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct NodeStatus {
    /// This node's name in the tasks it runs.
    pub node: String,
    pub version: &'static str,
    /// Every stored tool is loaded and the store answers (what `/readyz` says).
    pub ready: bool,
    /// `embedded` (SQLite, this node's own) or `shared` (PostgreSQL, every node's).
    pub store: &'static str,
    /// Whether the store answered within a second, and if not why.
    pub store_ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_error: Option<String>,
    /// The process's confinement (Landlock, seccomp), as `/readyz` gives it.
    pub confinement: String,
    /// Calls running on this node now.
    pub running: usize,
    /// Calls this node may still admit now (`max_in_flight` less those in flight).
    pub free_slots: usize,
    pub max_in_flight: usize,
    /// Tool names live on this node.
    pub tools_live: usize,
    /// Every node sharing the store (this one included), as each last reported itself.
    pub nodes: Vec<NodeSeen>,
}

/// A node as it last reported itself (`beat.rs`).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct NodeSeen {
    pub node: String,
    /// When its last report was stored.
    pub seen_at_ms: i64,
    /// Not seen for over 30 s: stopped, dead, or cut off from the store.
    pub stale: bool,
    /// What it reported; absent when its report could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<NodeBeat>,
}

/// This node's state.
#[utoipa::path(
    get,
    path = "/v1/status",
    tag = "audit",
    responses(
        (status = 200, body = NodeStatus),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn status(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<NodeStatus>, ApiError> {
    caller.require(Action::ReadMetrics)?;
    let s = state.clone();
    let ping = tokio::task::spawn_blocking(move || s.storage.ping());
    let store_error = match tokio::time::timeout(Duration::from_secs(1), ping).await {
        Ok(Ok(Ok(()))) => None,
        Ok(Ok(Err(e))) => Some(e.to_string()),
        Ok(Err(_)) => Some("the check failed".to_owned()),
        Err(_) => Some("no answer within a second".to_owned()),
    };
    let loaded = state.ready.load(Ordering::Acquire);
    let now = crate::clock::now_ms();
    let nodes = if store_error.is_none() {
        state
            .db(|s| s.nodes())
            .await?
            .into_iter()
            .map(|n| NodeSeen {
                stale: now - n.seen_at_ms > STALE_AFTER_MS,
                report: serde_json::from_str(&n.beat).ok(),
                node: n.name,
                seen_at_ms: n.seen_at_ms,
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Json(NodeStatus {
        node: state.settings.node_name.clone(),
        version: env!("CARGO_PKG_VERSION"),
        ready: loaded && store_error.is_none(),
        store: if state.storage.shared() {
            "shared"
        } else {
            "embedded"
        },
        store_ok: store_error.is_none(),
        store_error,
        confinement: crate::confine::status()
            .map_or_else(|| "not applied".to_owned(), |s| s.describe()),
        running: state.running.len(),
        free_slots: state.in_flight.available_permits(),
        max_in_flight: state.settings.max_in_flight,
        tools_live: state.tools_read().len(),
        nodes,
    }))
}
