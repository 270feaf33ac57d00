//! The server's shared state: storage, the sandbox, the trust store, and the live registry of
//! admitted tools (compiled and ready, keyed by name, versions in publication order).

use crate::admission::{Admitted, SignatureCheck, admit};
use crate::secrets::SecretStore;
use crate::server::error::ApiError;
use axum::http::StatusCode;
use cordon_core::{Grants, Limits, Policy};
use cordon_sandbox::{Sandbox, Tool};
use cordon_storage::{Storage, ToolRecord};
use cordon_trust::TrustStore;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::Semaphore;

/// Settings the server runs with (see `docs/configuration.md`).
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// The audit log's signing key (made there at the first start when the log is new).
    pub log_key: PathBuf,
    /// Directory of `<tool>.toml` policies applied at publish time and on reload.
    pub policies_dir: Option<PathBuf>,
    /// Executions allowed to run at once; more get 503.
    pub max_in_flight: usize,
    /// Largest component upload, in bytes.
    pub max_upload_bytes: usize,
    /// Largest invoke body, in bytes.
    pub max_invoke_bytes: usize,
    /// Store raw inputs in the execution log (off: only size and sha256).
    pub store_inputs: bool,
    /// Time a client has to send its headers, and each part of a body.
    pub client_timeout: std::time::Duration,
    /// Host names (besides loopback names and IP literals) MCP requests may be addressed to.
    pub allowed_hosts: Vec<String>,
    /// Origins (besides the server's own) MCP requests may come from.
    pub allowed_origins: Vec<String>,
    /// Who may read `/metrics`.
    pub metrics_access: MetricsAccess,
    /// Proxies whose `X-Forwarded-For` names the client (see `client_ip.rs`); none by default.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Where checkpoints are copied, and how often they are made.
    pub audit: crate::server::audit::AuditSettings,
    /// Identity providers, and what this server tells OAuth clients about itself.
    pub auth: crate::server::resource::AuthSettings,
    /// Quotas per caller, server-wide.
    pub quotas: crate::server::quotas::QuotaSettings,
}

/// Who may read `GET /metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum MetricsAccess {
    /// An API key whose role may read metrics (admin, auditor). The default: tool names and
    /// call volumes are an inventory an outsider should not get.
    #[default]
    Key,
    /// Anyone who can reach the listener (for a scraper that carries no key, with the listener
    /// on loopback or behind a network boundary).
    Open,
}

/// A tool version ready to invoke.
pub struct LiveTool {
    pub record: ToolRecord,
    pub tool: Tool,
    pub policy: Policy,
    pub limits: Limits,
    /// Compiled from the tool's input schema; inputs are checked before anything runs.
    pub validator: Option<jsonschema::Validator>,
}

impl std::fmt::Debug for LiveTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveTool")
            .field("name", &self.record.name)
            .field("version", &self.record.version)
            .finish_non_exhaustive()
    }
}

pub struct AppState {
    pub settings: ServerSettings,
    pub sandbox: Arc<Sandbox>,
    /// Tools, keys and the execution log (the embedded backend by default).
    pub storage: Arc<dyn Storage>,
    /// API keys in memory (reloaded every second): authentication reads no database.
    pub keys: crate::server::keycache::KeyCache,
    /// Appends to the execution log with group commit.
    pub journal: crate::server::journal::Journal,
    /// The log key and signed checkpoints.
    pub audit: Arc<crate::server::audit::AuditLog>,
    pub trust: TrustStore,
    pub secrets: Option<SecretStore>,
    /// name → versions in publication order (newest last).
    pub tools: RwLock<BTreeMap<String, Vec<Arc<LiveTool>>>>,
    /// Quarantined tool names and why.
    pub quarantined: RwLock<BTreeMap<String, String>>,
    pub in_flight: Arc<Semaphore>,
    pub rate_limits: crate::server::ratelimit::RateLimits,
    /// Held while the live registry is changed with the store (a publish, delete,
    /// quarantine, release or policy change here, or a sync from the store), so that the two
    /// never interleave.
    pub registry_lock: tokio::sync::Mutex<()>,
    /// Stored (name, version, policy hash) this node refused to admit, not tried again.
    pub not_admitted: std::sync::Mutex<std::collections::HashSet<(String, String, String)>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl AppState {
    /// Runs `f` on the store off the async workers: a store may block its thread (the
    /// PostgreSQL client does, on a runtime of its own), which an async worker must never do.
    pub async fn db<T, F>(self: &Arc<Self>, f: F) -> Result<T, crate::server::error::ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Storage) -> Result<T, cordon_storage::StorageError> + Send + 'static,
    {
        let s = self.clone();
        tokio::task::spawn_blocking(move || f(&*s.storage))
            .await
            .map_err(crate::server::error::ApiError::internal)?
            .map_err(Into::into)
    }

