//! What a server runs with: every setting `cordon serve` reads from its flags, environment and
//! config file, as one struct (`docs/configuration.md` documents each). The defaults, each with
//! the reason for it, are in [`ServerSettings::new`].

use crate::callers::quota::QuotaSettings;
use crate::callers::ratelimit::RateSettings;
use crate::callers::resource::AuthSettings;
use crate::record::audit_log::AuditSettings;
use crate::registry::oci_pull::RegistrySettings;
use std::path::PathBuf;

/// Settings the server runs with (see `docs/configuration.md`).
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// The audit log's signing key (made there at the first start when the log is new).
    pub log_key: PathBuf,
    /// Directory of `<tool>.toml` policies applied at publish time and on reload.
    pub policies_dir: Option<PathBuf>,
    /// Executions allowed to run at once; more get 503.
    pub max_in_flight: usize,
    /// Largest component upload, in bytes.
    pub max_upload_bytes: usize,
    /// Largest invoke body, in bytes.
    pub max_invoke_bytes: usize,
    /// Store raw inputs in the execution log (off: only size and sha256).
    pub store_inputs: bool,
    /// Time a client has to send its headers, and each part of a body.
    pub client_timeout: std::time::Duration,
    /// Host names (besides loopback names and IP literals) MCP requests may be addressed to.
    pub allowed_hosts: Vec<String>,
    /// Origins (besides the server's own) MCP requests may come from.
    pub allowed_origins: Vec<String>,
    /// Who may read `/metrics`.
    pub metrics_access: MetricsAccess,
    /// Proxies whose `X-Forwarded-For` names the client (see `client_ip.rs`); none by default.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Where checkpoints are copied, and how often they are made.
    pub audit: AuditSettings,
    /// Identity providers, and what this server tells OAuth clients about itself.
    pub auth: AuthSettings,
    /// Quotas per caller, server-wide.
    pub quotas: QuotaSettings,
    /// Request budgets and failed-authentication budgets.
    pub rates: RateSettings,
    /// Execution records older than this many days are deleted, at start and daily (the chain
    /// stays verifiable); `None` keeps everything.
    pub retention_days: Option<u32>,
    /// How tools are pulled from OCI registries (`oci_pull.rs`: the reason for each default).
    pub registries: RegistrySettings,
    /// How long the answer of a call started asynchronously is kept for its caller to fetch.
    pub async_result_ttl: std::time::Duration,
    /// Where to tell approvers that a call waits for them (an HTTP(S) URL that takes a JSON
    /// POST); none by default: approvers look at `GET /v1/approvals` or the console.
    pub approval_webhook: Option<String>,
    /// Where the operator's tracing shows a trace: an http(s) URL with `{trace_id}` where the
    /// record's trace id goes, for the console's execution page; none by default (the page
    /// shows the id alone).
    pub trace_link: Option<String>,
    /// HTTPS on the listener (`tls/`): its certificate chain and key; none serves plain HTTP.
    pub tls: Option<crate::tls::TlsFiles>,
    /// Client certificates on the HTTPS listener (`tls/clients.rs`): the CA they chain to and
    /// whether one is required; none asks for none. Who a certificate is comes from
    /// `auth.mtls`.
    pub client_certs: Option<crate::tls::clients::ClientCerts>,
    /// Whether a component whose description or schemas carry instructions or hidden
    /// characters is refused at publish (`registry/review.rs`); when false it is published
    /// with the findings. True by default: such a tool poisons every caller's model.
    pub publish_review_refuses: bool,
    /// Where alerts are delivered (`[[alerts.webhook]]`, `alerts/settings.rs`); none by
    /// default: alerts are only listed (`GET /v1/alerts`).
    pub alerts: crate::alerts::settings::AlertSettings,
    /// The detection rules in force (`[[detect.rules]]` and the defaults, checked;
    /// `detect/rules.rs`).
    pub detect_rules: Vec<crate::detect::rules::Rule>,
    /// How long a stop waits for open connections and running calls before it interrupts them.
    pub shutdown_grace: std::time::Duration,
    /// This node's name in the tasks it runs (`tasks.rs`); empty: the host name and the address
    /// it listens on, so a node restarted on the same address ends the tasks it left running at
    /// once.
    pub node_name: String,
    /// Serve the web console at `/ui` (`ui.rs`).
    pub ui: bool,
    /// Test-only: serve `POST /v1/test/confinement` (`api/probe.rs`). Honoured only by a debug
    /// build; the command line sets it from `CORDON_TEST_CONFINEMENT_PROBE=1`.
    pub confinement_probe: bool,
}

