//! The server's side of the audit log: its log key, signed checkpoints (made off the request
//! path, copied to a file and/or a webhook the operator controls), the signatures of committed
//! batches and the receipts made from them. The endpoints that read it are in `api/audit.rs`;
//! `docs/audit.md` describes all of it.

use crate::clock::now_ms;
use crate::record::committed::Committed;
use cordon_storage::{ExecutionRecord, Storage, StoredCheckpoint};
use cordon_trust::{Checkpoint, KeyId, PrivateKey, Signed, SignedBatch};
use serde::Serialize;
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

/// The most links a receipt of a stored record walks to its checkpoint: checkpoints come every
/// 10 s at most, so this is over 10,000 calls a second between two of them.
pub const MAX_RECEIPT_WALK: i64 = 100_000;

/// Why the audit log cannot be opened, a checkpoint made or a receipt built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] cordon_storage::StorageError),
    /// The log key is missing, unreadable, or not the key the log is signed with; the message
    /// says what to do.
    #[error("{0}")]
    Key(String),
    #[error("signed statement: {0}")]
    Signed(#[from] cordon_trust::SignedError),
    #[error("cannot build the receipt: {0}")]
    Receipt(#[from] cordon_trust::ReceiptError),
    /// No signed checkpoint holds the record yet (the next one, within the checkpoint
    /// interval, will).
    #[error("no signed checkpoint covers record {0} yet")]
    NotCheckpointed(i64),
    /// The links from the record to the checkpoint covering it do not hold.
    #[error("the log between record {seq} and its checkpoint does not hold: {why}")]
    ChainBroken { seq: i64, why: String },
    /// A link is not what the log key sealed when it was committed (`sealed.rs`): changed in
    /// the database since. Nothing is signed over it.
    #[error("link {seq} was changed after it was committed: {why}")]
    Tampered { seq: i64, why: String },
}

impl From<crate::record::sealed::SealError> for AuditError {
    fn from(e: crate::record::sealed::SealError) -> Self {
        match e {
            crate::record::sealed::SealError::Store(e) => AuditError::Store(e),
            crate::record::sealed::SealError::Tampered { seq, why } => {
                AuditError::Tampered { seq, why }
            }
        }
    }
}

impl From<cordon_trust::KeyError> for AuditError {
    fn from(e: cordon_trust::KeyError) -> Self {
        AuditError::Key(e.to_string())
    }
}

/// The log key and the newest checkpoint.
/// What is told of a changed link: its sequence number and why.
pub type TamperHook = Box<dyn Fn(i64, &str) + Send + Sync>;

pub struct AuditLog {
    key: PrivateKey,
    pub key_id: KeyId,
    pub log_id: String,
    settings: AuditSettings,
    /// Serializes checkpointing (the timer and the one made at shutdown).
    latest: Mutex<Option<StoredCheckpoint>>,
    /// Webhook deliveries still in flight (joined at shutdown, so the last one is sent).
    deliveries: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// The tampered link this process last recorded an `audit.tampered` event for (one event
    /// per finding, not one per refused checkpoint).
    reported: Mutex<Option<(i64, String)>>,
    /// Told of each new finding of a changed link (the detection rules' `chain_broken`).
    on_tampered: std::sync::OnceLock<TamperHook>,
    /// Seals the state of calls that ask for input, under a key derived from the log key
    /// (the same on every node of the store).
    states: crate::calls::request_state::Sealer,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("key_id", &self.key_id)
            .field("log_id", &self.log_id)
            .finish_non_exhaustive()
    }
}

