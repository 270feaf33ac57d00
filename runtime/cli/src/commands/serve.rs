//! `cordon serve`: the long-running server on its embedded storage in the data directory.

use super::secret::DataArgs;
use anyhow::Context;
use clap::Args;
use cordon_sandbox::{Sandbox, SandboxConfig};
use cordon_server::callers::ratelimit::RateSettings;
use cordon_server::{AuditSettings, MetricsAccess, Node, ServerSettings, Services};
use cordon_storage::Actor;
use cordon_storage::secrets::{KEY_VAR, SecretStore};
use cordon_trust::TrustStore;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// `cordon serve` options. Each can also come from the environment (`CORDON_*`, shown in
/// `--help`) or the config file; a flag beats the environment, which beats the file.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// TOML config file with the same keys as these options (see docs/configuration.md).
    #[arg(long, env = "CORDON_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:7878, loopback only].
    #[arg(long, env = "CORDON_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Serve HTTPS (and HTTP/2) with this PEM certificate chain, the server's certificate first
    /// (docs/deploy.md); with --tls-key. Renewed without a restart: on SIGHUP, or when the file
    /// changes [default: plain HTTP].
    #[arg(long, env = "CORDON_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, SEC1 or RSA), readable by the server's user
    /// only.
    #[arg(long, env = "CORDON_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Ask HTTPS clients for a certificate that chains to a CA in this PEM file, and verify it;
    /// `[[auth.mtls]]` in the config file says who a certificate is (docs/identity.md)
    /// [default: no client certificates].
    #[arg(long, env = "CORDON_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// With --tls-client-ca: `optional` lets clients without a certificate connect (they need
    /// a key or a token), `required` refuses their handshake [default: optional].
    #[arg(long, env = "CORDON_TLS_CLIENT_AUTH", value_parser = ["optional", "required"])]
    pub tls_client_auth: Option<String>,
    #[command(flatten)]
    pub data: DataArgs,
    /// A shared PostgreSQL store for several nodes: `postgres://user:password@host:port/db`.
    /// Give it in the environment or the config file rather than as a flag, where other users
    /// of the machine can read it [default: the embedded store in the data directory].
    #[arg(long, env = "CORDON_DATABASE", hide_env_values = true)]
    pub database: Option<String>,
    /// Connections this node keeps to the database [default: 8].
    #[arg(long, env = "CORDON_DATABASE_POOL")]
    pub database_pool: Option<u32>,
    /// The audit log's signing key, PKCS#8 PEM [default: <data>/log.key, made at the first
    /// start]. Nodes sharing one database must all hold the same key (docs/deploy.md).
    #[arg(long, env = "CORDON_LOG_KEY")]
    pub log_key: Option<PathBuf>,
    /// Directory of `<tool>.toml` policies [default: none, every tool gets the closed default].
    #[arg(long, env = "CORDON_POLICIES")]
    pub policies: Option<PathBuf>,
    /// Trust store [default: <data>/trust.toml].
    #[arg(long, env = "CORDON_TRUST")]
    pub trust: Option<PathBuf>,
    /// Executions in flight at once; more get 503 [default: 1000].
    #[arg(long, env = "CORDON_MAX_IN_FLIGHT")]
    pub max_in_flight: Option<usize>,
    /// Largest component upload in bytes [default: 64 MiB].
    #[arg(long, env = "CORDON_MAX_UPLOAD_BYTES")]
    pub max_upload_bytes: Option<usize>,
    /// Largest invoke body in bytes [default: 1 MiB].
    #[arg(long, env = "CORDON_MAX_INVOKE_BYTES")]
    pub max_invoke_bytes: Option<usize>,
    /// Keep raw inputs in the execution log [default: false, only size and sha256].
    #[arg(long, env = "CORDON_STORE_INPUTS")]
    pub store_inputs: Option<bool>,
    /// Requests per second per API key, burst twice that [default: 200].
    #[arg(long, env = "CORDON_RATE_PER_KEY")]
    pub rate_per_key: Option<u32>,
    /// Requests per second per source address, burst twice that [default: 400].
    #[arg(long, env = "CORDON_RATE_PER_IP")]
    pub rate_per_ip: Option<u32>,
    /// Failed authentications per minute: per key id that exists (beyond it, wrong secrets for it
    /// get 429) and per address (beyond it, its failures are answered a second late) [default:
    /// 10]. A credential that verifies always passes.
    #[arg(long, env = "CORDON_AUTH_FAILURES_PER_MINUTE")]
    pub auth_failures_per_minute: Option<u32>,
    /// Delete execution records older than this many days, at start and daily; the chain stays
    /// verifiable [default: keep everything].
    #[arg(long, env = "CORDON_RETENTION_DAYS")]
    pub retention_days: Option<u32>,
    /// Seconds a client has to send a request's headers and each part of its body (the whole
    /// body: ten times this); idle keep-alive connections close after this long too
    /// [default: 30].
    #[arg(long, env = "CORDON_CLIENT_TIMEOUT_SECS")]
    pub client_timeout_secs: Option<u64>,
    /// Seconds the answer of a call started asynchronously (`Prefer: respond-async`) is kept
    /// for its caller [default: 3600].
    #[arg(long, env = "CORDON_ASYNC_RESULT_TTL_SECS")]
    pub async_result_ttl_secs: Option<u64>,
    /// Where to tell approvers that a call waits for their approval (docs/decisions.md): a
    /// URL that takes a JSON POST (the held call's id, tool, caller, approvers and expiry;
    /// never its arguments) [default: none].
    #[arg(long, env = "CORDON_APPROVAL_WEBHOOK")]
    pub approval_webhook: Option<String>,
    /// Where your tracing shows a trace, for the console's execution page to link each
    /// execution's trace (docs/observability.md): an http(s) URL with `{trace_id}`, e.g.
    /// `https://jaeger.example/trace/{trace_id}` [default: none].
    #[arg(long, env = "CORDON_TRACE_LINK")]
    pub trace_link: Option<String>,
    /// What a publish does with a component whose description or schemas carry instructions
    /// to a model or hidden characters (docs/detection.md): `refuse` it, or `warn` (publish it
    /// with the findings) [default: refuse].
    #[arg(long, env = "CORDON_PUBLISH_REVIEW")]
    pub publish_review: Option<String>,
    /// Seconds a stop waits for open connections and running calls; calls still running then
    /// are stopped and recorded `interrupted` [default: 65].
    #[arg(long, env = "CORDON_SHUTDOWN_GRACE_SECS")]
    pub shutdown_grace_secs: Option<u64>,
    /// Serve the web console at `/ui` (docs/console.md) [default: true].
    #[arg(long, env = "CORDON_UI")]
    pub ui: Option<bool>,
    /// Wait for each execution record to reach the disk (fsync) before answering
    /// [default: true]. Turning it off trades the last moments of the log on power loss for
    /// throughput; a killed process still loses nothing.
    #[arg(long, env = "CORDON_DURABLE_LOG")]
    pub durable_log: Option<bool>,
    /// Host names, besides loopback names and IP addresses, that MCP requests may be addressed
    /// to (DNS-rebinding protection); comma-separated [default: none].
    #[arg(long, env = "CORDON_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Option<Vec<String>>,
    /// Browser origins, besides the server's own, that may send MCP requests, e.g.
    /// `https://app.example.com`; comma-separated [default: none].
    #[arg(long, env = "CORDON_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Option<Vec<String>>,
    /// Load balancers or proxies (addresses or CIDR blocks, comma-separated) whose
    /// `X-Forwarded-For` names the client, for the per-address limits [default: none, the
    /// header is ignored].
    #[arg(long, env = "CORDON_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Option<Vec<String>>,
    /// Who may read `/metrics`: `key` (an admin or auditor API key) or `open` (anyone who can
    /// reach the listener) [default: key].
    #[arg(
        long,
        env = "CORDON_METRICS_ACCESS",
        value_parser = metrics_access()
    )]
    pub metrics_access: Option<MetricsAccess>,
    /// A file each new signed checkpoint of the audit log is appended to (one JSON line), to be
    /// kept where the database's writers cannot rewrite it [default: none].
    #[arg(long, env = "CORDON_CHECKPOINT_FILE")]
    pub checkpoint_file: Option<PathBuf>,
    /// A URL each new signed checkpoint is POSTed to as JSON [default: none].
    #[arg(long, env = "CORDON_CHECKPOINT_WEBHOOK")]
    pub checkpoint_webhook: Option<String>,
    /// Seconds between checkpoints while events arrive, 1 to 10 [default: 10].
    #[arg(long, env = "CORDON_CHECKPOINT_SECS", value_parser = clap::value_parser!(u64).range(1..=10))]
    pub checkpoint_secs: Option<u64>,
    /// Run without confining the process (Landlock, seccomp; docs/security.md). Logged as a
    /// security event; for debugging a kernel that misbehaves under confinement.
    #[arg(long)]
    pub no_confine: bool,
}

