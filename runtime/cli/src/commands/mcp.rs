//! `cordon mcp --stdio --server URL`: a bridge for desktop MCP clients that only speak stdio. It
//! serves MCP on stdin/stdout and forwards `tools/list` and `tools/call` to the server's `/mcp`
//! endpoint with the API key from `CORDON_API_KEY`, so every call is authenticated, checked,
//! run and recorded by the server exactly as if the client had connected to it directly.
//! stdout carries only the protocol; diagnostics go to stderr.

use super::client::{API_KEY_VAR, ServerArgs};
use anyhow::Context;
use clap::Args;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult,
    PaginatedRequestParams, ResultType, ServerCapabilities, ServerConfig,
};
use rmcp::service::{RequestContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ErrorData as McpError, RoleClient, RoleServer, ServerHandler, ServiceExt};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct McpArgs {
    /// Serve MCP on stdin/stdout (the only transport of this command).
    #[arg(long, required = true)]
    pub stdio: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

pub async fn mcp(args: McpArgs) -> anyhow::Result<ExitCode> {
    let key = std::env::var(API_KEY_VAR)
        .ok()
        .filter(|k| !k.is_empty())
        .with_context(|| format!("set {API_KEY_VAR} to an API key of the server"))?;
    // reqwest (inside rmcp's client) needs a TLS provider even for http:// URLs.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let base = args.server.server.trim_end_matches('/');
    preflight(base, &key)?;
    let url = format!("{base}/mcp");
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.clone()).auth_header(key),
    );
    let upstream = ()
        .serve(transport)
        .await
        .with_context(|| format!("cannot open an MCP session with {url}"))?;
    let server_info = upstream
        .peer_info()
        .and_then(|info| info.server_info.clone())
        .unwrap_or_else(|| Implementation::new("cordon", env!("CARGO_PKG_VERSION")));
    tracing::info!(%url, "stdio bridge connected");
    let bridge = Bridge {
        upstream: Arc::new(upstream),
        server_info,
    };
    let running = bridge
        .serve(rmcp::transport::stdio())
        .await
        .context("the stdio client did not complete the MCP handshake")?;
    running.waiting().await?;
    Ok(ExitCode::SUCCESS)
}

/// Checks the server and the key before the MCP session, so a wrong URL or a bad key is one
/// clear line rather than an MCP transport error.
fn preflight(base: &str, key: &str) -> anyhow::Result<()> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into();
    let response = agent
        .get(format!("{base}/v1/tools"))
        .header("authorization", format!("Bearer {key}"))
        .call()
        .map_err(|e| anyhow::anyhow!("cannot reach the cordon server at {base} ({e}); is it running, and is --server right?"))?;
    match response.status().as_u16() {
        200..=299 => Ok(()),
        401 => anyhow::bail!(
            "the server at {base} does not accept the API key in {API_KEY_VAR} (unknown or revoked); create one with `cordon keys create`"
        ),
        403 => anyhow::bail!(
            "the API key in {API_KEY_VAR} may not list tools; use a key with the invoker or admin role"
        ),
        429 => {
            anyhow::bail!("the server at {base} is rate limiting this key or address; retry later")
        }
        status => anyhow::bail!("the server at {base} answered {status} to a tool listing"),
    }
}

/// Serves stdio, forwards to the server.
struct Bridge {
    upstream: Arc<RunningService<RoleClient, ()>>,
    server_info: Implementation,
}

fn upstream_error(e: rmcp::ServiceError) -> McpError {
    match e {
        rmcp::ServiceError::McpError(e) => e,
        other => McpError::internal_error(format!("cordon server: {other}"), None),
    }
}

impl ServerHandler for Bridge {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(self.server_info.clone())
    }

    async fn list_tools(
        &self,
        page: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let page = page.map(|p| PaginatedRequestParams::default().with_cursor(p.cursor));
        let upstream = self
            .upstream
            .list_tools(page)
            .await
            .map_err(upstream_error)?;
        // Rebuilt rather than passed through: the two sides may speak different protocol
        // revisions, and the result's revision-specific fields are this side's to set.
        let mut listed = ListToolsResult::with_all_items(upstream.tools);
        listed.next_cursor = upstream.next_cursor;
        Ok(listed)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let mut forwarded = CallToolRequestParams::new(request.name);
        if let Some(arguments) = request.arguments {
            forwarded = forwarded.with_arguments(arguments);
        }
        // Not cancelled with the client's request: the server runs the call to its deadline and
        // records it either way.
        match self.upstream.call_tool_once(forwarded).await {
            Ok(CallToolResponse::Complete(mut result)) => {
                result.result_type = Some(ResultType::COMPLETE);
                Ok(result.into())
            }
            Ok(other) => Ok(other),
            Err(e) => Err(upstream_error(e)),
        }
    }
}