/// Reads the log key, creating it (mode 0600) when the log has never been signed, and claims the
/// store for it. A store is signed by one key only: the first node to start on it claims it
/// (atomically, so of two fresh nodes starting at the same moment exactly one wins), and a node
/// without that key, or with another one, does not start (nodes sharing one database share one
/// key; a replaced key file is the sign of a swap, and its checkpoints would not verify against
/// the key auditors kept).
pub fn load_key(
    path: &Path,
    storage: &dyn Storage,
    latest: Option<&StoredCheckpoint>,
) -> Result<PrivateKey, AuditError> {
    // A store signed before claims were kept is held by the key of its checkpoints.
    let signed_by = match latest {
        Some(cp) => Some(Signed::parse(&cp.signed)?.key),
        None => None,
    };
    let (key, new) = if path.exists() {
        (PrivateKey::read(path)?, false)
    } else if let Some(by) = &signed_by {
        return Err(AuditError::Key(format!(
            "no log key at {}, and this store's audit log is already signed by {by}: give this node that key (copy the key file from a node that has it, or point --log-key at it); a new key would make checkpoints no auditor can verify",
            path.display()
        )));
    } else {
        (PrivateKey::generate()?, true)
    };
    let ours = key.key_id().to_string();
    let other_key = |by: &str| {
        AuditError::Key(format!(
            "the log key at {} is {ours}, but this store's audit log is signed by {by}: every node sharing a store must hold the key that signed it (copy it from a node that has it, or point --log-key at it)",
            path.display()
        ))
    };
    // A store signed before claims were kept belongs to the key of its checkpoints.
    if let Some(by) = &signed_by
        && *by != ours
    {
        return Err(other_key(by));
    }
    let log_id = storage.log_id()?;
    // A new key is written (to a file of its own) before it claims the store, so a store is
    // never claimed by a key that exists nowhere; it takes its place only if its claim won.
    let pending = path.with_extension("key.new");
    if new {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| AuditError::Key(format!("cannot create {}: {e}", dir.display())))?;
        }
        let _ = std::fs::remove_file(&pending);
        key.write_new(&pending)?;
    }
    // A store that kept seals was claimed before: its claim is gone from the database, and a
    // new one would cover whatever was rewritten meanwhile.
    let first_sealed = storage.first_sealed()?;
    let claimed = storage.claim_log_key(&ours, &|head| {
        if let Some(first) = first_sealed {
            return Err(format!(
                "this store holds seals from link {first} on but no claim by its log key: the claim was removed from the database; restore the database from a backup (a new claim would cover what was changed)"
            ));
        }
        crate::record::sealed::LogClaim::sign(&key, &log_id, head)
    });
    let holder = match claimed {
        Ok(holder) => holder,
        Err(e) => {
            let _ = std::fs::remove_file(&pending);
            return Err(e.into());
        }
    };
    if holder != ours {
        let _ = std::fs::remove_file(&pending);
    }
    if holder != ours {
        return Err(if new {
            AuditError::Key(format!(
                "no log key at {}, and this store's audit log is signed by {holder} (this node would have made {ours}): give this node that key (copy the key file from a node that has it, or point --log-key at it); a new key would make checkpoints no auditor can verify",
                path.display()
            ))
        } else {
            other_key(&holder)
        });
    }
    if new {
        std::fs::rename(&pending, path).map_err(|e| {
            AuditError::Key(format!(
                "cannot move the new log key {} to {}: {e}; move it there by hand (it holds this store's claim)",
                pending.display(),
                path.display()
            ))
        })?;
        tracing::info!(target: "cordon::admin", key = %key.key_id(), path = %path.display(), "created the audit log key");
    }
    Ok(key)
}

impl AuditLog {
    pub fn open(
        key_path: &Path,
        storage: &dyn Storage,
        settings: AuditSettings,
    ) -> Result<Self, AuditError> {
        let latest = storage.latest_checkpoint()?;
        let key = load_key(key_path, storage, latest.as_ref())?;
        Ok(AuditLog {
            key_id: key.key_id(),
            states: crate::calls::request_state::Sealer::for_log_key(&key),
            key,
            log_id: storage.log_id()?,
            settings,
            latest: Mutex::new(latest),
            deliveries: Mutex::default(),
            reported: Mutex::default(),
            on_tampered: std::sync::OnceLock::new(),
        })
    }

    /// What seals and opens the `requestState` of calls that ask for input.
    pub fn states(&self) -> &crate::calls::request_state::Sealer {
        &self.states
    }

    pub fn interval(&self) -> Duration {
        self.settings
            .checkpoint_interval
            .clamp(Duration::from_millis(100), MAX_CHECKPOINT_INTERVAL)
    }

