//! [`Storage`]: everything the server keeps, behind one narrow interface. The embedded backend
//! ([`Embedded`], SQLite + blob files in the data directory) is the default; a shared backend
//! (PostgreSQL, so that several stateless nodes use one registry and one log) implements the
//! same trait.
//!
//! The methods are blocking: the server calls the slow ones (append, list, verify, prune) from
//! blocking threads. Each method is one unit of work, so a backend can make it one transaction.

use crate::StorageError;
use crate::keys::{ApiKey, KeyStore, NewKey};
use crate::log::{ChainReport, ExecutionLog, ExecutionRecord, Filter, NewExecution};
use crate::registry::{Quarantine, Registry, ToolRecord};
use cordon_core::Role;
use std::path::Path;

pub trait Storage: Send + Sync + std::fmt::Debug {
    // Components and tools.

    /// Stores a component; returns its name (the sha256 of the bytes).
    fn put_blob(&self, bytes: &[u8]) -> Result<String, StorageError>;
    /// A component stored with [`Storage::put_blob`], checked against its name.
    fn blob(&self, name: &str) -> Result<Vec<u8>, StorageError>;
    fn insert_tool(&self, tool: &ToolRecord) -> Result<(), StorageError>;
    /// Every version of every tool, in publication order.
    fn tools(&self) -> Result<Vec<ToolRecord>, StorageError>;
    /// Replaces the policy of every version of `name`; returns how many versions changed.
    fn set_policy(
        &self,
        name: &str,
        policy: &str,
        policy_hash: &str,
    ) -> Result<usize, StorageError>;
    /// Deletes every version of `name`; returns how many there were.
    fn delete_tool(&self, name: &str) -> Result<usize, StorageError>;
    fn quarantine(&self, name: &str, reason: &str, at_ms: i64) -> Result<(), StorageError>;
    /// Lifts a quarantine; false when there was none.
    fn release(&self, name: &str) -> Result<bool, StorageError>;
    fn quarantined(&self) -> Result<Vec<(String, Quarantine)>, StorageError>;

    // The execution log.

    /// Appends records in order, chained to the newest one; durable when this returns.
    fn append(&self, batch: &[NewExecution]) -> Result<Vec<ExecutionRecord>, StorageError>;
    fn execution(&self, id: &str) -> Result<Option<ExecutionRecord>, StorageError>;
    /// One page, newest first, and the cursor of the next page.
    fn executions(
        &self,
        filter: &Filter,
    ) -> Result<(Vec<ExecutionRecord>, Option<i64>), StorageError>;
    /// Walks the whole chain.
    fn verify_log(&self) -> Result<ChainReport, StorageError>;
    /// Deletes records started before `cutoff_ms`, keeping the chain verifiable.
    fn prune_before(&self, cutoff_ms: i64) -> Result<u64, StorageError>;

    // API keys.

    fn create_key(&self, name: &str, role: Role, now_ms: i64) -> Result<NewKey, StorageError>;
    /// The key a presented secret belongs to, if it is known and not revoked.
    fn authenticate(&self, presented: &str) -> Result<Option<ApiKey>, StorageError>;
    fn keys(&self) -> Result<Vec<ApiKey>, StorageError>;
    fn revoke_key(&self, id_or_name: &str, now_ms: i64) -> Result<bool, StorageError>;
}

/// The embedded default: `cordon.db` (SQLite, WAL) and `blobs/` in one data directory.
#[derive(Debug)]
pub struct Embedded {
    registry: Registry,
    log: ExecutionLog,
    keys: KeyStore,
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
        })
    }
}

impl Storage for Embedded {
    fn put_blob(&self, bytes: &[u8]) -> Result<String, StorageError> {
        self.registry.put_blob(bytes)
    }
    fn blob(&self, name: &str) -> Result<Vec<u8>, StorageError> {
        self.registry.blob(name)
    }
    fn insert_tool(&self, tool: &ToolRecord) -> Result<(), StorageError> {
        self.registry.insert(tool)
    }
    fn tools(&self) -> Result<Vec<ToolRecord>, StorageError> {
        self.registry.all()
    }
    fn set_policy(
        &self,
        name: &str,
        policy: &str,
        policy_hash: &str,
    ) -> Result<usize, StorageError> {
        self.registry.set_policy(name, policy, policy_hash)
    }
    fn delete_tool(&self, name: &str) -> Result<usize, StorageError> {
        self.registry.delete(name)
    }
    fn quarantine(&self, name: &str, reason: &str, at_ms: i64) -> Result<(), StorageError> {
        self.registry.quarantine(name, reason, at_ms)
    }
    fn release(&self, name: &str) -> Result<bool, StorageError> {
        self.registry.release(name)
    }
    fn quarantined(&self) -> Result<Vec<(String, Quarantine)>, StorageError> {
        self.registry.all_quarantined()
    }
    fn append(&self, batch: &[NewExecution]) -> Result<Vec<ExecutionRecord>, StorageError> {
        self.log.append(batch)
    }
    fn execution(&self, id: &str) -> Result<Option<ExecutionRecord>, StorageError> {
        self.log.get(id)
    }
    fn executions(
        &self,
        filter: &Filter,
    ) -> Result<(Vec<ExecutionRecord>, Option<i64>), StorageError> {
        self.log.list(filter)
    }
    fn verify_log(&self) -> Result<ChainReport, StorageError> {
        self.log.verify()
    }
    fn prune_before(&self, cutoff_ms: i64) -> Result<u64, StorageError> {
        self.log.prune_before(cutoff_ms)
    }
    fn create_key(&self, name: &str, role: Role, now_ms: i64) -> Result<NewKey, StorageError> {
        self.keys.create(name, role, now_ms)
    }
    fn authenticate(&self, presented: &str) -> Result<Option<ApiKey>, StorageError> {
        self.keys.authenticate(presented)
    }
    fn keys(&self) -> Result<Vec<ApiKey>, StorageError> {
        self.keys.list()
    }
    fn revoke_key(&self, id_or_name: &str, now_ms: i64) -> Result<bool, StorageError> {
        self.keys.revoke(id_or_name, now_ms)
    }
}