/// `--metrics-access key|open`, the values listed in `--help`.
fn metrics_access() -> impl clap::builder::TypedValueParser<Value = MetricsAccess> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(MetricsAccess::NAMES)
        .map(|name| MetricsAccess::parse(&name).unwrap_or_default())
}

/// The config file: the same keys as the flags, all optional.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    listen: Option<SocketAddr>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_client_ca: Option<PathBuf>,
    tls_client_auth: Option<String>,
    data: Option<PathBuf>,
    database: Option<String>,
    database_pool: Option<u32>,
    log_key: Option<PathBuf>,
    policies: Option<PathBuf>,
    trust: Option<PathBuf>,
    max_in_flight: Option<usize>,
    max_upload_bytes: Option<usize>,
    max_invoke_bytes: Option<usize>,
    store_inputs: Option<bool>,
    rate_per_key: Option<u32>,
    rate_per_ip: Option<u32>,
    auth_failures_per_minute: Option<u32>,
    retention_days: Option<u32>,
    client_timeout_secs: Option<u64>,
    async_result_ttl_secs: Option<u64>,
    approval_webhook: Option<String>,
    trace_link: Option<String>,
    publish_review: Option<String>,
    shutdown_grace_secs: Option<u64>,
    durable_log: Option<bool>,
    ui: Option<bool>,
    allowed_hosts: Option<Vec<String>>,
    allowed_origins: Option<Vec<String>>,
    metrics_access: Option<MetricsAccess>,
    trusted_proxies: Option<Vec<String>>,
    checkpoint_file: Option<PathBuf>,
    checkpoint_webhook: Option<String>,
    checkpoint_secs: Option<u64>,
    /// Identity providers and the protected resource (`docs/identity.md`); file only.
    #[serde(default)]
    auth: AuthFile,
    /// Quotas per caller (`docs/identity.md`); file only.
    #[serde(default)]
    quotas: cordon_server::callers::quota::QuotaSettings,
    /// How tools are pulled from OCI registries (`docs/distribution.md`); file only.
    #[serde(default)]
    registries: cordon_server::registry::oci_pull::RegistrySettings,
    /// Where alerts are delivered (`docs/detection.md`); file only.
    #[serde(default)]
    alerts: cordon_server::alerts::settings::AlertSettings,
    /// The detection rules (`docs/detection.md`); file only.
    #[serde(default)]
    detect: cordon_server::detect::rules::DetectSettings,
    /// OpenTelemetry export (`docs/observability.md`); file only (the variables win).
    otel: Option<crate::telemetry::OtelFile>,
}

