//! One server node's life: [`Node::start`] opens the state, loads every stored tool, records the
//! start and starts the background work (checkpoints, key and issuer refreshes, the store's
//! announcements, housekeeping); [`Node::serve`] answers on the listener until shutdown, then
//! lets running calls finish, records the stop and signs a final checkpoint.

use crate::clock::now_ms;
use crate::error::ServerError;
use crate::settings::ServerSettings;
use crate::state::{AppState, Services};
use cordon_storage::{Actor, AdminAction, AdminEvent};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::TcpListener;

/// A started node, ready to serve.
#[derive(Debug)]
pub struct Node {
    state: Arc<AppState>,
    listener: TcpListener,
    address: SocketAddr,
    loaded: usize,
    /// The certificate served, with HTTPS on.
    tls: Option<Arc<crate::tls::reload::Reloading>>,
    /// The listener's TLS configuration, with HTTPS on.
    tls_config: Option<Arc<rustls::ServerConfig>>,
}

impl Node {
    /// Starts a node that will answer on `listener`: everything up to the first request.
    pub async fn start(
        mut settings: ServerSettings,
        services: Services,
        listener: TcpListener,
    ) -> Result<Node, ServerError> {
        let address = listener.local_addr().map_err(ServerError::Serve)?;
        // A certificate that does not load stops the start before anything else happens.
        let tls = match &settings.tls {
            Some(files) => Some(Arc::new(crate::tls::reload::Reloading::new(files.clone())?)),
            None => None,
        };
        // So does a client CA file that does not load.
        let tls_config = tls
            .clone()
            .map(|r| crate::tls::server_config(r, settings.client_certs.as_ref()))
            .transpose()?;
        if settings.node_name.is_empty() {
            settings.node_name = node_name(address);
        }
        // Reading what the server starts from (the log's identity and newest checkpoint, the key
        // table) blocks; a PostgreSQL client must not run on an async worker.
        let state = tokio::task::spawn_blocking(move || AppState::new(settings, services))
            .await
            .map_err(|e| ServerError::Task(e.to_string()))??;
        let state = Arc::new(state);
        spawn_housekeeping(state.clone());
        // The tasks this node left running before (a kill, a crash) end `interrupted` before it
        // serves, so their callers never wait on them; from then on, those of any node that
        // died.
        crate::calls::tasks::sweep(&state, true).await;
        tracing::info!(node = state.settings.node_name, "node named");
        crate::calls::tasks::spawn_sweeper(state.clone());
        crate::decisions::approvals::spawn_expiry(state.clone());
        crate::metrics::install();
        let started = std::time::Instant::now();
        // Following the store's announcements starts before the load, so nothing changed by
        // another node meanwhile is missed.
        crate::registry::sync::spawn_follower(state.clone())?;
        let loaded = state
            .load_registry()
            .await
            .map_err(|e| ServerError::Registry(e.message))?;
        state.ready.store(true, Ordering::Release);
        tracing::info!(
            tools = loaded,
            ms = started.elapsed().as_millis() as u64,
            "tools loaded"
        );
        record(
            &state,
            AdminAction::ServerStart {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                listen: address.to_string(),
            },
        )
        .await?;
        // A changed link found by the checkpointer is the detection rules' `chain_broken`.
        let weak = Arc::downgrade(&state);
        state.audit.on_tampered(Box::new(move |seq, _why| {
            if let Some(state) = weak.upgrade() {
                state.signal(
                    crate::detect::rules::On::ChainBroken,
                    crate::detect::tally::Signal {
                        execution: Some(format!("seq {seq}")),
                        ..Default::default()
                    },
                );
            }
        }));
        state
            .audit
            .clone()
            .spawn_checkpointer(state.storage.clone());
        let verifier = state.settings.auth.verifier.clone();
        if !verifier.is_empty() {
            // Issuers' keys fetched again now and then, so a key an issuer removed stops
            // working.
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(crate::callers::oidc::REFRESH_EVERY);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let v = verifier.clone();
                    let _ = tokio::task::spawn_blocking(move || v.refresh_all()).await;
                }
            });
        }
        state.keys.clone().spawn_refresher(state.storage.clone());
        crate::beat::spawn(state.clone());
        crate::alerts::deliver::spawn(state.clone());
        crate::detect::flush::spawn(state.clone());
        if let Some(tls) = &tls {
            tls.clone().spawn_watch();
        }
        Ok(Node {
            state,
            listener,
            address,
            loaded,
            tls,
            tls_config,
        })
    }

    /// The address it answers on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// How many tool versions were loaded at start.
    pub fn tools_loaded(&self) -> usize {
        self.loaded
    }

    /// The certificate served, with HTTPS on (for a reload asked by a signal).
    pub fn tls(&self) -> Option<&Arc<crate::tls::reload::Reloading>> {
        self.tls.as_ref()
    }

    /// The scheme clients use: `https` with TLS on, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// The state every handler reads (for a policy reload asked by a signal, say).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Serves until `shutdown` completes; then waits (bounded) for running calls to be recorded,
    /// records the stop and signs a final checkpoint covering it.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let Node {
            state,
            listener,
            tls_config: tls,
            ..
        } = self;
        let app = crate::router::app(state.clone());
        let grace = state.settings.shutdown_grace;
        // The grace runs from the stop signal, not from the start.
        let stopped_at = Arc::new(std::sync::OnceLock::new());
        let mark = stopped_at.clone();
        let shutdown = async move {
            shutdown.await;
            let _ = mark.set(std::time::Instant::now());
        };
        crate::listen::serve(
            listener,
            app,
            tls,
            state.settings.client_timeout,
            grace,
            shutdown,
        )
        .await
        .map_err(ServerError::Serve)?;
        let started = stopped_at
            .get()
            .copied()
            .unwrap_or_else(std::time::Instant::now);
        // Calls still running (asynchronous ones, and any whose connection is gone) each end
        // by their own deadline and are recorded before their permit is returned. Wait for all
        // permits until the grace period is over; then stop what still runs, which is recorded
        // `interrupted` with what it used (and its task answered so), and wait for those
        // records.
        let all = u32::try_from(state.settings.max_in_flight).unwrap_or(u32::MAX);
        let left = grace.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, state.in_flight.acquire_many(all)).await {
            Ok(_) => tracing::info!("every execution finished and recorded; exiting"),
            Err(_) => {
                let running = state.running.len();
                tracing::warn!(
                    running,
                    "executions still running after the grace period: interrupting them"
                );
                state.running.interrupt_all();
                match tokio::time::timeout(
                    Duration::from_secs(10),
                    state.in_flight.acquire_many(all),
                )
                .await
                {
                    Ok(_) => tracing::info!("the interrupted executions are recorded; exiting"),
                    Err(_) => tracing::error!(
                        "executions still not recorded 10 s after they were interrupted; exiting (their tasks are found interrupted at the next start)"
                    ),
                }
            }
        }
        // The stop is the last event, and a final checkpoint covers it.
        record(
            &state,
            AdminAction::ServerStop {
                reason: "signal".into(),
            },
        )
        .await?;
        let s = state.clone();
        let last = tokio::task::spawn_blocking(move || {
            // The last-use times collected since the last reload.
            if let Err(e) = s.keys.refresh(&*s.storage) {
                tracing::error!(error = %e, "cannot record when the API keys were last used");
            }
            let made = s.audit.checkpoint(&*s.storage);
            s.audit.finish_deliveries();
            made
        })
        .await
        .map_err(|e| ServerError::Task(e.to_string()))?;
        match last {
            Ok(_) => tracing::info!(target: "cordon::admin", "final checkpoint signed"),
            Err(e) => {
                tracing::error!(target: "cordon::security", error = %e, "cannot sign the final checkpoint")
            }
        }
        Ok(())
    }
}