    /// Signs a checkpoint of the log as it is now, unless the newest one already covers it;
    /// keeps it and copies it to the configured places. Blocking (call off the async
    /// workers). Returns the new checkpoint, if one was made.
    pub fn checkpoint(&self, storage: &dyn Storage) -> Result<Option<Signed>, AuditError> {
        let mut latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        let (size, head) = storage.head()?;
        if size == 0 {
            return Ok(None);
        }
        // The newest kept checkpoint (another node sharing the store may have made it), taken
        // only as the key signed it; then only what the key sealed when it was committed, as
        // it was committed, from where that checkpoint left off.
        *latest = storage.latest_checkpoint()?;
        let checked =
            crate::record::sealed::checked_start(&self.key_id, &self.log_id, latest.as_ref())
                .and_then(|after| {
                    if after.0 >= size {
                        return Ok(false);
                    }
                    crate::record::sealed::check_range(
                        storage,
                        &self.key_id,
                        &self.log_id,
                        after,
                        (size, &head),
                    )
                    .map(|()| true)
                });
        match checked {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(e) => {
                let e = AuditError::from(e);
                if let AuditError::Tampered { seq, why } = &e {
                    self.report_tampered(storage, *seq, why);
                }
                return Err(e);
            }
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

    /// The receipt of a committed execution, for its answer.
    pub fn receipt(&self, c: Committed) -> Result<ReceiptView, AuditError> {
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

    /// A receipt of a record already in the log (`GET /v1/executions/{id}/receipt`), signed
    /// now as a batch of that one record (records `seq` to `seq`, after which the log held
    /// `seq` links ending in the record's hash), so it is checked exactly like the receipt its
    /// caller got. Signed only for what the log key already vouched for: the oldest signed
    /// checkpoint holding the record is checked with the key, and every link from the record up
    /// to that checkpoint's head is recomputed from its content; a record edited in the
    /// database, even with every hash recomputed, gets no receipt. Blocking (it reads the
    /// store). Refused until a checkpoint covers the record (at most the checkpoint interval).
    pub fn receipt_of(
        &self,
        storage: &dyn Storage,
        record: ExecutionRecord,
    ) -> Result<ReceiptView, AuditError> {
        let seq = record.seq;
        if !record.matches_its_hash() {
            return Err(AuditError::Receipt(
                cordon_trust::ReceiptError::RecordChanged,
            ));
        }
        // A record committed under a seal: the receipt is its group's, exactly as its caller
        // got it, once the group as stored still matches the seal.
        if let Some(batch) =
            crate::record::sealed::group_of(storage, &self.key_id, &self.log_id, seq)?
        {
            if batch.path(seq).is_err() {
                return Err(AuditError::Tampered {
                    seq,
                    why: "the record is not in its seal's group".into(),
                });
            }
            let body = cordon_storage::Prepared::new(record.execution.clone())?.into_body();
            return self.receipt(Committed {
                record,
                body,
                batch: Arc::new(batch),
            });
        }
        // Written before seals were kept: vouched for by the checkpoint that covers it.
        let stored = storage
            .checkpoint_covering(seq)?
            .ok_or(AuditError::NotCheckpointed(seq))?;
        let broken = |why: String| AuditError::ChainBroken { seq, why };
        let checkpoint: Checkpoint = Signed::parse(&stored.signed)?
            .verify(Checkpoint::KIND, &self.key_id)
            .map_err(|e| broken(format!("checkpoint {}: {e}", stored.size)))?;
        if checkpoint.log_id != self.log_id || checkpoint.size != stored.size {
            return Err(broken(format!(
                "checkpoint {} is not this log's",
                stored.size
            )));
        }
        self.walk_to(storage, &record, &checkpoint)?;
        let batch = Arc::new(SignedBatch::sign(
            &self.key,
            &self.log_id,
            seq,
            &[record.hash.as_str()],
            now_ms(),
        )?);
        let body = cordon_storage::Prepared::new(record.execution.clone())?.into_body();
        self.receipt(Committed {
            record,
            body,
            batch,
        })
    }

    /// Recomputes every link from `record` to `checkpoint`'s head, from each link's content.
    fn walk_to(
        &self,
        storage: &dyn Storage,
        record: &ExecutionRecord,
        checkpoint: &Checkpoint,
    ) -> Result<(), AuditError> {
        let seq = record.seq;
        let broken = |why: String| AuditError::ChainBroken { seq, why };
        if checkpoint.size - seq > MAX_RECEIPT_WALK {
            return Err(broken(format!(
                "the checkpoint covering it is {} records later (at most {MAX_RECEIPT_WALK} are walked)",
                checkpoint.size - seq
            )));
        }
        let mut expected_prev = record.prev_hash.clone();
        let mut next = seq;
        while next <= checkpoint.size {
            let (page, _) = storage.events(&cordon_storage::EventFilter {
                after_seq: Some(next - 1),
                before_seq: Some(checkpoint.size + 1),
                limit: 1000,
                ..cordon_storage::EventFilter::default()
            })?;
            if page.is_empty() {
                return Err(broken(format!("record {next} is missing")));
            }
            for link in page {
                if link.seq != next {
                    return Err(broken(format!("record {next} is missing")));
                }
                let Some((body, _)) = link.canonical() else {
                    return Err(broken(format!("record {next} is unreadable")));
                };
                let again = cordon_core::link::link_hash(&expected_prev, link.seq, &body);
                if again != link.hash {
                    return Err(broken(format!("record {next} does not match its hash")));
                }
                if link.seq == seq && link.hash != record.hash {
                    return Err(broken("the record read twice differs".into()));
                }
                expected_prev = link.hash;
                next += 1;
            }
        }
        if expected_prev != checkpoint.head {
            return Err(broken(format!(
                "the log's record {} is not the one checkpoint {} signed",
                checkpoint.size, checkpoint.size
            )));
        }
        Ok(())
    }

    /// Checks the links no checkpoint covers yet against their seals (as the next checkpoint
    /// will): `Some((seq, why))` names the first link that is not what was committed.
    /// Blocking.
    pub fn check_tail(&self, storage: &dyn Storage) -> Result<Option<(i64, String)>, AuditError> {
        let (size, head) = storage.head()?;
        let latest = storage.latest_checkpoint()?;
        let checked =
            crate::record::sealed::checked_start(&self.key_id, &self.log_id, latest.as_ref())
                .and_then(|after| {
                    if after.0 >= size {
                        return Ok(());
                    }
                    crate::record::sealed::check_range(
                        storage,
                        &self.key_id,
                        &self.log_id,
                        after,
                        (size, &head),
                    )
                });
        match checked {
            Ok(()) => Ok(None),
            Err(crate::record::sealed::SealError::Tampered { seq, why }) => Ok(Some((seq, why))),
            Err(e) => Err(e.into()),
        }
    }

    /// Says once (a log line and an `audit.tampered` event) that link `seq` is not what was
    /// committed; the refusal itself repeats at every checkpoint until the log is restored.
    fn report_tampered(&self, storage: &dyn Storage, seq: i64, why: &str) {
        tracing::error!(target: "cordon::security", seq, why, "a link of the audit log was changed after it was committed: no checkpoint is signed over it; run cordon audit verify, restore the log from a backup");
        let mut reported = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
        if reported
            .as_ref()
            .is_some_and(|(s, w)| *s == seq && w == why)
        {
            return;
        }
        let event = cordon_storage::AdminEvent::new(
            now_ms(),
            &cordon_storage::Actor::server(),
            cordon_storage::AdminAction::AuditTampered {
                seq,
                why: why.to_owned(),
            },
        );
        if let Some(hook) = self.on_tampered.get() {
            hook(seq, why);
        }
        match storage.record_event(event) {
            Ok(_) => *reported = Some((seq, why.to_owned())),
            Err(e) => {
                tracing::error!(target: "cordon::security", error = %e, "cannot record the audit.tampered event")
            }
        }
    }

    /// Sets what is told of each new finding of a changed link (once; later calls are ignored).
    pub fn on_tampered(&self, hook: TamperHook) {
        let _ = self.on_tampered.set(hook);
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

impl AuditLog {
    /// Makes a checkpoint every interval while events arrive, for as long as the server runs.
    pub fn spawn_checkpointer(self: Arc<Self>, storage: Arc<dyn Storage>) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(self.interval());
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let (audit, storage) = (self.clone(), storage.clone());
                match tokio::task::spawn_blocking(move || audit.checkpoint(&*storage)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::error!(target: "cordon::security", error = %e, "cannot make a checkpoint")
                    }
                    Err(e) => tracing::error!(error = %e, "checkpoint task failed"),
                }
            }
        });
    }
}

/// The store seals each group of links with the log key before it commits (`sealed.rs`).
impl cordon_storage::Sealer for AuditLog {
    fn seal(&self, first_seq: i64, hashes: &[&str]) -> Result<String, String> {
        SignedBatch::sign(&self.key, &self.log_id, first_seq, hashes, now_ms())
            .map(|b| b.statement_json().get().to_owned())
            .map_err(|e| e.to_string())
    }
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