/// `[auth]` in the config file.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthFile {
    /// The public URL of this server's `/mcp`: its resource identifier (RFC 9728).
    resource: Option<String>,
    /// Scopes a client may ask the identity provider for, as listed in the metadata.
    #[serde(default)]
    scopes_supported: Vec<String>,
    /// Accepted token issuers.
    #[serde(default)]
    oidc: Vec<cordon_server::callers::oidc::IssuerConfig>,
    /// Who a verified client certificate is.
    #[serde(default)]
    mtls: Vec<cordon_server::callers::mtls::MtlsEntry>,
}

/// What only the config file sets.
#[derive(Debug, Default)]
struct FileOnly {
    auth: AuthFile,
    quotas: cordon_server::callers::quota::QuotaSettings,
    registries: cordon_server::registry::oci_pull::RegistrySettings,
    alerts: cordon_server::alerts::settings::AlertSettings,
    detect: cordon_server::detect::rules::DetectSettings,
    otel: Option<crate::telemetry::OtelFile>,
}

/// Whether and where spans and metrics are exported (the variables, then the config file's
/// `[otel]`): read before the server starts, since export is set up around the confinement.
pub fn telemetry_settings(args: &ServeArgs) -> anyhow::Result<Option<crate::telemetry::Settings>> {
    let (_, file_only) = args.clone().merge_config()?;
    crate::telemetry::Settings::resolve(file_only.otel.as_ref())
}

