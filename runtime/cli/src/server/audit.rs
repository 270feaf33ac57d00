//! The server's side of the audit log: its log key, signed checkpoints (made off the request
//! path, copied to a file and/or a webhook the operator controls), and the endpoints that list,
//! follow and prove the log (`/v1/audit/...`). `docs/audit.md` describes all of it.

use crate::server::auth::Caller;
use crate::server::error::{ApiError, ErrorBody};
use crate::server::journal::Committed;
use crate::server::state::{AppState, now_ms};
use axum::Json;
use axum::extract::{RawQuery, State};
use cordon_core::Action;
use cordon_storage::{EVENT_KINDS, Event, EventFilter, Storage, StoredCheckpoint};
use cordon_trust::{Checkpoint, KeyId, PrivateKey, Signed, SignedBatch};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The log key's file in the data directory (PKCS#8 PEM, mode 0600).
pub const LOG_KEY_FILE: &str = "log.key";

/// The longest a checkpoint may wait while events arrive: an outside copy is never more than
/// this far behind the log.
pub const MAX_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(10);

/// Where checkpoints go besides the database, and how often they are made.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// A file each new checkpoint is appended to (one JSON line, fsynced).
    pub checkpoint_file: Option<PathBuf>,
    /// A URL each new checkpoint is POSTed to (JSON).
    pub checkpoint_webhook: Option<String>,
    /// How often a checkpoint is made while events arrive (at most 10 s).
    pub checkpoint_interval: Duration,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            checkpoint_file: None,
            checkpoint_webhook: None,
            checkpoint_interval: MAX_CHECKPOINT_INTERVAL,
        }
    }
}

/// The log key and the newest checkpoint.
pub struct AuditLog {
    key: PrivateKey,
    pub key_id: KeyId,
    pub log_id: String,
    settings: AuditSettings,
    /// Serializes checkpointing (the timer and the one made at shutdown).
    latest: Mutex<Option<StoredCheckpoint>>,
    /// Webhook deliveries still in flight (joined at shutdown, so the last one is sent).
    deliveries: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("key_id", &self.key_id)
            .field("log_id", &self.log_id)
            .finish_non_exhaustive()
    }
}

/// Reads the log key, creating it (mode 0600) when the log has never been signed. A log that
/// was signed before is signed by that key only: a node without it, or with another one, does
/// not start (nodes sharing one database share one key; a replaced key file is the sign of a
/// swap, and its checkpoints would not verify against the key auditors kept).
pub fn load_key(path: &Path, latest: Option<&StoredCheckpoint>) -> anyhow::Result<PrivateKey> {
    let signed_by = match latest {
        Some(cp) => Some(Signed::parse(&cp.signed)?.key),
        None => None,
    };
    let key = if path.exists() {
        PrivateKey::read(path)?
    } else if let Some(by) = &signed_by {
        anyhow::bail!(
            "no log key at {}, and this store's audit log is already signed by {by}: give this node that key (copy the key file from a node that has it, or point --log-key at it); a new key would make checkpoints no auditor can verify",
            path.display()
        );
    } else {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let key = PrivateKey::generate()?;
        key.write_new(path)?;
        tracing::info!(target: "cordon::admin", key = %key.key_id(), path = %path.display(), "created the audit log key");
        key
    };
    if let Some(by) = signed_by
        && by != key.key_id().to_string()
    {
        anyhow::bail!(
            "the log key at {} is {}, but this store's audit log is signed by {by}: every node sharing a store must hold the key that signed it (copy it from a node that has it, or point --log-key at it)",
            path.display(),
            key.key_id()
        );
    }
    Ok(key)
}

impl AuditLog {
    pub fn open(
        key_path: &Path,
        storage: &dyn Storage,
        settings: AuditSettings,
    ) -> anyhow::Result<Self> {
        let latest = storage.latest_checkpoint()?;
        let key = load_key(key_path, latest.as_ref())?;
        Ok(AuditLog {
            key_id: key.key_id(),
            key,
            log_id: storage.log_id()?,
            settings,
            latest: Mutex::new(latest),
            deliveries: Mutex::default(),
        })
    }

