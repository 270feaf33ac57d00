//! One module per `cordon` subcommand, plus what they share.

pub mod alerts;
pub mod approvals;
pub mod audit;
pub mod audit_export;
pub mod client;
pub mod decisions;
pub mod inspect;
pub mod keygen;
pub mod keys;
pub mod mcp;
pub mod policy;
pub mod progress;
pub mod push;
pub mod quotas;
pub mod receipt;
pub mod receipt_answer;
pub mod registry_args;
pub mod run;
pub mod secret;
pub mod serve;
pub mod serve_tls;
pub mod sign;
pub mod store;
pub mod suspensions;
pub mod table;
pub mod verify;

use anyhow::Context;
use clap::Args;
use cordon_core::{Grants, Limits, Policy};
use cordon_sandbox::{Sandbox, SandboxConfig};
use std::path::{Path, PathBuf};

/// Options shared by the commands that load a component.
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Policy file for the tool (default: the closed default policy).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Directory of the compiled-component cache (default: $XDG_CACHE_HOME/cordon/compiled).
    #[arg(long, env = "CORDON_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Compile every time; neither read nor write the cache.
    #[arg(long, conflicts_with = "cache_dir")]
    pub no_cache: bool,
}

impl SandboxArgs {
    pub(crate) fn cache_dir(&self) -> Option<PathBuf> {
        if self.no_cache {
            return None;
        }
        self.cache_dir.clone().or_else(|| {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
            Some(base.join("cordon/compiled"))
        })
    }

    /// The process's sandbox.
    pub fn sandbox(&self) -> anyhow::Result<Sandbox> {
        Ok(Sandbox::new(SandboxConfig {
            cache_dir: self.cache_dir(),
            ..SandboxConfig::default()
        })?)
    }

    /// The tool's policy (the closed default without `--policy`).
    pub fn policy(&self) -> anyhow::Result<Policy> {
        Ok(match &self.policy {
            Some(path) => Policy::load(path)?,
            None => Policy::default(),
        })
    }

    /// The limits the policy sets, checked against the sandbox's caps.
    pub fn limits(&self, policy: &Policy, sandbox: &Sandbox) -> anyhow::Result<Limits> {
        Ok(policy.effective_limits(&Limits::default(), sandbox.caps(), self.policy_path())?)
    }

    /// What a call under the policy is granted. The secret store (in `data_dir`) is opened only
    /// when the policy references a secret, in its environment or in a credential.
    pub fn grants(
        &self,
        policy: &Policy,
        limits: Limits,
        data_dir: impl FnOnce() -> anyhow::Result<PathBuf>,
    ) -> anyhow::Result<Grants> {
        // Both `[env]` secrets and `[[network.credentials]]` values draw on the store.
        let store = if !policy.secret_names().is_empty() {
            Some(cordon_storage::secrets::SecretStore::open(&data_dir()?)?)
        } else {
            None
        };
        let mut failure = None;
        let grants = policy.grants(
            limits,
            |name| match store.as_ref().map(|s| s.get(name)) {
                Some(Ok(value)) => value,
                Some(Err(e)) => {
                    failure = Some(e);
                    None
                }
                None => None,
            },
            self.policy_path(),
        );
        if let Some(e) = failure {
            return Err(e.into());
        }
        Ok(grants?)
    }

    fn policy_path(&self) -> &Path {
        self.policy
            .as_deref()
            .unwrap_or(Path::new("(default policy)"))
    }
}

/// Reads a component file.
pub fn read_component(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}