/// A node's name by default: the machine's host name and the address it listens on.
fn node_name(address: SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{host}/{address}")
}

/// Records an event of the server itself.
async fn record(state: &Arc<AppState>, action: AdminAction) -> Result<(), ServerError> {
    let s = state.clone();
    tokio::task::spawn_blocking(move || {
        s.storage
            .record_event(AdminEvent::new(now_ms(), &Actor::server(), action))
    })
    .await
    .map_err(|e| ServerError::Task(e.to_string()))??;
    Ok(())
}

/// Once a minute: forgets idle rate-limit entries; at start and then daily, deletes records
/// past the retention; hourly, prunes old quota counters and the leases of calls whose node
/// died.
fn spawn_housekeeping(state: Arc<AppState>) {
    let retention_days = state.settings.retention_days;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        let mut minutes: u64 = 0;
        loop {
            tick.tick().await;
            state.rate_limits.prune();
            if let Some(days) = retention_days.filter(|_| minutes.is_multiple_of(24 * 60)) {
                let cutoff = now_ms() - i64::from(days) * 86_400_000;
                let log = state.clone();
                match tokio::task::spawn_blocking(move || log.storage.prune_before(cutoff)).await {
                    Ok(Ok(n)) => {
                        tracing::info!(target: "cordon::admin", deleted = n, days, "audit log retention: deleted up to the newest checkpoint before the cutoff")
                    }
                    Ok(Err(e)) => tracing::error!(error = %e, "execution log retention failed"),
                    Err(e) => tracing::error!(error = %e, "execution log retention failed"),
                }
            }
            // Only a node with quotas configured writes counters and leases.
            if minutes.is_multiple_of(60) {
                let now = now_ms();
                let today = cordon_core::quota::day_of(now);
                let store = state.clone();
                match tokio::task::spawn_blocking(move || store.storage.quota_prune(today - 1, now))
                    .await
                {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "cannot prune old quota counters"),
                    Err(e) => tracing::warn!(error = %e, "cannot prune old quota counters"),
                }
            }
            minutes += 1;
        }
    });
}
