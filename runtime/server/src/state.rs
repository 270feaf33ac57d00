//! The server's shared state: storage, the sandbox, the trust store, and the live registry of
//! admitted tools (compiled and ready, keyed by name, versions in publication order).

use crate::callers::keycache::KeyCache;
use crate::callers::ratelimit::RateLimits;
use crate::calls::live::LiveTool;
use crate::error::{ApiError, ServerError};
use crate::record::audit_log::AuditLog;
use crate::record::journal::Journal;
use crate::settings::ServerSettings;
use cordon_core::Grants;
use cordon_sandbox::Sandbox;
use cordon_storage::{SecretStore, Storage};
use cordon_trust::TrustStore;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::Semaphore;

/// What a server is given to run on, besides its settings.
#[derive(Debug)]
pub struct Services {
    /// Tools, keys and the audit log: the embedded store, or PostgreSQL shared by nodes.
    pub storage: Arc<dyn Storage>,
    pub sandbox: Arc<Sandbox>,
    /// Who may publish: the signers whose tools are admitted.
    pub trust: TrustStore,
    /// The secret store, when the server was given its key.
    pub secrets: Option<SecretStore>,
}

/// Why the store did not answer a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreDown {
    /// It answered with an error (the error, for operators: it may name hosts).
    Failed(String),
    /// No answer within a second.
    Silent,
}

impl std::fmt::Display for StoreDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreDown::Failed(e) => f.write_str(e),
            StoreDown::Silent => f.write_str("no answer within a second"),
        }
    }
}

