//! The state one call's `Store` carries: the WASI context (closed by default), the HTTP context
//! with its outbound hook, the resource table, captured stdio and the resource limiter.

use crate::capture::CappedPipe;
use crate::limiter::CallLimiter;
use cordon_core::Limits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

pub(crate) struct HostState {
    /// WASI context built for this call only: no env, no args, no preopens, empty stdin, no
    /// sockets, no name lookups.
    wasi: WasiCtx,
    /// wasi:http state; requests go through `hooks`.
    http: WasiHttpCtx,
    /// Decides every outbound HTTP request.
    hooks: DenyAllHttp,
    /// Resources (streams, pollables, requests) the guest holds during the call.
    table: ResourceTable,
    /// Bounded capture of the guest's stdout.
    pub(crate) stdout: CappedPipe,
    /// Bounded capture of the guest's stderr.
    pub(crate) stderr: CappedPipe,
    /// Memory, table and instance limits, and what they measured.
    pub(crate) limiter: CallLimiter,
}

impl HostState {
    pub(crate) fn new(limits: &Limits) -> Self {
        let stdout = CappedPipe::new(limits.max_log_bytes);
        let stderr = CappedPipe::new(limits.max_log_bytes);
        let mut builder = WasiCtx::builder();
        // Deny by default, stated explicitly rather than relying on the builder's defaults.
        builder
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        HostState {
            wasi: builder.build(),
            http: WasiHttpCtx::new(),
            hooks: DenyAllHttp,
            table: ResourceTable::new(),
            stdout,
            stderr,
            limiter: CallLimiter::new(limits.memory_bytes, limits.table_elements, limits.instances),
        }
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

/// Outbound HTTP hook that refuses every request: the guest gets `HTTP-request-denied`, a
/// normal error it can report, never a crash.
#[derive(Debug)]
struct DenyAllHttp;

impl wasmtime_wasi_http::WasiHttpHooks for DenyAllHttp {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}