impl ServeArgs {
    /// Fills every option not given as a flag or variable from the config file, and returns
    /// what only the file can set.
    fn merge_config(mut self) -> anyhow::Result<(Self, FileOnly)> {
        let Some(path) = &self.config else {
            return Ok((self, FileOnly::default()));
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let file: ConfigFile = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))?;
        // Relative paths in the file are relative to the file.
        let base = path.parent().unwrap_or(std::path::Path::new("."));
        let rel = |p: Option<PathBuf>| p.map(|p| base.join(p));
        self.listen = self.listen.or(file.listen);
        self.data.dir = self.data.dir.or(rel(file.data));
        self.database = self.database.or(file.database);
        self.database_pool = self.database_pool.or(file.database_pool);
        self.log_key = self.log_key.or(rel(file.log_key));
        self.policies = self.policies.or(rel(file.policies));
        self.trust = self.trust.or(rel(file.trust));
        self.max_in_flight = self.max_in_flight.or(file.max_in_flight);
        self.max_upload_bytes = self.max_upload_bytes.or(file.max_upload_bytes);
        self.max_invoke_bytes = self.max_invoke_bytes.or(file.max_invoke_bytes);
        self.store_inputs = self.store_inputs.or(file.store_inputs);
        self.rate_per_key = self.rate_per_key.or(file.rate_per_key);
        self.rate_per_ip = self.rate_per_ip.or(file.rate_per_ip);
        self.auth_failures_per_minute = self
            .auth_failures_per_minute
            .or(file.auth_failures_per_minute);
        self.retention_days = self.retention_days.or(file.retention_days);
        self.client_timeout_secs = self.client_timeout_secs.or(file.client_timeout_secs);
        self.async_result_ttl_secs = self.async_result_ttl_secs.or(file.async_result_ttl_secs);
        self.approval_webhook = self.approval_webhook.or(file.approval_webhook);
        self.trace_link = self.trace_link.or(file.trace_link);
        self.tls_cert = self.tls_cert.or(rel(file.tls_cert));
        self.tls_key = self.tls_key.or(rel(file.tls_key));
        self.tls_client_ca = self.tls_client_ca.or(rel(file.tls_client_ca));
        self.tls_client_auth = self.tls_client_auth.or(file.tls_client_auth);
        self.publish_review = self.publish_review.or(file.publish_review);
        self.shutdown_grace_secs = self.shutdown_grace_secs.or(file.shutdown_grace_secs);
        self.durable_log = self.durable_log.or(file.durable_log);
        self.ui = self.ui.or(file.ui);
        self.allowed_hosts = self.allowed_hosts.or(file.allowed_hosts);
        self.allowed_origins = self.allowed_origins.or(file.allowed_origins);
        self.metrics_access = self.metrics_access.or(file.metrics_access);
        self.trusted_proxies = self.trusted_proxies.or(file.trusted_proxies);
        self.checkpoint_file = self.checkpoint_file.or(rel(file.checkpoint_file));
        self.checkpoint_webhook = self.checkpoint_webhook.or(file.checkpoint_webhook);
        self.checkpoint_secs = self.checkpoint_secs.or(file.checkpoint_secs);
        if let Some(s) = self.checkpoint_secs
            && !(1..=10).contains(&s)
        {
            anyhow::bail!(
                "{}: checkpoint_secs must be between 1 and 10, not {s}",
                path.display()
            );
        }
        let mut auth = file.auth;
        for issuer in &mut auth.oidc {
            // A JWKS or CA file named relative to the config file.
            if !issuer.jwks.starts_with("https://") && !issuer.jwks.starts_with("http://") {
                issuer.jwks = base.join(&issuer.jwks).to_string_lossy().into_owned();
            }
            issuer.jwks_ca = rel(issuer.jwks_ca.take());
        }
        file.quotas
            .check()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let mut registries = file.registries;
        registries.ca = registries.ca.into_iter().map(|ca| base.join(ca)).collect();
        Ok((
            self,
            FileOnly {
                auth,
                quotas: file.quotas,
                registries,
                alerts: file.alerts,
                detect: file.detect,
                otel: file.otel,
            },
        ))
    }
}

