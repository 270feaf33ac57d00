//! [`Storage`]: everything the server keeps, behind one narrow interface. The embedded backend
//! ([`Embedded`], SQLite + blob files in the data directory) is the default; a shared backend
//! (PostgreSQL, so that several stateless nodes use one registry and one log) implements the
//! same trait.
//!
//! Every administrative change goes through one method here, which applies it and appends the
//! event that records it (who, when, what) to the audit log in one unit: a change is never
//! stored without its event.
//!
//! The methods are blocking: the server calls the slow ones (append, list, verify, prune) from
//! blocking threads. Each method is one unit of work, so a backend can make it one transaction.

use crate::StorageError;
use crate::alerts::{Alert, AlertView, Attempt, Due};
use crate::approvals::{self, ApprovalRow, ApprovalState, Decided};
use crate::chain::{ChainReport, Claim};
use crate::changes::Change;
use crate::decisions::{DecisionBundle, InForce};
use crate::detect::{Reached, Tally};
use crate::events::{Actor, AdminAction, AdminEvent, Event, EventFilter};
use crate::keys::{self, ApiKey, KeySpec, KeyStore, KeyTable, NewKey};
use crate::log::{ExecutionLog, lock};
use crate::log_verify::StoredCheckpoint;
use crate::nodes::{NodeRow, NodeStore};
use crate::quota::{QuotaDecision, QuotaRequest, QuotaStore, QuotaUse};
use crate::record::{Appended, ExecutionRecord, Filter, NewExecution, Prepared};
use crate::registry::{self, Quarantine, Registry, ToolRecord};
use crate::seal::{ClaimSigner, Sealer, StoredSeal};
use crate::suspensions::Suspension;
use crate::tasks::{Abandoned, NewTask, TaskEnd, TaskRow, TaskStore};
use std::path::Path;
use std::sync::Arc;

pub trait Storage: Send + Sync + std::fmt::Debug {
    // Components and tools.

    /// Stores a component; returns its name (the sha256 of the bytes).
    fn put_blob(&self, bytes: &[u8]) -> Result<String, StorageError>;
    /// A component stored with [`Storage::put_blob`], checked against its name.
    fn blob(&self, name: &str) -> Result<Vec<u8>, StorageError>;
    /// Every version of every tool, in publication order.
    fn tools(&self) -> Result<Vec<ToolRecord>, StorageError>;
    fn quarantined(&self) -> Result<Vec<(String, Quarantine)>, StorageError>;

    // Administrative changes, each with its event.

