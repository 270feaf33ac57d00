//! `cordon serve`: the long-running server on its embedded storage in the data directory.

use super::secret::DataArgs;
use crate::secrets::{KEY_VAR, SecretStore};
use crate::server::ratelimit::{RateLimits, RateSettings};
use crate::server::state::{AppState, ServerSettings};
use anyhow::Context;
use axum::serve::ListenerExt;
use clap::Args;
use cordon_sandbox::{Sandbox, SandboxConfig};
use cordon_storage::{ExecutionLog, KeyStore, Registry};
use cordon_trust::TrustStore;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, RwLock};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (loopback by default).
    #[arg(long, env = "CORDON_LISTEN", default_value = "127.0.0.1:7878")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub data: DataArgs,
    /// Directory of `<tool>.toml` policies (default: none, every tool gets the closed default).
    #[arg(long, env = "CORDON_POLICIES")]
    pub policies: Option<PathBuf>,
    /// Trust store (default: <data>/trust.toml).
    #[arg(long, env = "CORDON_TRUST")]
    pub trust: Option<PathBuf>,
    /// Executions in flight at once; more get 503.
    #[arg(long, default_value_t = 1000)]
    pub max_in_flight: usize,
    /// Largest component upload in bytes (default 64 MiB: interpreted-language components are
    /// 12-20 MB).
    #[arg(long, default_value_t = 64 << 20)]
    pub max_upload_bytes: usize,
    /// Largest invoke body in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_invoke_bytes: usize,
    /// Keep raw inputs in the execution log (default: only their size and sha256).
    #[arg(long)]
    pub store_inputs: bool,
    /// Requests per second per API key (burst twice that).
    #[arg(long, default_value_t = RateSettings::default().per_key_per_sec)]
    pub rate_per_key: u32,
    /// Requests per second per source address (burst twice that).
    #[arg(long, default_value_t = RateSettings::default().per_ip_per_sec)]
    pub rate_per_ip: u32,
    /// Failed authentications per minute per source address before it is refused.
    #[arg(long, default_value_t = RateSettings::default().auth_failures_per_min)]
    pub auth_failures_per_minute: u32,
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let data = args.data.dir()?;
    std::fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
    let trust_path = args
        .trust
        .clone()
        .unwrap_or_else(|| data.join("trust.toml"));
    let trust = if trust_path.exists() {
        TrustStore::load(&trust_path)?
    } else {
        tracing::warn!(path = %trust_path.display(), "no trust store: no tool can be published");
        TrustStore::default()
    };
    let secrets = match std::env::var_os(KEY_VAR) {
        Some(_) => Some(SecretStore::open(&data)?),
        None => None,
    };
    let sandbox = Arc::new(Sandbox::new(SandboxConfig {
        cache_dir: Some(data.join("compiled")),
        ..SandboxConfig::default()
    })?);
    let state = Arc::new(AppState {
        settings: ServerSettings {
            data_dir: data.clone(),
            policies_dir: args.policies.clone(),
            max_in_flight: args.max_in_flight,
            max_upload_bytes: args.max_upload_bytes,
            max_invoke_bytes: args.max_invoke_bytes,
            store_inputs: args.store_inputs,
        },
        sandbox,
        registry: Registry::open(&data)?,
        keys: KeyStore::open(&data)?,
        log: ExecutionLog::open(&data.join("cordon.db"))?,
        trust,
        secrets,
        tools: RwLock::default(),
        quarantined: RwLock::default(),
        in_flight: Arc::new(tokio::sync::Semaphore::new(args.max_in_flight)),
        rate_limits: RateLimits::new(RateSettings {
            per_key_per_sec: args.rate_per_key,
            per_ip_per_sec: args.rate_per_ip,
            auth_failures_per_min: args.auth_failures_per_minute,
        }),
    });
    let pruning = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            pruning.rate_limits.prune();
        }
    });

    crate::server::metrics::install();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    let started = std::time::Instant::now();
    let loaded = state
        .load_registry()
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    crate::server::READY.store(true, std::sync::atomic::Ordering::Release);
    tracing::info!(
        tools = loaded,
        ms = started.elapsed().as_millis() as u64,
        "tools loaded"
    );
    println!("cordon listening on http://{address} ({loaded} tool versions loaded)");

    // Small responses on a reused connection must not wait for delayed ACKs.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let app = crate::server::app(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
}
