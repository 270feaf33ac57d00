//! One module per `cordon` subcommand, plus what they share.

pub mod inspect;
pub mod run;

use anyhow::Context;
use clap::Args;
use cordon_core::{Limits, Policy};
use cordon_sandbox::{Sandbox, SandboxConfig, Tool};
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
    fn cache_dir(&self) -> Option<PathBuf> {
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

    /// The sandbox, the loaded tool and the limits its policy sets.
    pub fn load(&self, component: &Path) -> anyhow::Result<(Sandbox, Tool, Limits)> {
        let bytes = std::fs::read(component)
            .with_context(|| format!("cannot read {}", component.display()))?;
        let sandbox = Sandbox::new(SandboxConfig {
            cache_dir: self.cache_dir(),
            ..SandboxConfig::default()
        })?;
        let limits = match &self.policy {
            Some(path) => {
                Policy::load(path)?.effective_limits(&Limits::default(), sandbox.caps(), path)?
            }
            None => Limits::default(),
        };
        let tool = sandbox
            .load(&bytes)
            .with_context(|| format!("cannot load {}", component.display()))?;
        Ok((sandbox, tool, limits))
    }
}
