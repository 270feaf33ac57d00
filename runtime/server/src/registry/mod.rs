//! The live registry's one way in: a component admitted under its policy (signature, then
//! compile, then describe, with the policy's limits checked against the sandbox's caps), made
//! live, and put under a new policy (over the API, or re-read from the policies folder) on every
//! version at once. The readers of the registry are in `state.rs`; following the store is in
//! `sync.rs`.

pub mod oci_pull;
pub mod review;
pub mod sync;

use crate::callers::caller::Caller;
use crate::calls::live::LiveTool;
use crate::clock::{now_ms, sha256_hex};
use crate::decisions::changes::policy_change;
use crate::error::ApiError;
use crate::state::AppState;
use axum::http::StatusCode;
use cordon_core::{Limits, Policy};
use cordon_host::admission::{Admitted, SignatureCheck, admit};
use cordon_storage::{Actor, ToolRecord};
use std::path::{Path, PathBuf};
use std::sync::Arc;

impl AppState {
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
            if !cordon_host::confine::allows(&m.host, m.writable) {
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
                cordon_host::admission::AdmissionError::Signature(r) => {
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
        (tool, info): (cordon_sandbox::Tool, cordon_core::ToolInfo),
        policy: Policy,
        limits: Limits,
    ) -> Arc<LiveTool> {
        let validator = cordon_host::input::validator(&record.input_schema)
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
            tool,
            info,
            policy,
            limits,
            validator,
        })
    }

    /// Makes an admitted tool invocable.
    pub fn go_live(
        &self,
        record: ToolRecord,
        tool: (cordon_sandbox::Tool, cordon_core::ToolInfo),
        policy: Policy,
        limits: Limits,
    ) {
        let live = self.live_tool(record, tool, policy, limits);
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
            match self.apply_policy(&name, &text, "reload", by, None).await {
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

    /// Puts every live version of `name` under the policy `text`: each is admitted again under
    /// it (the signature and the policy's publishers re-checked, its limits checked against
    /// the sandbox's caps), then the change is stored with its event and the versions swapped
    /// in. All or nothing: if any version is refused, nothing changes. Calls already running
    /// keep the policy they started with. Returns how many versions changed (0: they all had
    /// it). The caller holds [`AppState::registry_lock`]. A change asked over the API
    /// (`judge`: its caller) is put to the operator's decisions (`policy_change`) with the
    /// newest version as it would run under the new policy; a reload from the policies folder
    /// is not (`decisions/changes.rs`).
    pub async fn apply_policy(
        self: &Arc<Self>,
        name: &str,
        text: &str,
        source: &'static str,
        by: &Actor,
        judge: Option<&Caller>,
    ) -> Result<usize, ApiError> {
        let versions: Vec<Arc<LiveTool>> = self.tools_read().get(name).cloned().unwrap_or_default();
        if versions.is_empty() {
            return Err(ApiError::not_found(format!(
                "no tool named {name}: publish it first (until a policy is set it runs under the server's policies folder, or the closed default)"
            )));
        }
        let hash = sha256_hex(text.as_bytes());
        if versions.iter().all(|v| v.record.policy_hash == hash) {
            if let (Some(caller), Some(newest)) = (judge, versions.last()) {
                self.decide_change(caller, policy_change(text, newest))
                    .await?;
            }
            // In force here already; the store decides whether it holds it too (another node
            // may have changed it a moment ago): no change and no event when it does.
            let (tool, stored, stored_hash, actor) =
                (name.to_owned(), text.to_owned(), hash.clone(), by.clone());
            return self
                .db(move |s| {
                    s.put_blob(stored.as_bytes())?;
                    s.set_policy(&tool, &stored, &stored_hash, source, &actor)
                })
                .await;
        }
        let path = std::path::PathBuf::from(format!("(policy of {name})"));
        let mut fresh = Vec::with_capacity(versions.len());
        for old in &versions {
            let blob = old.record.blob.clone();
            let bytes = self.db(move |s| s.blob(&blob)).await?;
            let (admitted, policy, limits) = self.admit(&bytes, text, &path).await?;
            let tool = named(&admitted, &old.record)?;
            let mut record = old.record.clone();
            record.policy = text.to_owned();
            record.policy_hash = hash.clone();
            fresh.push(self.live_tool(record, tool, policy, limits));
        }
        if let (Some(caller), Some(newest)) = (judge, fresh.last()) {
            self.decide_change(caller, policy_change(text, newest))
                .await?;
        }
        let (tool, stored, stored_hash, actor) =
            (name.to_owned(), text.to_owned(), hash.clone(), by.clone());
        let changed = self
            .db(move |s| {
                s.put_blob(stored.as_bytes())?;
                s.set_policy(&tool, &stored, &stored_hash, source, &actor)
            })
            .await?;
        for old in &versions {
            tracing::info!(
                target: "cordon::admin",
                tool = name,
                version = old.record.version,
                old_policy = old.record.policy_hash,
                new_policy = hash,
                source,
                by = by.key_id,
                "policy changed: the tool now runs under the new policy"
            );
        }
        self.tools_write().insert(name.to_owned(), fresh);
        Ok(changed)
    }
}

/// The component of `admitted` running the tool `record` is a version of, with what it says of
/// that tool: refused when the component no longer declares it.
pub(crate) fn named(
    admitted: &Admitted,
    record: &ToolRecord,
) -> Result<(cordon_sandbox::Tool, cordon_core::ToolInfo), ApiError> {
    admitted
        .tool_named(&record.name)
        .map(|(tool, info)| (tool, info.clone()))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_component",
                format!(
                    "the component of {} {} no longer declares a tool of that name",
                    record.name, record.version
                ),
            )
        })
}