    /// A server over `storage` with no tool live yet (`load_registry` loads the stored ones).
    /// Starts the journal's writer thread; reads the log key from the data directory (creating
    /// it the first time).
    pub fn new(
        settings: ServerSettings,
        sandbox: Arc<Sandbox>,
        storage: Arc<dyn Storage>,
        trust: TrustStore,
        secrets: Option<SecretStore>,
        rates: crate::server::ratelimit::RateSettings,
    ) -> anyhow::Result<AppState> {
        let max_in_flight = settings.max_in_flight;
        let audit = Arc::new(crate::server::audit::AuditLog::open(
            &settings.log_key,
            &*storage,
            settings.audit.clone(),
        )?);
        Ok(AppState {
            journal: crate::server::journal::Journal::start(storage.clone(), audit.clone())?,
            keys: crate::server::keycache::KeyCache::load(&*storage)?,
            audit,
            settings,
            sandbox,
            storage,
            trust,
            secrets,
            tools: RwLock::default(),
            quarantined: RwLock::default(),
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            rate_limits: crate::server::ratelimit::RateLimits::new(rates),
            registry_lock: tokio::sync::Mutex::default(),
            not_admitted: std::sync::Mutex::default(),
        })
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

    /// The policy text for `name` from the policies directory (empty: the closed default).
    pub fn policy_text(&self, name: &str) -> Result<(String, PathBuf), ApiError> {
        Ok(self
            .policy_file(name)?
            .unwrap_or_else(|| (String::new(), PathBuf::from("(default policy)"))))
    }

    /// `<policies>/<name>.toml` and its text, if the folder has that file.
    pub fn policy_file(&self, name: &str) -> Result<Option<(String, PathBuf)>, ApiError> {
        let Some(dir) = &self.settings.policies_dir else {
            return Ok(None);
        };
        let path = dir.join(format!("{name}.toml"));
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some((text, path))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ApiError::internal(format!("{}: {e}", path.display()))),
        }
    }

    fn parse_policy(&self, text: &str, path: &Path) -> Result<(Policy, Limits), ApiError> {
        let base = self
            .settings
            .policies_dir
            .as_deref()
            .unwrap_or(Path::new("."));
        let invalid = |e: cordon_core::PolicyError| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_policy",
                e.to_string(),
            )
        };
        let policy = Policy::parse(text, path, base).map_err(invalid)?;
        // A mount this confined process did not keep at start cannot be opened by it.
        for m in &policy.mounts {
            if !crate::confine::allows(&m.host, m.writable) {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_policy",
                    format!(
                        "{}: the mount {} ({}) is outside what this server kept when it confined itself at start; restart cordon serve to apply this policy (it keeps the mounts of every policy it finds at start), or run it with --no-confine",
                        path.display(),
                        m.host.display(),
                        if m.writable {
                            "read-write"
                        } else {
                            "read-only"
                        }
                    ),
                ));
            }
        }
        // Every secret it names must be there now, not discovered missing at the first call.
        for name in policy.secret_names() {
            let known = match &self.secrets {
                None => {
                    return Err(ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_policy",
                        format!(
                            "{}: the policy uses secret {name}, and this server has no secret store (start it with CORDON_SECRET_KEY set, and add the secret with `cordon secret set {name}`)",
                            path.display()
                        ),
                    ));
                }
                Some(store) => store.get(name).map_err(ApiError::internal)?.is_some(),
            };
            if !known {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_policy",
                    format!(
                        "{}: secret {name} is not in the secret store; add it with `cordon secret set {name} --data DIR`",
                        path.display()
                    ),
                ));
            }
        }
        let limits = policy
            .effective_limits(&Limits::default(), self.sandbox.caps(), path)
            .map_err(invalid)?;
        // The values too: a secret that cannot be a header value is refused now, not at every
        // call.
        if !policy.credentials.is_empty()
            && let Some(store) = &self.secrets
        {
            policy
                .grants(limits.clone(), |name| store.get(name).ok().flatten(), path)
                .map_err(invalid)?;
        }
        Ok((policy, limits))
    }

    /// Verifies, compiles and describes a component under its policy: the one admission path.
    /// `bytes` is the published file (with its signature section).
    pub async fn admit(
        &self,
        bytes: &[u8],
        policy_text: &str,
        policy_path: &Path,
    ) -> Result<(Admitted, Policy, Limits), ApiError> {
        let (policy, limits) = self.parse_policy(policy_text, policy_path)?;
        let check = SignatureCheck::Required {
            store: &self.trust,
            publishers: policy.publishers.as_deref(),
        };
        let admitted = admit(&self.sandbox, bytes, check, &limits)
            .await
            .map_err(|e| match e {
                crate::admission::AdmissionError::Signature(r) => {
                    ApiError::new(StatusCode::FORBIDDEN, r.code(), r.to_string())
                }
                other => ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_component",
                    other.to_string(),
                ),
            })?;
        Ok((admitted, policy, limits))
    }

    pub(crate) fn live_tool(
        &self,
        record: ToolRecord,
        admitted: Admitted,
        policy: Policy,
        limits: Limits,
    ) -> Arc<LiveTool> {
        let validator = crate::input::validator(&record.input_schema)
            .map_err(|e| {
                tracing::warn!(
                    tool = record.name,
                    error = e,
                    "input schema does not compile; inputs are not pre-validated"
                )
            })
            .ok();
        Arc::new(LiveTool {
            record,
            tool: admitted.tool,
            policy,
            limits,
            validator,
        })
    }

    /// Makes an admitted tool invocable.
    pub fn go_live(&self, record: ToolRecord, admitted: Admitted, policy: Policy, limits: Limits) {
        let live = self.live_tool(record, admitted, policy, limits);
        let mut tools = self.tools_write();
        tools
            .entry(live.record.name.clone())
            .or_default()
            .push(live);
    }

    /// Re-reads the policies directory: a tool with a file there whose text changed is put
    /// under it (a tool without one keeps its policy) by [`AppState::apply_policy`] (every version admitted again,
    /// signature and publishers re-checked; stored; in force on every node). Calls already
    /// running keep the version they started with, and its policy. A policy that no longer
    /// parses, or no longer admits a version, leaves the old one in force and is reported.
    /// Returns (versions changed, versions refused).
    pub async fn reload_policies(self: &Arc<Self>, by: &cordon_storage::Actor) -> (usize, usize) {
        let _changing = self.registry_lock.lock().await;
        let live: Vec<(String, usize)> = self
            .tools_read()
            .iter()
            .map(|(name, versions)| (name.clone(), versions.len()))
            .collect();
        let (mut reloaded, mut failed) = (0, 0);
        let total: usize = live.iter().map(|(_, n)| n).sum();
        for (name, versions) in live {
            // A tool without a file keeps the policy it has (set over the API, say).
            let text = match self.policy_file(&name) {
                Ok(Some((text, _))) => text,
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(tool = name, error = e.message, "policy reload: cannot read");
                    failed += versions;
                    continue;
                }
            };
            match self.apply_policy(&name, &text, "reload", by).await {
                Ok(changed) => reloaded += changed,
                Err(e) => {
                    tracing::error!(
                        tool = name,
                        code = e.code,
                        error = e.message,
                        "policy reload refused; the previous policy stays in force"
                    );
                    failed += versions;
                }
            }
        }
        // The reload itself is an event (who asked, what it did); each change it made is a
        // `policy.set` event before it.
        let summary = cordon_storage::AdminEvent::new(
            now_ms(),
            by,
            cordon_storage::AdminAction::PolicyReload {
                changed: reloaded as u64,
                failed: failed as u64,
                unchanged: total.saturating_sub(reloaded + failed) as u64,
            },
        );
        if let Err(e) = self.db(move |s| s.record_event(summary)).await {
            tracing::error!(target: "cordon::security", error = e.message, "cannot record the policy reload");
        }
        (reloaded, failed)
    }

    /// Loads every published tool at start: blobs verified and compiled again (from the cache).
    /// Returns how many versions are live.
    pub async fn load_registry(self: &Arc<Self>) -> Result<usize, ApiError> {
        Ok(self.sync_registry().await?.live)
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
