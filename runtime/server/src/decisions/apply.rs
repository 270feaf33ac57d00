//! The one path that changes the decisions bundle, whoever asks (`PUT`/`DELETE /v1/decisions`,
//! `cordon decisions apply`): compiled and checked here first (a bundle that does not compile
//! is refused, never stored), stored with its event (announced to every node), then put in force
//! on this node. Other nodes read it again from the store when the announcement comes (within a
//! second; at worst at their next full resync).

use crate::decisions::current::Current;
use crate::error::ApiError;
use crate::state::AppState;
use axum::http::StatusCode;
use cordon_decide::{Bundle, Decider};
use cordon_storage::{Actor, DecisionBundle};
use std::sync::Arc;

/// A bundle the server refuses: the message names the module, line and what to change.
fn refused(e: cordon_decide::DecideError) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_decisions",
        e.to_string(),
    )
}

/// Compiles a bundle off the async workers (a large one takes milliseconds).
async fn compile(bundle: Bundle) -> Result<(Bundle, Decider), ApiError> {
    tokio::task::spawn_blocking(move || Decider::new(&bundle).map(|d| (bundle, d)))
        .await
        .map_err(ApiError::internal)?
        .map_err(refused)
}

impl AppState {
    /// Puts `bundle` in force on every node (`None`: takes the bundle in force away, and the
    /// `[access]` rules alone decide). Returns whether anything changed.
    pub async fn apply_decisions(
        self: &Arc<Self>,
        bundle: Option<Bundle>,
        by: &Actor,
    ) -> Result<bool, ApiError> {
        let compiled = match bundle {
            Some(b) => Some(compile(b).await?),
            None => None,
        };
        let stored = match &compiled {
            Some((bundle, decider)) => Some(DecisionBundle {
                hash: decider.hash().to_owned(),
                bundle: serde_json::to_string(bundle).map_err(ApiError::internal)?,
                package: bundle.package.clone(),
                modules: bundle.modules.len() as u64,
            }),
            None => None,
        };
        let _changing = self.decisions_lock.lock().await;
        let by = by.clone();
        let changed = self
            .db(move |s| s.set_decisions(stored.as_ref(), &by))
            .await?;
        self.decisions.set(match compiled {
            Some((_, decider)) => Current::Ready(Arc::new(decider)),
            None => Current::None,
        });
        Ok(changed)
    }

    /// Makes this node's bundle the one the store holds in force (at start, and when another
    /// node changed it). A stored bundle this node cannot compile denies every call here.
    pub async fn load_decisions(self: &Arc<Self>) -> Result<(), ApiError> {
        let _changing = self.decisions_lock.lock().await;
        let stored = self.db(|s| s.decisions()).await?;
        let current = self.decisions.get();
        let next = match stored {
            None => Current::None,
            Some(f) if current.hash() == Some(f.hash.as_str()) => return Ok(()),
            Some(f) => {
                let hash = f.hash.clone();
                let parsed = serde_json::from_str::<Bundle>(&f.bundle)
                    .map_err(|e| format!("the stored bundle does not read: {e}"));
                let compiled = match parsed {
                    Ok(b) => compile(b).await.map_err(|e| e.message),
                    Err(e) => Err(e),
                };
                match compiled {
                    Ok((_, decider)) if decider.hash() == hash => {
                        tracing::info!(target: "cordon::admin", decision = hash, "decisions bundle in force");
                        Current::Ready(Arc::new(decider))
                    }
                    Ok(_) => Current::Unusable {
                        why: "the stored bundle does not match its hash".into(),
                        hash,
                    },
                    Err(why) => {
                        tracing::error!(target: "cordon::admin", decision = hash, error = why, "the decisions bundle in force cannot be used on this node: every call is denied here until a bundle it can use is applied");
                        Current::Unusable { hash, why }
                    }
                }
            }
        };
        self.decisions.set(next);
        Ok(())
    }
}