/// What a confined `cordon serve` keeps (docs/security.md): its data directory and the files it
/// writes, read access to its configuration, trust store and policies, and every mount of the
/// policies it will load (the folder's and the store's). Runs before any thread exists.
pub fn confinement_plan(args: &ServeArgs) -> anyhow::Result<cordon_host::confine::Plan> {
    let (args, file_only) = args.clone().merge_config()?;
    let data = args.data.dir()?;
    std::fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
    let mut plan = cordon_host::confine::Plan::new();
    plan.write(&data);
    if let Some(config) = &args.config {
        plan.read(config);
    }
    // The TLS certificate and key: their directories, since a renewal usually puts new files
    // in place of the old ones (a rename, or a symlink moved) and a rule on a file holds for
    // that file only. Keep them in a directory of their own (docs/deploy.md).
    for file in [&args.tls_cert, &args.tls_key, &args.tls_client_ca]
        .into_iter()
        .flatten()
    {
        match file.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(dir) => plan.read(dir),
            None => plan.read(Path::new(".")),
        }
    }
    plan.read(
        args.trust
            .clone()
            .unwrap_or_else(|| data.join("trust.toml")),
    );
    let log_key = args
        .log_key
        .clone()
        .unwrap_or_else(|| data.join(cordon_server::LOG_KEY_FILE));
    if !log_key.exists() && !log_key.starts_with(&data) {
        tracing::warn!(target: "cordon::security", path = %log_key.display(), "the log key does not exist yet: the directory it will be made in stays writable for this run; later starts keep only the file");
    }
    plan.writes_file(&log_key);
    if let Some(file) = &args.checkpoint_file {
        // Made empty now, so that only the file is kept, not the directory it is in.
        if !file.exists() {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(file)
                .with_context(|| format!("cannot create {}", file.display()))?;
        }
        plan.writes_file(file);
    }
    for issuer in &file_only.auth.oidc {
        if !issuer.jwks.starts_with("https://") {
            plan.read(&issuer.jwks);
        }
        if let Some(ca) = &issuer.jwks_ca {
            plan.read(ca);
        }
    }
    for ca in &file_only.registries.ca {
        plan.read(ca);
    }
    if let Some(root) = args
        .database
        .as_deref()
        .and_then(cordon_storage::pg::root_cert_file)
    {
        plan.read(root);
    }
    // Mounts: of the policies in the folder, and of those stored with the tools.
    let base = args.policies.clone().unwrap_or_else(|| PathBuf::from("."));
    let mut texts: Vec<(String, PathBuf)> = Vec::new();
    if let Some(dir) = &args.policies {
        plan.read(dir);
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "toml")
                && let Ok(text) = std::fs::read_to_string(&path)
            {
                texts.push((text, path));
            }
        }
    }
    let stored = match &args.database {
        Some(url) => cordon_storage::Postgres::stored_policies(url)?,
        None => cordon_storage::Storage::tools(&cordon_storage::Embedded::open(&data, true)?)?
            .into_iter()
            .map(|t| t.policy)
            .collect(),
    };
    texts.extend(stored.into_iter().map(|t| (t, PathBuf::from("(stored)"))));
    for (text, path) in texts {
        // A policy that does not load now is refused later too; it keeps nothing.
        if let Ok(policy) = cordon_core::Policy::parse(&text, &path, &base) {
            for m in &policy.mounts {
                plan.mount(&m.host, m.writable);
            }
        }
    }
    Ok(plan)
}