    pub fn interval(&self) -> Duration {
        self.settings
            .checkpoint_interval
            .clamp(Duration::from_millis(100), MAX_CHECKPOINT_INTERVAL)
    }

    /// Signs a checkpoint of the log as it is now, unless the newest one already covers it;
    /// keeps it and copies it to the configured places. Blocking (call off the async
    /// workers). Returns the new checkpoint, if one was made.
    pub fn checkpoint(&self, storage: &dyn Storage) -> anyhow::Result<Option<Signed>> {
        let mut latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        let (size, head) = storage.head()?;
        if size == 0 || latest.as_ref().is_some_and(|c| c.size >= size) {
            return Ok(None);
        }
        // Another node sharing the store may have made a newer one since.
        *latest = storage.latest_checkpoint()?;
        if latest.as_ref().is_some_and(|c| c.size >= size) {
            return Ok(None);
        }
        let time_ms = now_ms();
        let signed = Checkpoint {
            log_id: self.log_id.clone(),
            size,
            head: head.clone(),
            time_ms,
        }
        .sign(&self.key)?;
        let stored = StoredCheckpoint {
            size,
            head,
            at_ms: time_ms,
            signed: signed.to_json(),
        };
        storage.put_checkpoint(&stored)?;
        if let Some(path) = &self.settings.checkpoint_file
            && let Err(e) = append_line(path, &stored.signed)
        {
            tracing::error!(target: "cordon::security", path = %path.display(), error = %e, "cannot copy the checkpoint to its file");
        }
        if let Some(url) = &self.settings.checkpoint_webhook {
            let mut deliveries = self
                .deliveries
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            deliveries.retain(|d| !d.is_finished());
            deliveries.push(send_webhook(url, &stored.signed));
        }
        *latest = Some(stored);
        Ok(Some(signed))
    }

    /// Signs the batch statement of one group commit: records `first_seq`, ... with these
    /// chain hashes (see `cordon_trust::SignedBatch`).
    pub fn sign_batch(
        &self,
        first_seq: i64,
        hashes: &[&str],
        time_ms: i64,
    ) -> Result<SignedBatch, cordon_trust::ReceiptError> {
        SignedBatch::sign(&self.key, &self.log_id, first_seq, hashes, time_ms)
    }

    /// The receipt of a committed execution, for its answer.
    pub fn receipt(&self, c: Committed) -> anyhow::Result<ReceiptView> {
        let batch = &c.batch;
        let r = c.record;
        Ok(ReceiptView {
            path: batch.path(r.seq)?,
            batch: batch.statement_json().to_owned(),
            log_id: self.log_id.clone(),
            seq: r.seq,
            prev_hash: r.prev_hash,
            hash: r.hash,
            record: c.body,
        })
    }

    /// Waits for the webhook deliveries still in flight (each bounded by its own timeout).
    pub fn finish_deliveries(&self) {
        let pending = std::mem::take(
            &mut *self
                .deliveries
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for d in pending {
            let _ = d.join();
        }
    }

    /// The newest checkpoint, as signed.
    pub fn latest(&self) -> Option<Signed> {
        let latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        latest.as_ref().and_then(|c| Signed::parse(&c.signed).ok())
    }
}

fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(format!("{line}\n").as_bytes())?;
    f.sync_all()
}

/// POSTs a checkpoint on a thread of its own (a slow receiver never holds checkpointing up);
/// a failure is logged, and the next checkpoint covers everything this one did.
fn send_webhook(url: &str, body: &str) -> std::thread::JoinHandle<()> {
    let (url, body) = (url.to_owned(), body.to_owned());
    std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        match agent
            .post(&url)
            .header("content-type", "application/json")
            .send(body.as_bytes())
        {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => {
                tracing::error!(target: "cordon::security", url, status = r.status().as_u16(), "the checkpoint webhook refused a checkpoint")
            }
            Err(e) => {
                tracing::error!(target: "cordon::security", url, error = %e, "cannot send a checkpoint to the webhook")
            }
        }
    })
}

