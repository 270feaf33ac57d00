//! [`Sandbox`]: the engine, the linker with every WASI 0.2 interface, the compiled-component
//! cache, and loading components into ready-to-instantiate [`Tool`]s.

use crate::bindings::{v01, v02};
use crate::cache::{CacheStatus, ComponentCache, digest};
use crate::engine::{EngineSettings, EpochTicker, build_engine, fingerprint};
use crate::error::{LoadError, SandboxError};
use crate::fs_audit::AuditedFs;
use crate::host::HostState;
use crate::resolver::{Resolver, SystemResolver};
use cordon_core::Limits;
use std::path::PathBuf;
use std::sync::Arc;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, wasmparser};

/// How to build a [`Sandbox`].
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub engine: EngineSettings,
    /// Directory of the compiled-component cache; `None` compiles every load.
    pub cache_dir: Option<PathBuf>,
    /// Resolves host names for outbound requests (the system resolver by default).
    pub resolver: Arc<dyn Resolver>,
    /// DER certificates trusted for outbound HTTPS besides the public web's roots (webpki).
    /// Empty by default; the `cordon` command never sets it (tests give it their own CA).
    pub extra_tls_roots: Vec<Vec<u8>>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            engine: EngineSettings::default(),
            cache_dir: None,
            resolver: Arc::new(SystemResolver),
            extra_tls_roots: Vec::new(),
        }
    }
}

/// Runs tool components. One per process: it owns the engine, whose settings every compiled
/// component depends on.
pub struct Sandbox {
    pub(crate) engine: Engine,
    linker: Linker<HostState>,
    cache: Option<ComponentCache>,
    caps: Limits,
    /// Resolves names for outbound requests.
    pub(crate) resolver: Arc<dyn Resolver>,
    /// TLS for outbound requests.
    pub(crate) tls: Arc<rustls::ClientConfig>,
    /// Advances the epoch for deadlines; stops when the sandbox is dropped.
    pub(crate) ticker: EpochTicker,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

/// A component checked against the contract and ready to instantiate, and which of its tools a
/// call runs. Cheap to clone (one per tool of a toolbox); every call still gets its own
/// instance.
#[derive(Clone)]
pub struct Tool {
    /// Hex sha256 of the component bytes.
    digest: String,
    /// Pre-resolved imports and exports: instantiating it does no linking work.
    pre: Pre,
    /// Whether the compiled code came from the cache.
    cache_status: CacheStatus,
    /// Key id of the signature the component was admitted with, if any; reported with every
    /// execution.
    signer: Option<String>,
    /// The tool of the component a call runs (empty until named: for contract 0.1.0, whose
    /// component has one tool, it does not matter).
    name: String,
}

impl std::fmt::Debug for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tool")
            .field("digest", &self.digest)
            .field("cache_status", &self.cache_status)
            .finish_non_exhaustive()
    }
}

impl Tool {
    /// The interfaces the component imports (`wasi:http/outgoing-handler@0.2.6`, ...), sorted:
    /// what a publish-time review compares with what the tool's policy grants.
    pub fn imports(&self) -> Vec<String> {
        let component = match &self.pre {
            Pre::V01(p) => p.instance_pre().component(),
            Pre::V02(p) => p.instance_pre().component(),
        };
        let mut names: Vec<String> = component
            .component_type()
            .imports(component.engine())
            .map(|(name, _)| name.to_owned())
            .collect();
        names.sort();
        names
    }

    pub fn digest(&self) -> &str {
        &self.digest
    }
    pub fn cache_status(&self) -> CacheStatus {
        self.cache_status
    }
    pub fn signer(&self) -> Option<&str> {
        self.signer.as_deref()
    }
    /// Records the key id of the verified signature this tool was admitted with.
    pub fn set_signer(&mut self, key_id: String) {
        self.signer = Some(key_id);
    }
    pub(crate) fn pre(&self) -> &Pre {
        &self.pre
    }
    /// This handle on the component, running its tool `name` (one of those `describe` gave).
    pub fn named(&self, name: &str) -> Tool {
        Tool {
            name: name.to_owned(),
            ..self.clone()
        }
    }
    /// The tool of the component a call runs.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The contract the component implements: `0.1.0` or `0.2.0`.
    pub fn contract(&self) -> &'static str {
        match self.pre {
            Pre::V01(_) => "0.1.0",
            Pre::V02(_) => "0.2.0",
        }
    }
}

/// A component of one contract version, ready to instantiate.
#[derive(Clone)]
pub(crate) enum Pre {
    V01(v01::ToolboxPre<HostState>),
    V02(v02::ToolboxPre<HostState>),
}

