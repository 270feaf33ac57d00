//! `GET /v1/status`: this node as an operator checks it (its report, `beat.rs`, taken now, and
//! whether its store answers), and every node sharing the store as each last reported itself.
//! For an admin or auditor (`read_metrics`): it names the store and the process's protections.

use crate::beat::{NodeBeat, STALE_AFTER_MS};
use crate::callers::caller::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use cordon_core::Action;
use std::sync::Arc;

/// The node that answered, and every node sharing its store.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct NodeStatus {
    /// This node's name in the tasks it runs.
    pub node: String,
    /// What it reports of itself now; `ready` here also needs the store to answer (what
    /// `/readyz` says).
    #[serde(flatten)]
    pub report: NodeBeat,
    /// `embedded` (SQLite, this node's own) or `shared` (PostgreSQL, every node's).
    pub store: &'static str,
    /// Whether the store answered within a second, and if not why.
    pub store_ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_error: Option<String>,
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

/// This node, and every node sharing its store.
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
    let store_error = state.store_answers().await.err().map(|e| e.to_string());
    let mut report = crate::beat::now(&state);
    report.ready &= store_error.is_none();
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
        report,
        store: if state.storage.shared() {
            "shared"
        } else {
            "embedded"
        },
        store_ok: store_error.is_none(),
        store_error,
        tools_live: state.tools_read().len(),
        nodes,
    }))
}