pub struct AppState {
    pub settings: ServerSettings,
    pub sandbox: Arc<Sandbox>,
    /// Tools, keys and the execution log (the embedded backend by default).
    pub storage: Arc<dyn Storage>,
    /// API keys in memory (reloaded every second): authentication reads no database.
    pub keys: Arc<KeyCache>,
    /// Appends to the execution log with group commit.
    pub journal: Journal,
    /// Stores and ends tasks with group commit (`calls/task_writer.rs`).
    pub task_writer: crate::calls::task_writer::TaskWriter,
    /// The log key and signed checkpoints.
    pub audit: Arc<AuditLog>,
    pub trust: TrustStore,
    pub secrets: Option<SecretStore>,
    /// name → versions in publication order (newest last).
    pub tools: RwLock<BTreeMap<String, Vec<Arc<LiveTool>>>>,
    /// Quarantined tool names and why.
    pub quarantined: RwLock<BTreeMap<String, String>>,
    pub in_flight: Arc<Semaphore>,
    /// The decisions bundle in force on this node (`decisions/`), and the lock its changes
    /// take (an apply here and a reload from the store never interleave).
    pub decisions: crate::decisions::current::Holder,
    pub decisions_lock: tokio::sync::Mutex<()>,
    pub rate_limits: RateLimits,
    /// The detection rules' windows on this node (`detect/`).
    pub detector: crate::detect::tally::Detector,
    /// Held while the live registry is changed with the store (a publish, delete,
    /// quarantine, release or policy change here, or a sync from the store), so that the two
    /// never interleave.
    pub registry_lock: tokio::sync::Mutex<()>,
    /// Set once every stored tool has been loaded (`/readyz`).
    pub ready: std::sync::atomic::AtomicBool,
    /// Stored (name, version, policy hash) this node refused to admit, not tried again.
    pub not_admitted: std::sync::Mutex<std::collections::HashSet<(String, String, String)>>,
    /// The calls running on this node (to cancel them, to follow their progress).
    pub running: Arc<crate::calls::running::Running>,
    /// Who made each MCP session of this node (`mcp/sessions.rs`).
    pub mcp_sessions: crate::callers::sessions::Owners,
    /// When this server started (ms since the epoch).
    pub started_at_ms: i64,
    /// The web console's sign-in clients (`ui.rs`).
    pub console: crate::console::clients::Console,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Runs `f` on the store off the async workers (`blocking::on_store`).
    pub async fn db<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Storage) -> Result<T, cordon_storage::StorageError> + Send + 'static,
    {
        crate::blocking::on_store(&self.storage, f).await
    }

    /// A server over `services.storage` with no tool live yet (`load_registry` loads the
    /// stored ones). Starts the journal's writer thread; reads the log key
    /// (creating it the first time the log is signed).
    pub fn new(settings: ServerSettings, services: Services) -> Result<AppState, ServerError> {
        let Services {
            storage,
            sandbox,
            trust,
            secrets,
        } = services;
        let audit = Arc::new(AuditLog::open(
            &settings.log_key,
            &*storage,
            settings.audit.clone(),
        )?);
        // From here on every link this node appends is sealed with the log key.
        storage.set_sealer(audit.clone());
        Ok(AppState {
            journal: Journal::start(storage.clone()).map_err(ServerError::Threads)?,
            task_writer: crate::calls::task_writer::TaskWriter::start(storage.clone())
                .map_err(ServerError::Threads)?,
            keys: Arc::new(KeyCache::load(&*storage)?),
            audit,
            in_flight: Arc::new(Semaphore::new(settings.max_in_flight)),
            rate_limits: RateLimits::new(settings.rates),
            detector: crate::detect::tally::Detector::new(settings.detect_rules.clone()),
            settings,
            sandbox,
            storage,
            trust,
            secrets,
            tools: RwLock::default(),
            quarantined: RwLock::default(),
            registry_lock: tokio::sync::Mutex::default(),
            ready: std::sync::atomic::AtomicBool::new(false),
            not_admitted: std::sync::Mutex::default(),
            running: Arc::default(),
            mcp_sessions: Default::default(),
            decisions: Default::default(),
            decisions_lock: Default::default(),
            started_at_ms: crate::clock::now_ms(),
            console: crate::console::clients::Console::default(),
        })
    }

    /// Whether the store answers now, within a second (`/readyz`, `/v1/status`): never per
    /// request of the API.
    pub async fn store_answers(self: &Arc<Self>) -> Result<(), StoreDown> {
        let s = self.clone();
        let ping = tokio::task::spawn_blocking(move || s.storage.ping());
        match tokio::time::timeout(std::time::Duration::from_secs(1), ping).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(StoreDown::Failed(e.to_string())),
            Ok(Err(_)) => Err(StoreDown::Failed("the check failed".to_owned())),
            Err(_) => Err(StoreDown::Silent),
        }
    }

    /// The live tools, for reading. A poisoned lock still holds consistent data: every writer
    /// replaces whole entries.
    pub fn tools_read(&self) -> RwLockReadGuard<'_, BTreeMap<String, Vec<Arc<LiveTool>>>> {
        self.tools.read().unwrap_or_else(PoisonError::into_inner)
    }
    pub fn tools_write(&self) -> RwLockWriteGuard<'_, BTreeMap<String, Vec<Arc<LiveTool>>>> {
        self.tools.write().unwrap_or_else(PoisonError::into_inner)
    }
    pub fn quarantined_read(&self) -> RwLockReadGuard<'_, BTreeMap<String, String>> {
        self.quarantined
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }
    pub fn quarantined_write(&self) -> RwLockWriteGuard<'_, BTreeMap<String, String>> {
        self.quarantined
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The named version, or the newest.
    pub fn find(&self, name: &str, version: Option<&str>) -> Option<Arc<LiveTool>> {
        let tools = self.tools_read();
        let versions = tools.get(name)?;
        match version {
            Some(v) => versions
                .iter()
                .rev()
                .find(|t| t.record.version == v)
                .cloned(),
            None => versions.last().cloned(),
        }
    }

    pub fn quarantine_reason(&self, name: &str) -> Option<String> {
        self.quarantined_read().get(name).cloned()
    }

    /// What a call of `tool` is granted (secrets looked up now, for this call only).
    pub fn grants(&self, tool: &LiveTool) -> Result<Grants, ApiError> {
        let secrets = &self.secrets;
        tool.policy
            .grants(
                tool.limits.clone(),
                |name| secrets.as_ref().and_then(|s| s.get(name).ok().flatten()),
                Path::new(&tool.record.name),
            )
            .map_err(ApiError::internal)
    }
}