/// Makes a checkpoint every interval while events arrive, for as long as the server runs.
pub fn spawn_checkpointer(state: Arc<AppState>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(state.audit.interval());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let s = state.clone();
            match tokio::task::spawn_blocking(move || s.audit.checkpoint(&*s.storage)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::error!(target: "cordon::security", error = %e, "cannot make a checkpoint")
                }
                Err(e) => tracing::error!(error = %e, "checkpoint task failed"),
            }
        }
    });
}

/// The log's public key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LogKeyView {
    /// The ed25519 public key as a key id (`ed25519:` + base64url): what `--key` takes.
    pub key: String,
    /// This log's identity, in every checkpoint.
    pub log_id: String,
}

/// The public key checkpoints and receipts are signed with.
#[utoipa::path(
    get,
    path = "/v1/audit/key",
    tag = "audit",
    responses(
        (status = 200, body = LogKeyView),
        (status = 401, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn key(State(state): State<Arc<AppState>>, _caller: Caller) -> Json<LogKeyView> {
    Json(LogKeyView {
        key: state.audit.key_id.to_string(),
        log_id: state.audit.log_id.clone(),
    })
}

/// A statement signed with the log key (the JSON form of `cordon_trust::Signed`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SignedView {
    /// `checkpoint` or `batch`.
    pub kind: String,
    /// A checkpoint: `log_id`, `size` (the last sequence number), `head` (its hash),
    /// `time_ms`. A batch: the same, and `first_seq` (its first record) and `root` (the
    /// Merkle tree hash of its records' chain hashes).
    #[schema(value_type = Object)]
    pub statement: serde_json::Value,
    pub key: String,
    pub signature: String,
}

/// The receipt of one execution (the JSON form of `cordon_trust::Receipt`): the record as the
/// audit log hashed it, its place in the chain, and the proof that the log key signed it. Check
/// it with `cordon receipt verify` (docs/audit.md, "Receipts").
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReceiptView {
    pub log_id: String,
    pub seq: i64,
    /// The hash of the link before the record.
    pub prev_hash: String,
    /// The record's chain hash: sha256(prev_hash, "\n", seq, "\n", record).
    pub hash: String,
    /// The record's canonical JSON, as a string (exactly the bytes that were hashed).
    pub record: String,
    /// The audit path from the record's leaf to the batch's root (hex, leaf side first).
    pub path: Vec<String>,
    /// The signed batch the record was committed in.
    #[schema(value_type = SignedView)]
    pub batch: Box<serde_json::value::RawValue>,
}

impl From<Signed> for SignedView {
    fn from(s: Signed) -> Self {
        SignedView {
            kind: s.kind,
            statement: s.statement,
            key: s.key,
            signature: s.signature,
        }
    }
}

/// The newest signed checkpoint (404 before the first event).
#[utoipa::path(
    get,
    path = "/v1/audit/checkpoint",
    tag = "audit",
    responses(
        (status = 200, body = SignedView),
        (status = 401, body = ErrorBody),
        (status = 404, description = "no checkpoint yet", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn checkpoint(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<Json<SignedView>, ApiError> {
    let s = state
        .audit
        .latest()
        .ok_or_else(|| ApiError::not_found("no checkpoint yet: nothing has been recorded"))?;
    Ok(Json(s.into()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Only this kind.
    #[param(value_type = Option<EventKind>)]
    pub kind: Option<String>,
    /// Only this actor's key id (for executions: the caller).
    pub actor: Option<String>,
    pub tool: Option<String>,
    /// Milliseconds since the Unix epoch, inclusive.
    pub since: Option<i64>,
    /// Milliseconds since the Unix epoch, exclusive.
    pub until: Option<i64>,
    /// Only events older than this sequence number (the previous newest-first page's
    /// `next_cursor`).
    pub cursor: Option<i64>,
    /// Oldest first, newer than this sequence number: follow the log from here (with `cursor`
    /// too: the range between them).
    pub after: Option<i64>,
    /// With `after`: wait up to this many seconds (at most 60) for an event before answering
    /// with an empty page (ignored without `after`).
    #[param(minimum = 0, maximum = 60)]
    pub wait: Option<u64>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// The kinds an event can have.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub enum EventKind {
    #[serde(rename = "execution")]
    Execution,
    #[serde(rename = "tool.publish")]
    ToolPublish,
    #[serde(rename = "tool.delete")]
    ToolDelete,
    #[serde(rename = "tool.quarantine")]
    ToolQuarantine,
    #[serde(rename = "tool.release")]
    ToolRelease,
    #[serde(rename = "policy.set")]
    PolicySet,
    #[serde(rename = "policy.reload")]
    PolicyReload,
    #[serde(rename = "key.create")]
    KeyCreate,
    #[serde(rename = "key.revoke")]
    KeyRevoke,
    #[serde(rename = "server.start")]
    ServerStart,
    #[serde(rename = "server.stop")]
    ServerStop,
}

/// One page of events.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventPage {
    pub events: Vec<Event>,
    /// Newest-first pages: pass as `cursor`; following (`after`): pass as `after`. Absent on
    /// the last newest-first page.
    pub next_cursor: Option<i64>,
}

/// The longest a follower may wait for the next event.
const MAX_WAIT_SECS: u64 = 60;

/// Lists the audit log (executions and administrative events), newest first with a cursor, or
/// follows it oldest first after a sequence number, waiting for new events.
#[utoipa::path(
    get,
    path = "/v1/audit/events",
    tag = "audit",
    params(EventsQuery),
    responses(
        (status = 200, body = EventPage),
        (status = 400, description = "unknown or malformed filter", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn events(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<EventPage>, ApiError> {
    caller.require(Action::ReadExecutions)?;
    let q: EventsQuery = crate::server::extract::query(raw.as_deref())?;
    let bad = |m: String| ApiError::bad_request("invalid_query", m);
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(bad(format!(
            "limit must be between 1 and 1000, not {limit}"
        )));
    }
    if let Some(k) = &q.kind
        && !EVENT_KINDS.contains(&k.as_str())
    {
        return Err(bad(format!(
            "unknown kind {k:?}; use one of {}",
            EVENT_KINDS.join(", ")
        )));
    }
    let wait = q.wait.unwrap_or(0);
    if wait > MAX_WAIT_SECS {
        return Err(bad(format!("wait is at most {MAX_WAIT_SECS} seconds")));
    }
    let filter = EventFilter {
        kind: q.kind,
        actor: q.actor,
        tool: q.tool,
        since_ms: q.since,
        until_ms: q.until,
        before_seq: q.cursor,
        after_seq: q.after,
        limit,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    loop {
        let reading = state.clone();
        let f = filter.clone();
        let (events, next) = tokio::task::spawn_blocking(move || reading.storage.events(&f))
            .await
            .map_err(ApiError::internal)??;
        let following = filter.after_seq.is_some();
        if !events.is_empty() || !following || tokio::time::Instant::now() >= deadline {
            // Following: the next `after` is the last event seen (or the same as asked).
            let next_cursor = if following {
                Some(
                    events
                        .last()
                        .map_or(filter.after_seq.unwrap_or(0), |e| e.seq),
                )
            } else {
                next
            };
            return Ok(Json(EventPage {
                events,
                next_cursor,
            }));
        }
        // Polling the head is two index lookups; 200 ms keeps a follower close behind.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_kinds_are_exactly_the_stored_ones() {
        use EventKind::*;
        let all = [
            Execution,
            ToolPublish,
            ToolDelete,
            ToolQuarantine,
            ToolRelease,
            PolicySet,
            PolicyReload,
            KeyCreate,
            KeyRevoke,
            ServerStart,
            ServerStop,
        ];
        let names: Vec<String> = all
            .iter()
            .map(|k| {
                serde_json::to_value(k)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(names, EVENT_KINDS);
    }
}