impl Sandbox {
    pub fn new(config: SandboxConfig) -> Result<Self, SandboxError> {
        let engine =
            build_engine(&config.engine).map_err(|e| SandboxError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        // Every WASI 0.2 interface is linked so any component built for wasm32-wasip2 loads;
        // what each one may actually do is decided per call by `HostState`.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .and_then(|()| wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker))
            .and_then(|()| {
                // Replace wasi:filesystem/types with the audited view, which records refusals.
                linker.allow_shadowing(true);
                let linked = wasmtime_wasi::p2::bindings::filesystem::types::add_to_linker::<
                    HostState,
                    AuditedFs,
                >(&mut linker, HostState::audited_fs);
                linker.allow_shadowing(false);
                linked
            })
            .and_then(|()| {
                v01::cordon::tool::progress::add_to_linker::<
                    HostState,
                    wasmtime::component::HasSelf<HostState>,
                >(&mut linker, |s| s)
            })
            .and_then(|()| {
                v02::cordon::tool::progress::add_to_linker::<
                    HostState,
                    wasmtime::component::HasSelf<HostState>,
                >(&mut linker, |s| s)
            })
            .and_then(|()| {
                v02::cordon::tool::log::add_to_linker::<
                    HostState,
                    wasmtime::component::HasSelf<HostState>,
                >(&mut linker, |s| s)
            })
            .map_err(|e| SandboxError::Engine(format!("{e:#}")))?;
        let cache = match config.cache_dir {
            Some(dir) => Some(
                ComponentCache::new(dir.clone(), fingerprint(&engine))
                    .map_err(|source| SandboxError::Cache { path: dir, source })?,
            ),
            None => None,
        };
        let tls =
            crate::outbound::tls_config(&config.extra_tls_roots).map_err(SandboxError::Engine)?;
        let ticker = EpochTicker::start(&engine).map_err(SandboxError::Ticker)?;
        Ok(Sandbox {
            engine,
            linker,
            cache,
            caps: config.engine.caps,
            resolver: config.resolver,
            tls,
            ticker,
        })
    }

    /// The most any call's limits may be.
    pub fn caps(&self) -> &Limits {
        &self.caps
    }

    /// Checks, compiles (or loads from the cache) and links a component. CPU-heavy on a cache
    /// miss: call it from a blocking thread in async code.
    pub fn load(&self, bytes: &[u8]) -> Result<Tool, LoadError> {
        if wasmparser::Parser::is_core_wasm(bytes) {
            return Err(LoadError::CoreModule);
        }
        if !wasmparser::Parser::is_component(bytes) {
            return Err(LoadError::NotWasm);
        }
        let digest = digest(bytes);
        let (component, cache_status) = self.compile_cached(&digest, bytes)?;
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::UnsupportedImport(format!("{e:#}")))?;
        // The newest contract first: a component exports one of them.
        let pre = match v02::ToolboxPre::new(instance_pre.clone()) {
            Ok(pre) => Pre::V02(pre),
            Err(newer) => match v01::ToolboxPre::new(instance_pre) {
                Ok(pre) => Pre::V01(pre),
                Err(older) => {
                    return Err(LoadError::MissingExport(format!(
                        "as 0.2.0: {newer:#}; as 0.1.0: {older:#}"
                    )));
                }
            },
        };
        Ok(Tool {
            digest,
            pre,
            cache_status,
            signer: None,
            name: String::new(),
        })
    }

    fn compile_cached(
        &self,
        digest: &str,
        bytes: &[u8],
    ) -> Result<(Component, CacheStatus), LoadError> {
        let compile = || {
            Component::new(&self.engine, bytes).map_err(|e| LoadError::Invalid(format!("{e:#}")))
        };
        let Some(cache) = &self.cache else {
            return Ok((compile()?, CacheStatus::Compiled));
        };
        let status = match cache.read(digest) {
            Ok(Some(artifact)) => {
                // SAFETY: the artifact was produced by `Component::serialize` of this engine
                // configuration (the fingerprint is in the entry's name) and its checksum was
                // verified just now, so these are the bytes wasmtime wrote.
                match unsafe { Component::deserialize(&self.engine, &artifact) } {
                    Ok(component) => return Ok((component, CacheStatus::Hit)),
                    Err(e) => {
                        tracing::warn!(digest, error = %e, "compiled cache entry rejected by wasmtime; rebuilding");
                        CacheStatus::Rebuilt
                    }
                }
            }
            Ok(None) => CacheStatus::Miss,
            Err(reason) => {
                tracing::warn!(digest, reason, "corrupt compiled cache entry; rebuilding");
                CacheStatus::Rebuilt
            }
        };
        cache.remove(digest);
        let component = compile()?;
        match component.serialize() {
            Ok(artifact) => {
                if let Err(e) = cache.write(digest, &artifact) {
                    tracing::warn!(digest, error = %e, "cannot write compiled cache entry");
                }
            }
            Err(e) => tracing::warn!(digest, error = %e, "cannot serialize compiled component"),
        }
        Ok((component, status))
    }
}