    /// Publishes a version (`tool.publish`).
    fn insert_tool(&self, tool: &ToolRecord, by: &Actor) -> Result<Event, StorageError>;
    /// Replaces the policy of every version of `name` (`policy.set`, with `source`). Returns how
    /// many versions changed; none changed (and no event) when they all had it already.
    fn set_policy(
        &self,
        name: &str,
        policy: &str,
        policy_hash: &str,
        source: &str,
        by: &Actor,
    ) -> Result<usize, StorageError>;
    /// Deletes every version of `name` (`tool.delete`); returns how many there were (none: no
    /// event).
    fn delete_tool(&self, name: &str, by: &Actor) -> Result<usize, StorageError>;
    fn quarantine(
        &self,
        name: &str,
        reason: &str,
        at_ms: i64,
        by: &Actor,
    ) -> Result<(), StorageError>;
    /// Lifts a quarantine; false (and no event) when there was none.
    fn release(&self, name: &str, at_ms: i64, by: &Actor) -> Result<bool, StorageError>;
    /// Makes a key (`key.create`); its secret is returned once, only its hash is stored.
    fn create_key(&self, spec: &KeySpec, now_ms: i64, by: &Actor) -> Result<NewKey, StorageError>;
    /// Revokes a live key by id or name; false (and no event) when there is none.
    fn revoke_key(&self, id_or_name: &str, now_ms: i64, by: &Actor) -> Result<bool, StorageError>;
    /// Records an event that changes nothing stored (server start and stop, a reload summary).
    fn record_event(&self, event: AdminEvent) -> Result<Event, StorageError>;
    /// Holds a call for approval, with its `approval.request` event (the caller as actor).
    fn approval_hold(&self, row: &ApprovalRow) -> Result<(), StorageError>;
    fn approval(&self, id: &str) -> Result<Option<ApprovalRow>, StorageError>;
    /// Calls waiting for a decision, oldest first (some may have expired, not yet swept): at
    /// most `limit`, after the one held at `after` (its `created_at_ms` and id), to page.
    fn approvals_pending(
        &self,
        after: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<ApprovalRow>, StorageError>;
    /// Approves or denies a pending call as `by`, with its event; a call whose time is up is
    /// expired instead. Only one decision ever takes effect, whichever node makes it.
    fn approval_decide(
        &self,
        id: &str,
        approve: bool,
        reason: &str,
        by: &Actor,
        now_ms: i64,
    ) -> Result<Decided, StorageError>;
    /// Expires the pending calls whose time is up (each with its `approval.deny` event, the
    /// server as actor) and returns them.
    fn approvals_expire(&self, now_ms: i64) -> Result<Vec<ApprovalRow>, StorageError>;
    /// Forgets calls decided before `before_ms`.
    fn approvals_prune(&self, before_ms: i64) -> Result<u64, StorageError>;
    /// Raises `alert` with its `alert.raise` event (the server as actor), and a pending
    /// delivery to each of `webhooks`.
    fn alert_raise(&self, alert: &Alert, webhooks: &[String]) -> Result<(), StorageError>;
    /// Raises `alert` as [`Storage::alert_raise`] does, unless an alert of its rule for `key`
    /// was raised at or after `since_ms` (by this node or another: the check and the raise
    /// are one change under the log's lock). True when it was raised.
    fn alert_raise_once(
        &self,
        alert: &Alert,
        webhooks: &[String],
        key: &str,
        since_ms: i64,
    ) -> Result<bool, StorageError>;
    /// The newest alerts with their deliveries.
    fn alerts(&self, limit: u32) -> Result<Vec<AlertView>, StorageError>;
    /// Claims up to `limit` deliveries due at `now_ms` for `node` (for [`crate::alerts::LEASE_MS`]):
    /// no other node gets them meanwhile.
    fn alert_claim(&self, node: &str, now_ms: i64, limit: u32) -> Result<Vec<Due>, StorageError>;
    /// Records how an attempt of a claimed delivery went.
    fn alert_attempted(
        &self,
        due: &Due,
        now_ms: i64,
        attempt: &Attempt,
    ) -> Result<(), StorageError>;
    /// Adds one node's tallies of the detection rules' signals at `now_ms`; the rules that
    /// reached their counts across every node, their signals consumed (`crate::detect`).
    fn detect_flush(&self, now_ms: i64, tallies: &[Tally]) -> Result<Vec<Reached>, StorageError>;
    /// Forgets the detection signals older than `before_ms`.
    fn detect_prune(&self, before_ms: i64) -> Result<u64, StorageError>;
    /// Suspends a caller (again, until the new end, if it was) with its `caller.suspend`
    /// event, announced to every node.
    fn suspend_caller(&self, suspension: &Suspension, by: &Actor) -> Result<(), StorageError>;
    /// Lifts a caller's suspension with its `caller.resume` event; false (and no event) when
    /// none was in force.
    fn resume_caller(&self, caller: &str, at_ms: i64, by: &Actor) -> Result<bool, StorageError>;
    /// The suspensions in force at `now_ms`.
    fn suspensions(&self, now_ms: i64) -> Result<Vec<Suspension>, StorageError>;
    /// The decisions bundle in force, if any (docs/decisions.md).
    fn decisions(&self) -> Result<Option<InForce>, StorageError>;
    /// A bundle applied at some time, by its hash.
    fn decisions_by_hash(&self, hash: &str) -> Result<Option<InForce>, StorageError>;
    /// Puts `next` in force (`None`: no bundle) with its `decisions.apply` or
    /// `decisions.remove` event, announced to every node; `false` (and no event) when it
    /// already was.
    fn set_decisions(
        &self,
        next: Option<&DecisionBundle>,
        by: &Actor,
    ) -> Result<bool, StorageError>;

    // The audit log.

    /// Appends executions in order, chained to the newest link; durable when this returns.
    fn append(&self, batch: &[NewExecution]) -> Result<Vec<ExecutionRecord>, StorageError> {
        Ok(self.append_prepared(&Prepared::all(batch)?)?.records)
    }
    /// The same, of records already prepared (see [`Prepared`]), with the group's seal.
    fn append_prepared(&self, batch: &[Prepared]) -> Result<Appended, StorageError>;
    /// From now on, every group of links appended is sealed by `sealer` before it commits
    /// (`seal.rs`).
    fn set_sealer(&self, sealer: Arc<dyn Sealer>);
    /// The seals of groups ending after `after_seq` and at most at `through_seq`, in order (at
    /// most [`crate::seal::MAX_SEALS_READ`]).
    fn seals(&self, after_seq: i64, through_seq: i64) -> Result<Vec<StoredSeal>, StorageError>;
    /// The seal of the group holding link `seq`, if one is kept.
    fn seal_covering(&self, seq: i64) -> Result<Option<StoredSeal>, StorageError>;
    /// The first link any kept seal covers.
    fn first_sealed(&self) -> Result<Option<i64>, StorageError>;
    /// The claim the log key signed when it claimed the store (`seal.rs`), as kept.
    fn log_claim(&self) -> Result<Option<String>, StorageError>;
    /// Claims the store for the log key `key_id` if no key has claimed it, atomically across
    /// every node: under the log's lock, `sign` is given the newest link's number and returns
    /// the signed claim to keep. Returns the key that holds the claim (this one, or the first
    /// claimant's).
    fn claim_log_key(&self, key_id: &str, sign: &ClaimSigner<'_>) -> Result<String, StorageError>;
    fn execution(&self, id: &str) -> Result<Option<ExecutionRecord>, StorageError>;
    /// The execution at sequence number `seq`, if that link is one.
    fn execution_at(&self, seq: i64) -> Result<Option<ExecutionRecord>, StorageError>;
    /// One page, newest first, and the cursor of the next page.
    fn executions(
        &self,
        filter: &Filter,
    ) -> Result<(Vec<ExecutionRecord>, Option<i64>), StorageError>;
    /// Executions and administrative events together (see [`EventFilter`]).
    fn events(&self, filter: &EventFilter) -> Result<(Vec<Event>, Option<i64>), StorageError>;
    /// (sequence number, hash) of the newest link.
    fn head(&self) -> Result<(i64, String), StorageError>;
    /// The log's identity, made once.
    fn log_id(&self) -> Result<String, StorageError>;
    /// Walks the whole chain, holding it against every kept checkpoint and `claims`.
    fn verify_log(&self, claims: &[Claim]) -> Result<ChainReport, StorageError>;
    /// Deletes links from before `cutoff_ms` up to the newest checkpoint among them.
    fn prune_before(&self, cutoff_ms: i64) -> Result<u64, StorageError>;
    fn put_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StorageError>;
    fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StorageError>;
    /// The oldest kept checkpoint whose log holds record `seq` (`size >= seq`).
    fn checkpoint_covering(&self, seq: i64) -> Result<Option<StoredCheckpoint>, StorageError>;
    /// The signed checkpoint retention anchored the chain at, if it pruned anything.
    fn anchor_checkpoint(&self) -> Result<Option<String>, StorageError>;

    // API keys.

    /// The key a presented secret belongs to, if it is known and not revoked: the check of the
    /// key table a server holds in memory, against the stored table.
    fn authenticate(&self, presented: &str) -> Result<Option<ApiKey>, StorageError> {
        Ok(self.key_table()?.authenticate(presented, now_ms()))
    }
    fn keys(&self) -> Result<Vec<ApiKey>, StorageError>;
    /// Every key with its stored hash, for a server to authenticate from memory.
    fn key_table(&self) -> Result<KeyTable, StorageError>;
    /// Records when keys were last used (a server batches these; never moves a time back).
    fn touch_keys(&self, used: &[(String, i64)]) -> Result<(), StorageError>;

    /// Counts one execution of `request.caller` against its quotas, unless one would be
    /// exceeded (then nothing is counted). Serialized per caller across every node.
    fn quota_acquire(&self, request: &QuotaRequest<'_>) -> Result<QuotaDecision, StorageError>;
    /// After the call: adds the fuel it used to each scope's counter for `day`, and ends its
    /// lease.
    fn quota_finish(
        &self,
        caller: &str,
        day: i64,
        scopes: &[String],
        fuel: u64,
        lease: Option<&str>,
    ) -> Result<(), StorageError>;
    /// A caller's use on `day`, per scope it used (running leases as of `now_ms`).
    fn quota_use(&self, caller: &str, day: i64, now_ms: i64)
    -> Result<Vec<QuotaUse>, StorageError>;
    /// Forgets the counters of days before `before_day` and leases ended by `now_ms` (of
    /// calls whose node died); returns how many rows went.
    fn quota_prune(&self, before_day: i64, now_ms: i64) -> Result<u64, StorageError>;

    // Running and recently finished calls (`crate::tasks`).

    /// Records a call that starts.
    fn task_start(&self, task: &NewTask<'_>) -> Result<(), StorageError>;
    /// Several calls that start, in one transaction (one commit for all of them).
    fn tasks_start(&self, tasks: &[NewTask<'_>]) -> Result<(), StorageError>;
    /// Several running tasks ended, in one transaction; for each, whether it was still
    /// running (see [`Storage::task_finish`]).
    fn tasks_finish(&self, ends: &[TaskEnd<'_>]) -> Result<Vec<bool>, StorageError>;
    /// Renews a running task's lease, with its newest progress if given; returns who asked
    /// for it to stop, if anyone has.
    fn task_touch(
        &self,
        id: &str,
        progress: Option<&str>,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Option<String>, StorageError>;
    /// Ends a running task with its outcome and answer, kept until `expires_at_ms`; false when
    /// it had ended already (another node marked it interrupted).
    fn task_finish(
        &self,
        id: &str,
        outcome: &str,
        result: &str,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<bool, StorageError>;
    fn task(&self, id: &str) -> Result<Option<TaskRow>, StorageError>;
    /// Asks a running task to stop (the first asker is kept); returns the task as it is now.
    /// Announced to every node sharing the store.
    fn task_cancel(&self, id: &str, by: &str, now_ms: i64)
    -> Result<Option<TaskRow>, StorageError>;
    /// Adds `responses` to the answers of a task waiting for input (`crate::task_input`); the
    /// task as it waits now, or `None` when it is not waiting.
    fn task_answer(
        &self,
        id: &str,
        responses: &serde_json::Map<String, serde_json::Value>,
        now_ms: i64,
    ) -> Result<Option<crate::Waiting>, StorageError>;
    /// Claims the next round of a task whose every request is answered, under the execution
    /// id `next`; false when another claimed it, or it is not waiting or not fully answered.
    fn task_proceed(&self, id: &str, next: &str, now_ms: i64) -> Result<bool, StorageError>;
    /// Running tasks whose lease ran out by `now_ms` (their node died), and those `node` runs
    /// (a node starting again under its name ends what it left running).
    fn tasks_abandoned(
        &self,
        now_ms: i64,
        node: Option<&str>,
    ) -> Result<Vec<Abandoned>, StorageError>;
    /// Forgets finished tasks whose answer expired by `now_ms`.
    fn tasks_prune(&self, now_ms: i64) -> Result<u64, StorageError>;

    /// Stores what node `name` reports of itself now (`crate::nodes`), and forgets nodes not
    /// seen for a week.
    fn node_beat(&self, name: &str, beat: &str, now_ms: i64) -> Result<(), StorageError>;
    /// Every node that shares this store (or did within a week), by name.
    fn nodes(&self) -> Result<Vec<NodeRow>, StorageError>;

    /// Whether other servers may share this store (PostgreSQL): the embedded one is one
    /// server's, so whatever it finds running at start was left by its own previous life.
    fn shared(&self) -> bool {
        false
    }

    /// Whether the store answers now (for readiness checks, never per request).
    fn ping(&self) -> Result<(), StorageError> {
        self.head().map(|_| ())
    }

    // Other processes.

    /// Announcements of the changes other processes sharing this store make (and this one's
    /// own), for a node to apply them: `None` for a store only one server uses (the embedded
    /// one; `cordon keys` changing its keys is seen by the key table's reload).
    fn changes(&self) -> Result<Option<std::sync::mpsc::Receiver<Change>>, StorageError> {
        Ok(None)
    }
}

/// The embedded default: `cordon.db` (SQLite, WAL) and `blobs/` in one data directory.
#[derive(Debug)]
pub struct Embedded {
    registry: Registry,
    log: ExecutionLog,
    keys: KeyStore,
    quotas: QuotaStore,
    tasks: TaskStore,
    nodes: NodeStore,
}

impl Embedded {
    /// Opens (or creates) the storage in `data_dir`. With `durable_log` false, log commits do
    /// not wait for fsync (see [`ExecutionLog::set_durable`]).
    pub fn open(data_dir: &Path, durable_log: bool) -> Result<Self, StorageError> {
        let log = ExecutionLog::open(&data_dir.join("cordon.db"))?;
        log.set_durable(durable_log)?;
        Ok(Embedded {
            registry: Registry::open(data_dir)?,
            log,
            keys: KeyStore::open(data_dir)?,
            quotas: QuotaStore::open(data_dir)?,
            tasks: TaskStore::open(data_dir)?,
            nodes: NodeStore::open(data_dir)?,
        })
    }

    /// A change whose event is known up front.
    fn change_with<T>(
        &self,
        at_ms: i64,
        by: &Actor,
        apply: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<(T, Option<AdminAction>), StorageError>,
    ) -> Result<T, StorageError> {
        let (value, _) = self.log.change(|tx| {
            let (value, action) = apply(tx)?;
            let events = action
                .map(|a| AdminEvent::new(at_ms, by, a))
                .into_iter()
                .collect();
            Ok((value, events))
        })?;
        Ok(value)
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Storage for Embedded {
    fn put_blob(&self, bytes: &[u8]) -> Result<String, StorageError> {
        self.registry.put_blob(bytes)
    }
    fn blob(&self, name: &str) -> Result<Vec<u8>, StorageError> {
        self.registry.blob(name)
    }
    fn tools(&self) -> Result<Vec<ToolRecord>, StorageError> {
        self.registry.all()
    }
    fn quarantined(&self) -> Result<Vec<(String, Quarantine)>, StorageError> {
        self.registry.all_quarantined()
    }

    fn insert_tool(&self, t: &ToolRecord, by: &Actor) -> Result<Event, StorageError> {
        let ((), mut events) = self.log.change(|tx| {
            registry::insert(tx, t)?;
            let action = AdminAction::published(t);
            Ok(((), vec![AdminEvent::new(t.published_at_ms, by, action)]))
        })?;
        events
            .pop()
            .ok_or_else(|| StorageError::Corrupt("event not stored".into()))
    }
    fn set_policy(
        &self,
        name: &str,
        policy: &str,
        policy_hash: &str,
        source: &str,
        by: &Actor,
    ) -> Result<usize, StorageError> {
        self.change_with(now_ms(), by, |tx| {
            let (changed, old_hashes) = registry::set_policy(tx, name, policy, policy_hash)?;
            let action = AdminAction::policy_set(name, changed, old_hashes, policy_hash, source);
            Ok((changed, action))
        })
    }
    fn delete_tool(&self, name: &str, by: &Actor) -> Result<usize, StorageError> {
        self.change_with(now_ms(), by, |tx| {
            let versions = registry::delete(tx, name)?;
            Ok((versions.len(), AdminAction::deleted(name, versions)))
        })
    }
    fn quarantine(
        &self,
        name: &str,
        reason: &str,
        at_ms: i64,
        by: &Actor,
    ) -> Result<(), StorageError> {
        self.change_with(at_ms, by, |tx| {
            registry::quarantine(tx, name, reason, at_ms)?;
            Ok((
                (),
                Some(AdminAction::ToolQuarantine {
                    tool: name.to_owned(),
                    reason: reason.to_owned(),
                }),
            ))
        })
    }
    fn release(&self, name: &str, at_ms: i64, by: &Actor) -> Result<bool, StorageError> {
        self.change_with(at_ms, by, |tx| {
            let released = registry::release(tx, name)?;
            let action = released.then(|| AdminAction::ToolRelease {
                tool: name.to_owned(),
            });
            Ok((released, action))
        })
    }
    fn create_key(&self, spec: &KeySpec, now_ms: i64, by: &Actor) -> Result<NewKey, StorageError> {
        self.change_with(now_ms, by, |tx| {
            let new = keys::create(tx, spec, now_ms)?;
            let action = AdminAction::key_created(&new.key);
            Ok((new, Some(action)))
        })
    }
    fn revoke_key(&self, id_or_name: &str, now_ms: i64, by: &Actor) -> Result<bool, StorageError> {
        self.change_with(now_ms, by, |tx| {
            let revoked = keys::revoke(tx, id_or_name, now_ms)?;
            let action = revoked.as_ref().map(AdminAction::key_revoked);
            Ok((revoked.is_some(), action))
        })
    }
    fn approval_hold(&self, row: &ApprovalRow) -> Result<(), StorageError> {
        let by = Actor::key(&row.caller, &row.caller_name);
        self.change_with(row.created_at_ms, &by, |tx| {
            approvals::sqlite::insert(tx, row)?;
            Ok(((), Some(row.requested())))
        })
    }
    fn approval(&self, id: &str) -> Result<Option<ApprovalRow>, StorageError> {
        self.registry
            .with_conn(|conn| approvals::sqlite::get(conn, id))
    }
    fn alert_raise(&self, alert: &Alert, webhooks: &[String]) -> Result<(), StorageError> {
        self.change_with(alert.at_ms, &Actor::server(), |tx| {
            crate::alerts::sqlite::insert(tx, alert, webhooks, None)?;
            Ok(((), Some(alert.raised())))
        })
    }
    fn alert_raise_once(
        &self,
        alert: &Alert,
        webhooks: &[String],
        key: &str,
        since_ms: i64,
    ) -> Result<bool, StorageError> {
        self.change_with(alert.at_ms, &Actor::server(), |tx| {
            if crate::alerts::sqlite::raised_since(tx, &alert.rule, key, since_ms)? {
                return Ok((false, None));
            }
            crate::alerts::sqlite::insert(tx, alert, webhooks, Some(key))?;
            Ok((true, Some(alert.raised())))
        })
    }
    fn alerts(&self, limit: u32) -> Result<Vec<AlertView>, StorageError> {
        self.registry
            .with_conn(|conn| crate::alerts::sqlite::list(conn, limit))
    }
    fn detect_flush(&self, now_ms: i64, tallies: &[Tally]) -> Result<Vec<Reached>, StorageError> {
        let (reached, _) = self.log.change(|tx| {
            Ok((
                crate::detect::sqlite::flush(tx, now_ms, tallies)?,
                Vec::new(),
            ))
        })?;
        Ok(reached)
    }
    fn detect_prune(&self, before_ms: i64) -> Result<u64, StorageError> {
        let (n, _) = self
            .log
            .change(|tx| Ok((crate::detect::sqlite::prune(tx, before_ms)?, Vec::new())))?;
        Ok(n)
    }
    fn suspend_caller(&self, suspension: &Suspension, by: &Actor) -> Result<(), StorageError> {
        self.change_with(suspension.at_ms, by, |tx| {
            crate::suspensions::sqlite::suspend(tx, suspension)?;
            Ok(((), Some(suspension.suspended())))
        })
    }
    fn resume_caller(&self, caller: &str, at_ms: i64, by: &Actor) -> Result<bool, StorageError> {
        self.change_with(at_ms, by, |tx| {
            let lifted = crate::suspensions::sqlite::resume(tx, caller, at_ms)?;
            let action = lifted.then(|| AdminAction::CallerResume {
                caller: caller.to_owned(),
            });
            Ok((lifted, action))
        })
    }
    fn suspensions(&self, now_ms: i64) -> Result<Vec<Suspension>, StorageError> {
        self.registry
            .with_conn(|conn| crate::suspensions::sqlite::active(conn, now_ms))
    }
    fn alert_claim(&self, node: &str, now_ms: i64, limit: u32) -> Result<Vec<Due>, StorageError> {
        let (due, _) = self.log.change(|tx| {
            Ok((
                crate::alerts::sqlite::claim(tx, node, now_ms, limit)?,
                Vec::new(),
            ))
        })?;
        Ok(due)
    }
    fn alert_attempted(
        &self,
        due: &Due,
        now_ms: i64,
        attempt: &Attempt,
    ) -> Result<(), StorageError> {
        let ((), _) = self.log.change(|tx| {
            crate::alerts::sqlite::attempted(tx, due, now_ms, attempt)?;
            Ok(((), Vec::new()))
        })?;
        Ok(())
    }
    fn approvals_pending(
        &self,
        after: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<ApprovalRow>, StorageError> {
        self.registry
            .with_conn(|conn| approvals::sqlite::pending(conn, after, limit))
    }
    fn approval_decide(
        &self,
        id: &str,
        approve: bool,
        reason: &str,
        by: &Actor,
        now_ms: i64,
    ) -> Result<Decided, StorageError> {
        let (decided, _) = self.log.change(|tx| {
            let Some(mut row) = approvals::sqlite::get(tx, id)? else {
                return Ok((Decided::Missing, Vec::new()));
            };
            let Some((state, expired)) = approvals::next_state(&row, approve, now_ms) else {
                return Ok((Decided::NotPending(row), Vec::new()));
            };
            let (actor, why) = if expired {
                (Actor::server(), approvals::EXPIRED)
            } else {
                (by.clone(), reason)
            };
            approvals::sqlite::decide(tx, &mut row, state, why, &actor, now_ms)?;
            let event = AdminEvent::new(now_ms, &actor, approvals::decided(&row, state, why));
            let decided = if expired {
                Decided::Expired(row)
            } else {
                Decided::Done(row)
            };
            Ok((decided, vec![event]))
        })?;
        Ok(decided)
    }
    fn approvals_expire(&self, now_ms: i64) -> Result<Vec<ApprovalRow>, StorageError> {
        // Read first, without the log's lock: every node sweeps each second, and almost always
        // finds nothing to expire.
        if self
            .registry
            .with_conn(|conn| approvals::sqlite::expired(conn, now_ms))?
            .is_empty()
        {
            return Ok(Vec::new());
        }
        let (rows, _) = self.log.change(|tx| {
            let mut rows = approvals::sqlite::expired(tx, now_ms)?;
            let mut events = Vec::new();
            for row in &mut rows {
                let state = ApprovalState::Expired;
                approvals::sqlite::decide(
                    tx,
                    row,
                    state,
                    approvals::EXPIRED,
                    &Actor::server(),
                    now_ms,
                )?;
                events.push(AdminEvent::new(
                    now_ms,
                    &Actor::server(),
                    approvals::decided(row, state, approvals::EXPIRED),
                ));
            }
            Ok((rows, events))
        })?;
        Ok(rows)
    }
    fn approvals_prune(&self, before_ms: i64) -> Result<u64, StorageError> {
        self.registry
            .with_conn(|conn| approvals::sqlite::prune(conn, before_ms))
    }
    fn decisions(&self) -> Result<Option<InForce>, StorageError> {
        self.registry.with_conn(crate::decisions::in_force)
    }
    fn decisions_by_hash(&self, hash: &str) -> Result<Option<InForce>, StorageError> {
        self.registry
            .with_conn(|conn| crate::decisions::by_hash(conn, hash))
    }
    fn set_decisions(
        &self,
        next: Option<&DecisionBundle>,
        by: &Actor,
    ) -> Result<bool, StorageError> {
        let at_ms = now_ms();
        self.change_with(at_ms, by, |tx| {
            let action = crate::decisions::set(tx, next, at_ms)?;
            Ok((action.is_some(), action))
        })
    }
    fn record_event(&self, event: AdminEvent) -> Result<Event, StorageError> {
        self.log.record(event)
    }

    fn append_prepared(&self, batch: &[Prepared]) -> Result<Appended, StorageError> {
        self.log.append_prepared(batch)
    }
    fn set_sealer(&self, sealer: Arc<dyn Sealer>) {
        self.log.set_sealer(sealer);
    }
    fn seals(&self, after_seq: i64, through_seq: i64) -> Result<Vec<StoredSeal>, StorageError> {
        self.log.seals(after_seq, through_seq)
    }
    fn seal_covering(&self, seq: i64) -> Result<Option<StoredSeal>, StorageError> {
        self.log.seal_covering(seq)
    }
    fn first_sealed(&self) -> Result<Option<i64>, StorageError> {
        Ok(lock(&self.log.reader)
            .query_row("SELECT MIN(first_seq) FROM seals", [], |r| r.get(0))?)
    }
    fn log_claim(&self) -> Result<Option<String>, StorageError> {
        self.log.log_claim()
    }
    fn claim_log_key(&self, key_id: &str, sign: &ClaimSigner<'_>) -> Result<String, StorageError> {
        self.log.claim_log_key(key_id, sign)
    }
    fn execution(&self, id: &str) -> Result<Option<ExecutionRecord>, StorageError> {
        self.log.get(id)
    }
    fn execution_at(&self, seq: i64) -> Result<Option<ExecutionRecord>, StorageError> {
        self.log.get_seq(seq)
    }
    fn executions(
        &self,
        filter: &Filter,
    ) -> Result<(Vec<ExecutionRecord>, Option<i64>), StorageError> {
        self.log.list(filter)
    }
    fn events(&self, filter: &EventFilter) -> Result<(Vec<Event>, Option<i64>), StorageError> {
        self.log.events(filter)
    }
    fn head(&self) -> Result<(i64, String), StorageError> {
        self.log.head()
    }
    fn log_id(&self) -> Result<String, StorageError> {
        self.log.log_id()
    }
    fn verify_log(&self, claims: &[Claim]) -> Result<ChainReport, StorageError> {
        self.log.verify(claims)
    }
    fn prune_before(&self, cutoff_ms: i64) -> Result<u64, StorageError> {
        self.log.prune_before(cutoff_ms)
    }
    fn put_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StorageError> {
        self.log.put_checkpoint(checkpoint)
    }
    fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StorageError> {
        self.log.latest_checkpoint()
    }
    fn checkpoint_covering(&self, seq: i64) -> Result<Option<StoredCheckpoint>, StorageError> {
        self.log.checkpoint_covering(seq)
    }
    fn anchor_checkpoint(&self) -> Result<Option<String>, StorageError> {
        self.log.anchor_checkpoint()
    }

    fn keys(&self) -> Result<Vec<ApiKey>, StorageError> {
        self.keys.list()
    }
    fn key_table(&self) -> Result<KeyTable, StorageError> {
        self.keys.table()
    }
    fn touch_keys(&self, used: &[(String, i64)]) -> Result<(), StorageError> {
        self.keys.touch(used)
    }

    fn quota_acquire(&self, request: &QuotaRequest<'_>) -> Result<QuotaDecision, StorageError> {
        self.quotas.acquire(request)
    }
    fn quota_finish(
        &self,
        caller: &str,
        day: i64,
        scopes: &[String],
        fuel: u64,
        lease: Option<&str>,
    ) -> Result<(), StorageError> {
        self.quotas.finish(caller, day, scopes, fuel, lease)
    }
    fn quota_use(
        &self,
        caller: &str,
        day: i64,
        now_ms: i64,
    ) -> Result<Vec<QuotaUse>, StorageError> {
        self.quotas.usage(caller, day, now_ms)
    }
    fn quota_prune(&self, before_day: i64, now_ms: i64) -> Result<u64, StorageError> {
        self.quotas.prune(before_day, now_ms)
    }
    fn task_start(&self, task: &NewTask<'_>) -> Result<(), StorageError> {
        self.tasks.start(task)
    }
    fn tasks_start(&self, tasks: &[NewTask<'_>]) -> Result<(), StorageError> {
        self.tasks.start_many(tasks)
    }
    fn tasks_finish(&self, ends: &[TaskEnd<'_>]) -> Result<Vec<bool>, StorageError> {
        self.tasks.finish_many(ends)
    }
    fn task_touch(
        &self,
        id: &str,
        progress: Option<&str>,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Option<String>, StorageError> {
        self.tasks.touch(id, progress, now_ms, lease_until_ms)
    }
    fn task_finish(
        &self,
        id: &str,
        outcome: &str,
        result: &str,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<bool, StorageError> {
        self.tasks
            .finish(id, outcome, result, now_ms, expires_at_ms)
    }
    fn task(&self, id: &str) -> Result<Option<TaskRow>, StorageError> {
        self.tasks.get(id)
    }
    fn task_cancel(
        &self,
        id: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<Option<TaskRow>, StorageError> {
        self.tasks.cancel(id, by, now_ms)
    }
    fn task_answer(
        &self,
        id: &str,
        responses: &serde_json::Map<String, serde_json::Value>,
        now_ms: i64,
    ) -> Result<Option<crate::Waiting>, StorageError> {
        self.tasks.answer(id, responses, now_ms)
    }
    fn task_proceed(&self, id: &str, next: &str, now_ms: i64) -> Result<bool, StorageError> {
        self.tasks.proceed(id, next, now_ms)
    }
    fn tasks_abandoned(
        &self,
        now_ms: i64,
        node: Option<&str>,
    ) -> Result<Vec<Abandoned>, StorageError> {
        self.tasks.abandoned(now_ms, node)
    }
    fn tasks_prune(&self, now_ms: i64) -> Result<u64, StorageError> {
        self.tasks.prune(now_ms)
    }
    fn node_beat(&self, name: &str, beat: &str, now_ms: i64) -> Result<(), StorageError> {
        self.nodes.beat(name, beat, now_ms)
    }
    fn nodes(&self) -> Result<Vec<NodeRow>, StorageError> {
        self.nodes.list()
    }
}

#[cfg(test)]
#[path = "backend_tests.rs"]
mod tests;
