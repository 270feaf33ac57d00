//! API keys held in memory: authenticating a request reads no database. The table is reloaded
//! from the store every [`REFRESH`] (so a key made or revoked by another process or another
//! node is in force within that time) and right after this server changes a key; when each key
//! was last used is collected here and written in one batch per reload. The callers' suspensions
//! (`cordon_storage::suspensions`) are reloaded with them: both are checked as a request
//! authenticates.

use cordon_storage::{ApiKey, KeyTable, Storage, StorageError, Suspension, last_used_is_stale};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

/// How often the table is reloaded: the longest a revocation made elsewhere takes to apply.
pub const REFRESH: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub struct KeyCache {
    table: RwLock<Arc<KeyTable>>,
    /// Caller id -> its suspension in force (or ending) when last reloaded.
    suspended: RwLock<Arc<HashMap<String, Suspension>>>,
    /// Key id -> when it was used, not yet written.
    used: Mutex<HashMap<String, i64>>,
}

fn now_ms() -> i64 {
    crate::clock::now_ms()
}

impl KeyCache {
    /// Loads the table from `storage`.
    pub fn load(storage: &dyn Storage) -> Result<Self, StorageError> {
        Ok(KeyCache {
            table: RwLock::new(Arc::new(storage.key_table()?)),
            suspended: RwLock::new(Arc::new(suspensions(storage)?)),
            used: Mutex::default(),
        })
    }

    fn table(&self) -> Arc<KeyTable> {
        self.table
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The key a presented secret belongs to, if it is valid, not revoked and not expired.
    pub fn authenticate(&self, presented: &str) -> Option<ApiKey> {
        let now = now_ms();
        let key = self.table().authenticate(presented, now)?;
        if last_used_is_stale(&key, now) {
            self.used
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(key.id.clone())
                .or_insert(now);
        }
        Some(key)
    }

    /// Whether a key with this id exists (revoked or not).
    pub fn knows(&self, id: &str) -> bool {
        self.table().knows(id)
    }

    /// Whether the key with this id still authenticates at `now_ms`: neither revoked nor
    /// expired, as this node's table has it (a revocation made elsewhere reaches it within
    /// [`REFRESH`]).
    pub fn still_valid(&self, id: &str, now_ms: i64) -> bool {
        self.table()
            .find(id)
            .is_some_and(|k| k.id == id && k.state(now_ms) == "active")
    }

    /// The caller's suspension in force at `now_ms`, if any (one made elsewhere reaches this
    /// node within [`REFRESH`]).
    pub fn suspension(&self, caller: &str, now_ms: i64) -> Option<Suspension> {
        let suspended = self
            .suspended
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        suspended
            .get(caller)
            .filter(|s| s.until_ms > now_ms)
            .cloned()
    }

    /// The key with this id or name (revoked or not).
    pub fn find(&self, id_or_name: &str) -> Option<ApiKey> {
        self.table().find(id_or_name)
    }

    /// Writes the collected last-use times, then reloads the table. Blocking (call off the
    /// async workers).
    pub fn refresh(&self, storage: &dyn Storage) -> Result<(), StorageError> {
        let used: Vec<(String, i64)> =
            std::mem::take(&mut *self.used.lock().unwrap_or_else(PoisonError::into_inner))
                .into_iter()
                .collect();
        if !used.is_empty()
            && let Err(e) = storage.touch_keys(&used)
        {
            // Kept for the next reload (a newer time for the same key wins).
            let mut pending = self.used.lock().unwrap_or_else(PoisonError::into_inner);
            for (id, at) in used {
                let t = pending.entry(id).or_insert(at);
                *t = (*t).max(at);
            }
            return Err(e);
        }
        let fresh = Arc::new(storage.key_table()?);
        let suspended = Arc::new(suspensions(storage)?);
        *self.table.write().unwrap_or_else(PoisonError::into_inner) = fresh;
        *self
            .suspended
            .write()
            .unwrap_or_else(PoisonError::into_inner) = suspended;
        Ok(())
    }
}

/// The suspensions in force now, by caller.
fn suspensions(storage: &dyn Storage) -> Result<HashMap<String, Suspension>, StorageError> {
    Ok(storage
        .suspensions(now_ms())?
        .into_iter()
        .map(|s| (s.caller.clone(), s))
        .collect())
}

impl KeyCache {
    /// Writes the last-use times and reloads the table now, off the async workers; a failure
    /// is logged and the table kept (a revoked key stays refused only once a reload succeeds).
    pub async fn refresh_now(self: &Arc<Self>, storage: &Arc<dyn Storage>) {
        let (keys, storage) = (self.clone(), storage.clone());
        match tokio::task::spawn_blocking(move || keys.refresh(&*storage)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(target: "cordon::security", error = %e, "cannot reload the API keys")
            }
            Err(e) => tracing::error!(error = %e, "the key reload task failed"),
        }
    }

    /// Reloads the key table every [`REFRESH`] until the server stops.
    pub fn spawn_refresher(self: Arc<Self>, storage: Arc<dyn Storage>) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REFRESH);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                self.refresh_now(&storage).await;
            }
        });
    }
}
