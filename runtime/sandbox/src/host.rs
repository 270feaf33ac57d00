//! The state one call's `Store` carries: the WASI context (closed by default), the HTTP context
//! with its outbound hook, the resource table, captured stdio and the resource limiter.

use crate::capture::CappedPipe;
use crate::control::CallControl;
use crate::fs_audit::AuditedFsView;
use crate::limiter::CallLimiter;
use crate::log::LogGate;
use crate::outbound::{Outbound, SharedLog};
use crate::progress::ProgressGate;
use crate::resolver::Resolver;
use cordon_core::Grants;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::filesystem::WasiFilesystemCtxView;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

pub(crate) struct HostState {
    /// WASI context built for this call only: no env, no args, no preopens, empty stdin, no
    /// sockets, no name lookups.
    wasi: WasiCtx,
    /// wasi:http state; requests go through `hooks`.
    http: WasiHttpCtx,
    /// Decides every outbound HTTP request under the call's network policy.
    hooks: Outbound,
    /// Requests made and operations denied (network and filesystem), for the usage report.
    pub(crate) net_log: SharedLog,
    /// Resources (streams, pollables, requests) the guest holds during the call.
    table: ResourceTable,
    /// Bounded capture of the guest's stdout.
    pub(crate) stdout: CappedPipe,
    /// Bounded capture of the guest's stderr.
    pub(crate) stderr: CappedPipe,
    /// Memory, table and instance limits, and what they measured.
    pub(crate) limiter: CallLimiter,
    /// Progress reports: counted, rate-limited and passed on.
    pub(crate) progress: ProgressGate,
    /// Log messages (contract 0.2.0): counted, filtered, rate-limited and passed on.
    pub(crate) logs: LogGate,
}

impl HostState {
    /// The state for one call under `grants`. Fails only if a mount cannot be opened.
    pub(crate) fn new(
        grants: &Grants,
        resolver: &Arc<dyn Resolver>,
        tls: &Arc<rustls::ClientConfig>,
        deadline: Instant,
        control: &CallControl,
    ) -> std::io::Result<Self> {
        let limits = &grants.limits;
        let stdout = CappedPipe::new(limits.max_log_bytes);
        let stderr = CappedPipe::new(limits.max_log_bytes);
        let mut builder = WasiCtx::builder();
        // Deny by default, stated explicitly rather than relying on the builder's defaults:
        // raw sockets and name lookups are never allowed (HTTP goes through `Outbound`), no
        // variable is inherited, stdin is empty.
        builder
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        for (name, value) in &grants.env {
            builder.env(name, value);
        }
        for mount in &grants.mounts {
            // Read-only is a capability, not a convention: wasmtime-wasi refuses every mutation
            // through a read-only preopen, and cap-std keeps every path inside its directory.
            let perms = if mount.writable {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            builder
                .preopened_dir(&mount.host, &mount.guest, perms)
                .map_err(|e| std::io::Error::other(format!("mount {}: {e}", mount.guest)))?;
        }
        let net_log = SharedLog::default();
        Ok(HostState {
            wasi: builder.build(),
            http: WasiHttpCtx::new(),
            hooks: Outbound {
                policy: grants.network.clone(),
                resolver: resolver.clone(),
                log: net_log.clone(),
                max_requests: limits.max_http_requests,
                max_response_bytes: limits.max_http_response_bytes,
                deadline,
                credentials: grants.credentials.clone(),
                redact: Arc::new(crate::redact_body::secrets_to_redact(
                    grants
                        .credentials
                        .iter()
                        .flat_map(|c| c.secret_values.iter()),
                )),
                tls: tls.clone(),
            },
            net_log,
            table: ResourceTable::new(),
            stdout,
            stderr,
            limiter: CallLimiter::new(limits.memory_bytes, limits.table_elements, limits.instances),
            progress: ProgressGate::new(limits, grants.secrets.clone(), control.sink().cloned()),
            logs: LogGate::new(limits, grants.secrets.clone(), control.logs().cloned()),
        })
    }
}

impl HostState {
    /// The filesystem view whose refusals are recorded as denials.
    pub(crate) fn audited_fs(&mut self) -> AuditedFsView<'_> {
        AuditedFsView {
            inner: WasiFilesystemCtxView {
                ctx: self.wasi.filesystem(),
                table: &mut self.table,
            },
            log: &self.net_log,
        }
    }
}

impl crate::bindings::v01::cordon::tool::progress::Host for HostState {
    fn report(&mut self, done: u64, total: Option<u64>, message: String) {
        self.progress.report(done, total, message);
    }
}

impl crate::bindings::v02::cordon::tool::progress::Host for HostState {
    fn report(&mut self, done: u64, total: Option<u64>, message: String) {
        self.progress.report(done, total, message);
    }
}

impl crate::bindings::v02::cordon::tool::log::Host for HostState {
    fn write(
        &mut self,
        level: crate::bindings::v02::cordon::tool::log::Level,
        logger: Option<String>,
        data: String,
    ) {
        use crate::bindings::v02::cordon::tool::log::Level;
        use cordon_core::LogLevel;
        let level = match level {
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Notice => LogLevel::Notice,
            Level::Warning => LogLevel::Warning,
            Level::Error => LogLevel::Error,
            Level::Critical => LogLevel::Critical,
            Level::Alert => LogLevel::Alert,
            Level::Emergency => LogLevel::Emergency,
        };
        self.logs.write(level, logger, data);
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}
