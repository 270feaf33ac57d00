//! Keeping a node equal to its store: the live registry (tools, their policies, quarantine
//! marks) and the key table. At start the node loads everything; on a shared store it then
//! applies each change another node announces (within a second) and reads everything again
//! every [`RESYNC`] and after its listener reconnects, as a safety net for announcements lost.
//!
//! Compiled code stays a per-node cache: a version first seen in the store is verified and
//! compiled (or loaded from this node's cache) before this node serves it.

use crate::calls::live::LiveTool;
use crate::error::{ApiError, ServerError};
use crate::state::AppState;
use cordon_storage::{Change, ToolRecord};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

/// How often a node reads the whole registry again although no announcement came: the longest
/// a change can take to arrive when its announcement was lost.
pub const RESYNC: Duration = Duration::from_secs(30);

/// What one sync did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Synced {
    /// Versions live after it.
    pub live: usize,
    /// Versions admitted (new, or under a changed policy).
    pub admitted: usize,
    /// Versions taken away (deleted elsewhere).
    pub removed: usize,
    /// Stored versions this node cannot admit (each logged once).
    pub refused: usize,
}

impl AppState {
    /// Loads every published tool at start: blobs verified and compiled again (from the cache).
    /// Returns how many versions are live.
    pub async fn load_registry(self: &Arc<Self>) -> Result<usize, ApiError> {
        // The decisions first: no call is served before the bundle in force decides it.
        self.load_decisions().await?;
        Ok(self.sync_registry().await?.live)
    }

    /// Makes the live registry what the store holds: versions published elsewhere are
    /// admitted (signature, publishers and policy checked here, as at publish), versions whose
    /// stored policy changed are admitted again under it, deleted ones go, and the quarantine
    /// marks are replaced. Calls already running keep the version and policy they started
    /// with.
    pub async fn sync_registry(self: &Arc<Self>) -> Result<Synced, ApiError> {
        let _changing = self.registry_lock.lock().await;
        let stored = self.db(|s| s.tools()).await?;
        let quarantined = self.db(|s| s.quarantined()).await?;
        let live: HashMap<(String, String), Arc<LiveTool>> = self
            .tools_read()
            .values()
            .flatten()
            .map(|t| ((t.record.name.clone(), t.record.version.clone()), t.clone()))
            .collect();
        let mut report = Synced::default();
        let mut next: BTreeMap<String, Vec<Arc<LiveTool>>> = BTreeMap::new();
        for record in stored {
            let key = (record.name.clone(), record.version.clone());
            let current = live.get(&key).filter(|t| {
                t.record.policy_hash == record.policy_hash && t.record.digest == record.digest
            });
            let tool = match current {
                Some(t) => t.clone(),
                None => match self.admit_stored(record).await {
                    Some(t) => {
                        report.admitted += 1;
                        t
                    }
                    None => {
                        report.refused += 1;
                        continue;
                    }
                },
            };
            next.entry(key.0).or_default().push(tool);
        }
        report.live = next.values().map(Vec::len).sum();
        report.removed = live
            .keys()
            .filter(|(name, version)| {
                !next
                    .get(name)
                    .is_some_and(|v| v.iter().any(|t| &t.record.version == version))
            })
            .count();
        for name in live.keys().map(|(n, _)| n) {
            if !next.contains_key(name) {
                crate::metrics::forget_tool(name);
            }
        }
        *self.tools_write() = next;
        *self.quarantined_write() = quarantined
            .into_iter()
            .map(|(name, q)| (name, q.reason))
            .collect();
        Ok(report)
    }

    /// A stored version made ready here, or `None` (logged the first time) when this node
    /// cannot admit it: its signer is not in this node's trust store, its policy no longer
    /// parses, ...
    async fn admit_stored(self: &Arc<Self>, record: ToolRecord) -> Option<Arc<LiveTool>> {
        let attempt = (
            record.name.clone(),
            record.version.clone(),
            record.policy_hash.clone(),
        );
        if self.refused().contains(&attempt) {
            return None;
        }
        let blob = record.blob.clone();
        let path = PathBuf::from(format!("(stored policy of {})", record.name));
        let admitted = match self.db(move |s| s.blob(&blob)).await {
            Ok(bytes) => self.admit(&bytes, &record.policy, &path).await,
            Err(e) => Err(e),
        }
        .and_then(|(admitted, policy, limits)| {
            Ok((super::named(&admitted, &record)?, policy, limits))
        });
        match admitted {
            Ok((tool, policy, limits)) => Some(self.live_tool(record, tool, policy, limits)),
            Err(e) => {
                // A database that is down is worth another try; a refusal is not.
                if e.code != "store_unavailable" {
                    tracing::error!(
                        tool = record.name,
                        version = record.version,
                        code = e.code,
                        error = e.message,
                        "stored tool not admitted on this node; it stays unavailable here"
                    );
                    self.refused().insert(attempt);
                }
                None
            }
        }
    }

    fn refused(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashSet<(String, String, String)>> {
        self.not_admitted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Follows the store's announcements, if it makes any (a shared store), for as long as the
/// server runs. Call it before the first load, so nothing changed meanwhile is missed.
pub fn spawn_follower(state: Arc<AppState>) -> Result<(), ServerError> {
    let Some(feed) = state.storage.changes()? else {
        return Ok(());
    };
    let (forward, mut changes) = tokio::sync::mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name("cordon-changes".into())
        .spawn(move || {
            while let Ok(change) = feed.recv() {
                if forward.send(change).is_err() {
                    return;
                }
            }
        })
        .map_err(ServerError::Threads)?;
    tokio::spawn(async move {
        let mut resync = tokio::time::interval(RESYNC);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        resync.tick().await;
        loop {
            let mut wanted = BTreeSet::new();
            tokio::select! {
                change = changes.recv() => match change {
                    Some(c) => { wanted.insert(c); }
                    None => return,
                },
                _ = resync.tick() => { wanted.insert(Change::Everything); }
            }
            // Announcements that came together are applied together.
            while let Ok(c) = changes.try_recv() {
                wanted.insert(c);
            }
            apply(&state, &wanted).await;
        }
    });
    Ok(())
}

async fn apply(state: &Arc<AppState>, wanted: &BTreeSet<Change>) {
    let everything = wanted.contains(&Change::Everything);
    if everything || wanted.contains(&Change::Tasks) {
        crate::calls::tasks::check_cancels(state).await;
    }
    if everything || wanted.contains(&Change::Keys) {
        state.keys.refresh_now(&state.storage).await;
    }
    if (everything || wanted.contains(&Change::Decisions))
        && let Err(e) = state.load_decisions().await
    {
        tracing::error!(
            code = e.code,
            error = e.message,
            "cannot read the decisions bundle from the store; this node decides with what it had"
        );
    }
    if everything || wanted.contains(&Change::Registry) {
        let started = std::time::Instant::now();
        match state.sync_registry().await {
            Ok(s) if s.admitted + s.removed > 0 => tracing::info!(
                target: "cordon::admin",
                ms = started.elapsed().as_millis() as u64,
                live = s.live,
                admitted = s.admitted,
                removed = s.removed,
                refused = s.refused,
                "registry updated from the shared store"
            ),
            Ok(_) => {}
            Err(e) => tracing::error!(
                code = e.code,
                error = e.message,
                "cannot read the registry from the store; this node serves what it had"
            ),
        }
    }
}