/// Who may read `GET /metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricsAccess {
    /// An API key whose role may read metrics (admin, auditor). The default: tool names and
    /// call volumes are an inventory an outsider should not get.
    #[default]
    Key,
    /// Anyone who can reach the listener (for a scraper that carries no key, with the listener
    /// on loopback or behind a network boundary).
    Open,
}

impl ServerSettings {
    /// Enough for a busy gateway on one machine; beyond it a call is refused at once (503)
    /// rather than queued behind the others.
    pub const DEFAULT_MAX_IN_FLIGHT: usize = 1000;

    /// The sandbox's instance slots a server with `max_in_flight` needs: one per execution in
    /// flight, plus room for the `describe()` calls of publishes and reloads, which the
    /// in-flight bound does not count. Give the `Services`' sandbox at least this many.
    pub fn instance_slots(max_in_flight: usize) -> u32 {
        u32::try_from(max_in_flight.saturating_add(64)).unwrap_or(u32::MAX)
    }

    /// The defaults, each with its reason; the audit log's key at `log_key` (made there the
    /// first time the log is signed).
    pub fn new(log_key: PathBuf) -> Self {
        ServerSettings {
            log_key,
            // No folder: every tool runs under the closed default until a policy is set.
            policies_dir: None,
            max_in_flight: Self::DEFAULT_MAX_IN_FLIGHT,
            // Interpreted-language components are 12-20 MB; 64 MiB leaves room.
            max_upload_bytes: 64 << 20,
            // The default input limit of a policy is 1 MiB; a policy that raises it needs this
            // raised too.
            max_invoke_bytes: 1 << 20,
            // Inputs may hold what callers consider private: only their size and digest.
            store_inputs: false,
            // Long enough for a real client on a bad network, short enough that holding
            // connections open costs an attacker a connection per 30 s.
            client_timeout: std::time::Duration::from_secs(30),
            // Loopback names and IP literals only: DNS rebinding is refused.
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            metrics_access: MetricsAccess::default(),
            // `X-Forwarded-For` is ignored unless a proxy is named.
            trusted_proxies: Vec::new(),
            audit: AuditSettings::default(),
            auth: AuthSettings::default(),
            quotas: QuotaSettings::default(),
            rates: RateSettings::default(),
            // Nothing of the record is deleted unless the operator asks.
            retention_days: None,
            // Public addresses only, HTTPS only, anonymous, 120 s.
            registries: RegistrySettings::default(),
            // An hour: long enough for a client to come back after a dropped connection or a
            // restart, short enough that answers (which may be sensitive) do not pile up.
            async_result_ttl: std::time::Duration::from_secs(3600),
            approval_webhook: None,
            trace_link: None,
            tls: None,
            client_certs: None,
            publish_review_refuses: true,
            alerts: crate::alerts::settings::AlertSettings::default(),
            detect_rules: crate::detect::rules::DetectSettings::default()
                .rules()
                .unwrap_or_default(),
            // A minute and 5 s: the calls most tools make (seconds) finish and are recorded;
            // a longer call is interrupted and recorded as such, rather than holding a
            // deployment's rollout for up to the 30-minute cap.
            shutdown_grace: std::time::Duration::from_secs(65),
            node_name: String::new(),
            // On: it is a client of the API with the same credentials, so it opens nothing the
            // API does not (and its page refuses inline script, framing and HTML injection).
            ui: true,
            // Off: a test hook, never wanted outside the end-to-end tests (and compiled out of
            // release builds whatever this says).
            confinement_probe: false,
        }
    }
}

impl MetricsAccess {
    /// The setting's values as written in flags and the config file.
    pub const NAMES: [&str; 2] = ["key", "open"];

    /// Parses `key` or `open`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "key" => Some(MetricsAccess::Key),
            "open" => Some(MetricsAccess::Open),
            _ => None,
        }
    }
}