/// Says at start what confinement the process runs under.
pub fn log_confinement() {
    use cordon_host::confine::Status;
    match cordon_host::confine::status() {
        Some(s @ Status::Confined { .. }) => {
            tracing::info!(target: "cordon::security", status = s.describe(), "process confined")
        }
        Some(s @ Status::Unsupported { .. }) => {
            tracing::warn!(target: "cordon::security", status = s.describe(), "the process is NOT confined: the kernel lacks what confinement needs (docs/security.md)")
        }
        Some(Status::Disabled) => {
            tracing::warn!(target: "cordon::security", "confinement turned off with --no-confine: the process runs with every right of its user")
        }
        None => {}
    }
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    log_confinement();
    let (args, file_only) = args.merge_config()?;
    let resource = file_only
        .auth
        .resource
        .as_deref()
        .map(cordon_server::callers::resource::check_resource)
        .transpose()
        .map_err(|e| anyhow::anyhow!(e))?;
    let issuers = file_only.auth.oidc;
    // Fetching the issuers' keys blocks.
    let verifier = Arc::new(
        tokio::task::spawn_blocking(move || cordon_server::callers::oidc::Verifier::new(issuers))
            .await?
            .map_err(|e| anyhow::anyhow!(e))?,
    );
    if !verifier.is_empty() && resource.is_none() {
        tracing::warn!(
            "auth.resource is not set: the protected resource metadata names http://<Host>/mcp; set it to the URL clients use (docs/identity.md)"
        );
    }
    if let Some(resource) = &resource {
        for (issuer, audiences) in verifier.audiences() {
            if !audiences
                .iter()
                .any(|a| a.trim_end_matches('/') == resource)
            {
                tracing::warn!(
                    issuer,
                    resource,
                    "auth.oidc audiences do not name auth.resource: an MCP client that asks this issuer for a token for this server (RFC 8707) gets one that cordon refuses; add the resource to audiences"
                );
            }
        }
    }
    let listen = args
        .listen
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 7878)));
    let max_in_flight = args
        .max_in_flight
        .unwrap_or(ServerSettings::DEFAULT_MAX_IN_FLIGHT);
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
    let mut registries = file_only.registries;
    registries.load_cas().map_err(|e| anyhow::anyhow!(e))?;
    registries
        .check_logins(secrets.as_ref())
        .map_err(|e| anyhow::anyhow!(e))?;
    file_only
        .alerts
        .check(secrets.as_ref())
        .map_err(|e| anyhow::anyhow!(e))?;
    let detect_rules = file_only.detect.rules().map_err(|e| anyhow::anyhow!(e))?;
    let sandbox = Arc::new(Sandbox::new(SandboxConfig {
        cache_dir: Some(data.join("compiled")),
        engine: cordon_sandbox::EngineSettings {
            max_concurrent_calls: ServerSettings::instance_slots(max_in_flight),
            ..cordon_sandbox::EngineSettings::default()
        },
        ..SandboxConfig::default()
    })?);
    let durable_log = args.durable_log.unwrap_or(true);
    if !durable_log {
        tracing::warn!("durable_log is off: a power loss may lose the newest execution records");
    }
    if let Some(url) = &args.database {
        super::store::warn_if_on_command_line(url);
    }
    if let Some(url) = &args.approval_webhook
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        anyhow::bail!("approval_webhook is an http(s) URL that takes a JSON POST, not {url:?}");
    }
    let (tls, client_certs, mtls) = super::serve_tls::resolve(&args, file_only.auth.mtls)?;
    if let Some(link) = &args.trace_link
        && (!(link.starts_with("https://") || link.starts_with("http://"))
            || !link.contains("{trace_id}"))
    {
        anyhow::bail!(
            "trace_link is an http(s) URL with {{trace_id}} where the trace id goes (e.g. https://jaeger.example/trace/{{trace_id}}), not {link:?}"
        );
    }
    let publish_review_refuses = match args.publish_review.as_deref() {
        None | Some("refuse") => true,
        Some("warn") => false,
        Some(other) => {
            anyhow::bail!("publish_review is `refuse` or `warn`, not {other:?}")
        }
    };
    let log_key = args
        .log_key
        .clone()
        .unwrap_or_else(|| data.join(cordon_server::LOG_KEY_FILE));
    let defaults = ServerSettings::new(log_key);
    let rate_defaults = defaults.rates;
    let settings = ServerSettings {
        policies_dir: args.policies.clone(),
        max_in_flight,
        max_upload_bytes: args.max_upload_bytes.unwrap_or(defaults.max_upload_bytes),
        max_invoke_bytes: args.max_invoke_bytes.unwrap_or(defaults.max_invoke_bytes),
        store_inputs: args.store_inputs.unwrap_or(defaults.store_inputs),
        client_timeout: args
            .client_timeout_secs
            .map_or(defaults.client_timeout, std::time::Duration::from_secs),
        allowed_hosts: args.allowed_hosts.clone().unwrap_or_default(),
        allowed_origins: args.allowed_origins.clone().unwrap_or_default(),
        metrics_access: args.metrics_access.unwrap_or(defaults.metrics_access),
        trusted_proxies: cordon_server::callers::client_ip::parse_trusted(
            args.trusted_proxies.as_deref().unwrap_or_default(),
        )
        .map_err(|e| anyhow::anyhow!(e))?,
        audit: AuditSettings {
            checkpoint_file: args.checkpoint_file.clone(),
            checkpoint_webhook: args.checkpoint_webhook.clone(),
            checkpoint_interval: args.checkpoint_secs.map_or(
                defaults.audit.checkpoint_interval,
                std::time::Duration::from_secs,
            ),
        },
        auth: cordon_server::callers::resource::AuthSettings {
            verifier: verifier.clone(),
            resource,
            scopes: file_only.auth.scopes_supported,
            https: args.tls_cert.is_some(),
            mtls,
        },
        quotas: file_only.quotas,
        rates: RateSettings {
            per_key_per_sec: args.rate_per_key.unwrap_or(rate_defaults.per_key_per_sec),
            per_ip_per_sec: args.rate_per_ip.unwrap_or(rate_defaults.per_ip_per_sec),
            auth_failures_per_min: args
                .auth_failures_per_minute
                .unwrap_or(rate_defaults.auth_failures_per_min),
        },
        retention_days: args.retention_days,
        registries,
        async_result_ttl: args
            .async_result_ttl_secs
            .map_or(defaults.async_result_ttl, std::time::Duration::from_secs),
        approval_webhook: args.approval_webhook.clone(),
        trace_link: args.trace_link.clone(),
        tls,
        client_certs,
        publish_review_refuses,
        alerts: file_only.alerts.clone(),
        detect_rules,
        shutdown_grace: args
            .shutdown_grace_secs
            .map_or(defaults.shutdown_grace, std::time::Duration::from_secs),
        ui: args.ui.unwrap_or(defaults.ui),
        confinement_probe: cfg!(debug_assertions)
            && std::env::var_os("CORDON_TEST_CONFINEMENT_PROBE").is_some_and(|v| v == "1"),
        ..defaults
    };
    let state_services = Services {
        storage: {
            // Opening the store blocks (a PostgreSQL client must not run on an async worker).
            let (database, pool) = (args.database.clone(), args.database_pool);
            tokio::task::spawn_blocking(move || {
                super::store::open(&data, database.as_deref(), durable_log, pool)
            })
            .await??
        },
        sandbox,
        trust,
        secrets,
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    // SIGHUP re-reads policies without a restart. Taken over before the start (which may
    // compile every tool for seconds), so a SIGHUP then waits for the start instead of ending
    // the process; one that fails to install stops the start before anything is recorded.
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot handle SIGHUP")?;
    let node = Node::start(settings, state_services, listener).await?;
    #[cfg(unix)]
    {
        let reloading = node.state().clone();
        let certificate = node.tls().cloned();
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let (reloaded, failed) = reloading.reload_policies(&Actor::signal()).await;
                tracing::info!(target: "cordon::admin", reloaded, failed, "SIGHUP: policies re-read ({reloaded} changed and in force, {failed} refused)");
                if let Some(certificate) = &certificate {
                    let tls = certificate.clone();
                    if let Ok(result) = tokio::task::spawn_blocking(move || tls.reload()).await {
                        certificate.report("SIGHUP", &result);
                    }
                }
            }
        });
    }
    if node.state().settings.ui {
        tracing::info!(
            "web console at {}://{}/ui/ (docs/console.md)",
            node.scheme(),
            node.address()
        );
    }
    // One line: whoever reads it (a supervisor, a test) may close the pipe after it.
    println!(
        "cordon listening on {}://{} ({} tool versions loaded; audit log key {})",
        node.scheme(),
        node.address(),
        node.tools_loaded(),
        node.state().audit.key_id
    );
    node.serve(shutdown_signal()).await?;
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
