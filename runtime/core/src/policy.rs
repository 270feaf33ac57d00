//! The per-tool policy file (`policies/<tool>.toml`): what a tool may touch. Everything it does
//! not grant is denied. Documented key by key in `docs/policy.md`.
//!
//! Unknown keys are errors, and every error names the file and the key, e.g.
//! `policies/http-get.toml: network.allow[1]: "https//api.x" is not a host pattern: ...`.
//! Host paths and host environment variables are resolved when the policy is loaded, so a
//! missing directory or variable is a load error, never a silent skip.

use crate::credentials::Credential;
use crate::grants::{Grants, Mount};
use crate::limits::{LimitError, Limits};
use crate::network::{HostPattern, NetworkPolicy};
use crate::quota::{QuotaKind, QuotaLimits};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Roles an `[access]` section may name (the server's roles).
pub const ROLES: [&str; 4] = ["admin", "publisher", "invoker", "auditor"];
const _: () = assert!(ROLES.len() == crate::access::Role::ALL.len());

/// A loaded, checked policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Publishers (names in the trust store) whose signature this tool must carry. Absent: any
    /// trusted publisher may sign it. Present but empty: nobody may, the tool cannot run.
    pub publishers: Option<Vec<String>>,
    /// Overrides of single limits; the rest keep their defaults.
    pub limits: LimitOverrides,
    /// Host directories the guest sees.
    pub mounts: Vec<Mount>,
    /// Hosts the guest may call, and private ranges explicitly opened.
    pub network: NetworkPolicy,
    /// Headers the host attaches to requests for one destination each, with secrets the guest
    /// never sees (`[[network.credentials]]`).
    pub credentials: Vec<Credential>,
    /// Variables the guest sees, in name order.
    pub env: Vec<(String, EnvSource)>,
    /// Who may invoke the tool (enforced by the server).
    pub access: Access,
    /// Per-caller quotas for this tool (enforced by the server), besides the server-wide ones.
    pub quotas: QuotaLimits,
    /// What the tool may ask of the caller's client (`[ask]`, `ask.rs`).
    pub ask: crate::ask::AskPolicy,
    /// What its output is scanned for, and what a finding does (`[output]`, `output.rs`).
    pub output: crate::output::OutputPolicy,
}

impl Default for Policy {
    /// The closed default: default limits, nothing else.
    fn default() -> Self {
        Policy {
            publishers: None,
            limits: LimitOverrides::default(),
            mounts: Vec::new(),
            network: NetworkPolicy::default(),
            credentials: Vec::new(),
            env: Vec::new(),
            access: Access::default(),
            quotas: QuotaLimits::default(),
            ask: crate::ask::AskPolicy::default(),
            output: crate::output::OutputPolicy::default(),
        }
    }
}

/// Where an environment variable's value comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum EnvSource {
    /// Written in the policy.
    Literal(String),
    /// Read from the host's environment when the policy was loaded: (variable, value).
    Host(String, String),
    /// Looked up in the secret store for each call; the value is redacted from all output.
    Secret(String),
}

impl std::fmt::Debug for EnvSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnvSource::Literal(v) => write!(f, "Literal({v:?})"),
            EnvSource::Host(name, _) => write!(f, "Host({name:?})"),
            EnvSource::Secret(name) => write!(f, "Secret({name:?})"),
        }
    }
}

/// The `[access]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Access {
    /// Roles that may invoke the tool; absent: every role that may invoke tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// API key names or ids that may invoke the tool. With `subjects`, the caller must be one
    /// of those named in either; both absent: any caller with the right role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<String>>,
    /// Token callers that may invoke the tool, as `issuer#subject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subjects: Option<Vec<String>>,
    /// Groups (values of an issuer's role claim) one of which a token caller must hold:
    /// `issuer#group`, or a bare group name from any configured issuer; absent: no group is
    /// required. An API key holds no group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

/// The `[limits]` section: every key optional, same names as [`Limits`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    pub fuel: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub table_elements: Option<u64>,
    pub instances: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub max_input_bytes: Option<u64>,
    pub max_output_bytes: Option<u64>,
    pub max_log_bytes: Option<u64>,
    pub max_http_requests: Option<u64>,
    pub max_http_response_bytes: Option<u64>,
    pub progress_per_sec: Option<u64>,
    pub max_progress_message_bytes: Option<u64>,
    pub logs_per_sec: Option<u64>,
    pub max_log_message_bytes: Option<u64>,
}

impl LimitOverrides {
    /// `base` with every value this section sets replaced.
    pub fn apply(&self, base: &Limits) -> Limits {
        Limits {
            fuel: self.fuel.unwrap_or(base.fuel),
            memory_bytes: self.memory_bytes.unwrap_or(base.memory_bytes),
            table_elements: self.table_elements.unwrap_or(base.table_elements),
            instances: self.instances.unwrap_or(base.instances),
            timeout_ms: self.timeout_ms.unwrap_or(base.timeout_ms),
            max_input_bytes: self.max_input_bytes.unwrap_or(base.max_input_bytes),
            max_output_bytes: self.max_output_bytes.unwrap_or(base.max_output_bytes),
            max_log_bytes: self.max_log_bytes.unwrap_or(base.max_log_bytes),
            max_http_requests: self.max_http_requests.unwrap_or(base.max_http_requests),
            max_http_response_bytes: self
                .max_http_response_bytes
                .unwrap_or(base.max_http_response_bytes),
            progress_per_sec: self.progress_per_sec.unwrap_or(base.progress_per_sec),
            max_progress_message_bytes: self
                .max_progress_message_bytes
                .unwrap_or(base.max_progress_message_bytes),
            logs_per_sec: self.logs_per_sec.unwrap_or(base.logs_per_sec),
            max_log_message_bytes: self
                .max_log_message_bytes
                .unwrap_or(base.max_log_message_bytes),
        }
    }
}

/// A policy that cannot be used. The message always starts with the file's path, then the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    #[error("{path}: cannot read: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {key}: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: {error}")]
    Limit { path: PathBuf, error: LimitError },
}

// The file as written, before checking.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    publishers: Option<Vec<String>>,
    #[serde(default)]
    limits: LimitOverrides,
    #[serde(default)]
    filesystem: FilesystemSection,
    #[serde(default)]
    network: NetworkSection,
    #[serde(default)]
    env: BTreeMap<String, EnvSpec>,
    #[serde(default)]
    access: Access,
    #[serde(default)]
    quotas: QuotaLimits,
    #[serde(default)]
    ask: crate::ask::AskPolicy,
    #[serde(default)]
    output: crate::output::OutputPolicy,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilesystemSection {
    #[serde(default)]
    mounts: Vec<MountSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MountSpec {
    host: String,
    guest: String,
    mode: MountMode,
}

#[derive(Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum MountMode {
    ReadOnly,
    ReadWrite,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkSection {
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    allow_private: Vec<String>,
    #[serde(default)]
    credentials: Vec<CredentialSpec>,
    #[serde(default)]
    propagate_trace: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialSpec {
    destination: String,
    header: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum EnvSpec {
    Literal(String),
    From(EnvFrom),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvFrom {
    host: Option<String>,
    secret: Option<String>,
}

impl Policy {
    /// Reads, parses and checks a policy file; relative mount paths are resolved against the
    /// file's directory.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|error| PolicyError::Read {
            path: path.to_owned(),
            error,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, path, base)
    }

    /// Parses and checks policy text. `path` names the file in errors; relative mount paths
    /// are resolved against `base`.
    pub fn parse(text: &str, path: &Path, base: &Path) -> Result<Self, PolicyError> {
        let invalid = |key: String, message: String| PolicyError::Invalid {
            path: path.to_owned(),
            key,
            message,
        };
        let de = toml::Deserializer::parse(text).map_err(|e| PolicyError::Syntax {
            path: path.to_owned(),
            message: one_line(e.message()),
        })?;
        let file: PolicyFile = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let message = one_line(e.inner().message());
            if key == "." {
                PolicyError::Syntax {
                    path: path.to_owned(),
                    message,
                }
            } else {
                invalid(key, message)
            }
        })?;

        let mut mounts: Vec<Mount> = Vec::new();
        for (i, spec) in file.filesystem.mounts.iter().enumerate() {
            let key = |field: &str| format!("filesystem.mounts[{i}].{field}");
            let host = base.join(&spec.host);
            let host = host.canonicalize().map_err(|e| {
                invalid(
                    key("host"),
                    format!("{} cannot be used: {e}", host.display()),
                )
            })?;
            if !host.is_dir() {
                return Err(invalid(
                    key("host"),
                    format!("{} is not a directory", host.display()),
                ));
            }
            let guest = &spec.guest;
            let bad_guest = !guest.starts_with('/')
                || guest.split('/').any(|c| c == ".." || c == ".")
                || guest.contains('\0');
            if bad_guest {
                return Err(invalid(
                    key("guest"),
                    format!("{guest:?} must be an absolute path without . or .."),
                ));
            }
            if mounts.iter().any(|m| m.guest == *guest) {
                return Err(invalid(key("guest"), format!("{guest:?} is mounted twice")));
            }
            mounts.push(Mount {
                host,
                guest: guest.clone(),
                writable: spec.mode == MountMode::ReadWrite,
            });
        }

        let mut network = NetworkPolicy {
            propagate_trace: file.network.propagate_trace,
            ..NetworkPolicy::default()
        };
        for (i, text) in file.network.allow.iter().enumerate() {
            let pattern =
                HostPattern::parse(text).map_err(|m| invalid(format!("network.allow[{i}]"), m))?;
            network.allow.push(pattern);
        }
        for (i, text) in file.network.allow_private.iter().enumerate() {
            let net: IpNet = text.parse().map_err(|_| {
                invalid(
                    format!("network.allow_private[{i}]"),
                    format!("{text:?} is not a CIDR range like 127.0.0.0/8"),
                )
            })?;
            network.allow_private.push(net);
        }

        let mut credentials: Vec<Credential> = Vec::new();
        for (i, spec) in file.network.credentials.iter().enumerate() {
            let c = Credential::parse(&spec.destination, &spec.header, &spec.value)
                .map_err(|(field, m)| invalid(format!("network.credentials[{i}].{field}"), m))?;
            if network
                .check_destination(c.scheme, &c.host, c.port)
                .is_err()
            {
                return Err(invalid(
                    format!("network.credentials[{i}].destination"),
                    format!(
                        "{} is not in network.allow; a credential is attached only to a destination the tool may call",
                        c.destination()
                    ),
                ));
            }
            if credentials
                .iter()
                .any(|o| o.destination() == c.destination() && o.header == c.header)
            {
                return Err(invalid(
                    format!("network.credentials[{i}]"),
                    format!("{} {} is given twice", c.destination(), c.header),
                ));
            }
            credentials.push(c);
        }

        let mut env = Vec::new();
        for (name, spec) in file.env {
            let key = format!("env.{name}");
            let valid_name = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid_name {
                return Err(invalid(key, "not a valid variable name".into()));
            }
            let source = match spec {
                EnvSpec::Literal(v) => EnvSource::Literal(v),
                EnvSpec::From(EnvFrom {
                    host: Some(var),
                    secret: None,
                }) => {
                    let value = std::env::var(&var).map_err(|_| {
                        invalid(key.clone(), format!("host variable {var} is not set"))
                    })?;
                    EnvSource::Host(var, value)
                }
                EnvSpec::From(EnvFrom {
                    host: None,
                    secret: Some(secret),
                }) => EnvSource::Secret(secret),
                EnvSpec::From(_) => {
                    return Err(invalid(
                        key,
                        "give a string, { host = \"VAR\" } or { secret = \"NAME\" }".into(),
                    ));
                }
            };
            env.push((name, source));
        }

        if let Some(roles) = &file.access.roles {
            for (i, role) in roles.iter().enumerate() {
                if !ROLES.contains(&role.as_str()) {
                    return Err(invalid(
                        format!("access.roles[{i}]"),
                        format!("{role:?} is not a role ({})", ROLES.join(", ")),
                    ));
                }
            }
        }

        for (field, names) in [
            ("subjects", &file.access.subjects),
            ("groups", &file.access.groups),
        ] {
            for (i, name) in names.iter().flatten().enumerate() {
                if name.trim().is_empty() || name.chars().any(char::is_control) {
                    return Err(invalid(
                        format!("access.{field}[{i}]"),
                        "must be a non-empty name without control characters".into(),
                    ));
                }
            }
        }
        // A subject is unique only within its issuer: naming one without its issuer would admit
        // the same `sub` from every configured identity provider.
        if let Some(subjects) = &file.access.subjects {
            for (i, s) in subjects.iter().enumerate() {
                let scoped = s
                    .split_once('#')
                    .is_some_and(|(issuer, sub)| !issuer.is_empty() && !sub.is_empty());
                if !scoped {
                    return Err(invalid(
                        format!("access.subjects[{i}]"),
                        format!(
                            "{s:?}: write issuer#subject, e.g. \"https://id.example.com#00u1abcd\" (as the audit log records the caller)"
                        ),
                    ));
                }
            }
        }
        for kind in QuotaKind::ALL {
            if kind.limit(&file.quotas) == Some(0) {
                return Err(invalid(
                    format!("quotas.{}", kind.as_str()),
                    "0 would let nobody run the tool; remove the tool, or set [access] instead"
                        .into(),
                ));
            }
        }

        if let Some((key, message)) = file.ask.problem() {
            return Err(invalid(key, message));
        }

        Ok(Policy {
            publishers: file.publishers,
            limits: file.limits,
            mounts,
            network,
            credentials,
            env,
            access: file.access,
            quotas: file.quotas,
            ask: file.ask,
            output: file.output,
        })
    }

    /// The limits a call under this policy runs with: defaults, overridden by the policy, all
    /// checked against the server caps.
    pub fn effective_limits(
        &self,
        defaults: &Limits,
        caps: &Limits,
        path: &Path,
    ) -> Result<Limits, PolicyError> {
        let limits = self.limits.apply(defaults);
        limits
            .check_within(caps)
            .map_err(|error| PolicyError::Limit {
                path: path.to_owned(),
                error,
            })?;
        Ok(limits)
    }

    /// Everything a call under this policy is granted. `secret` looks a secret up by name;
    /// a secret it does not know is an error naming the variable (never the value).
    pub fn grants(
        &self,
        limits: Limits,
        mut secret: impl FnMut(&str) -> Option<String>,
        path: &Path,
    ) -> Result<Grants, PolicyError> {
        let mut env = Vec::with_capacity(self.env.len());
        let mut secrets = Vec::new();
        for (name, source) in &self.env {
            let value = match source {
                EnvSource::Literal(v) | EnvSource::Host(_, v) => v.clone(),
                EnvSource::Secret(s) => {
                    let v = secret(s).ok_or_else(|| PolicyError::Invalid {
                        path: path.to_owned(),
                        key: format!("env.{name}"),
                        message: format!("secret {s} is not in the secret store"),
                    })?;
                    secrets.push(v.clone());
                    v
                }
            };
            env.push((name.clone(), value));
        }
        let mut credentials = Vec::with_capacity(self.credentials.len());
        for (i, c) in self.credentials.iter().enumerate() {
            let resolved = c.resolve(&mut secret).map_err(|e| PolicyError::Invalid {
                path: path.to_owned(),
                key: format!("network.credentials[{i}].value"),
                message: e.to_string(),
            })?;
            secrets.extend(resolved.secret_values.iter().cloned());
            credentials.push(resolved);
        }
        Ok(Grants {
            limits,
            mounts: self.mounts.clone(),
            network: self.network.clone(),
            credentials,
            env,
            secrets,
            ask: self.ask.clone(),
            // A REST caller answers whatever it is asked; MCP narrows this to what the client
            // declared.
            client_asking: crate::reply::Asking::ALL,
            client_must_answer: false,
            resume: None,
        })
    }

    /// Every secret store entry the policy uses (its environment and its credentials), each
    /// once.
    pub fn secret_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .env
            .iter()
            .filter_map(|(_, s)| match s {
                EnvSource::Secret(n) => Some(n.as_str()),
                _ => None,
            })
            .chain(self.credentials.iter().flat_map(Credential::secrets))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// What an operator should know about this policy though it is valid: secrets the tool can
    /// read itself.
    pub fn warnings(&self) -> Vec<String> {
        self.env
            .iter()
            .filter_map(|(name, s)| match s {
                EnvSource::Secret(secret) => Some(format!(
                    "env.{name}: the tool can read secret {secret} (it is in its environment, and the tool may send it anywhere its network allows); if it only authenticates requests to one API, attach it with [[network.credentials]] instead, which the tool never sees"
                )),
                _ => None,
            })
            .collect()
    }

    /// The effective policy as JSON, for `cordon policy check`: no secret or host values.
    pub fn describe(&self, limits: &Limits) -> serde_json::Value {
        let env: serde_json::Map<String, serde_json::Value> = self
            .env
            .iter()
            .map(|(name, source)| {
                let shown = match source {
                    EnvSource::Literal(v) => serde_json::json!({ "literal": v }),
                    EnvSource::Host(var, _) => serde_json::json!({ "host": var }),
                    EnvSource::Secret(s) => serde_json::json!({ "secret": s }),
                };
                (name.clone(), shown)
            })
            .collect();
        let mut grants = serde_json::json!({
            "publishers": self.publishers,
            "limits": limits,
            "ask": self.ask,
            "output": self.output,
            "filesystem": {
                "mounts": self.mounts.iter().map(|m| serde_json::json!({
                    "host": m.host,
                    "guest": m.guest,
                    "mode": if m.writable { "read-write" } else { "read-only" },
                })).collect::<Vec<_>>(),
            },
            "network": {
                "allow": self.network.allow.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "allow_private": self.network.allow_private.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "credentials": self.credentials.iter().map(|c| serde_json::json!({
                    "destination": c.destination(),
                    "header": c.header,
                    "secrets": c.secrets().collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            },
            "env": env,
            "access": self.access,
            "quotas": self.quotas,
        });
        // Shown only when granted: a policy that says nothing of it reads as before.
        if self.network.propagate_trace {
            grants["network"]["propagate_trace"] = serde_json::Value::Bool(true);
        }
        grants
    }
}

/// toml's messages can span lines; errors stay on one line.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Policy, PolicyError> {
        Policy::parse(text, Path::new("policies/t.toml"), Path::new("."))
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn empty_policy_is_the_closed_default() {
        let p = parse("").unwrap();
        assert_eq!(p, Policy::default());
        let l = p
            .effective_limits(&Limits::default(), &Limits::server_caps(), Path::new("x"))
            .unwrap();
        assert_eq!(l, Limits::default());
        let g = p.grants(l, |_| None, Path::new("x")).unwrap();
        assert!(g.mounts.is_empty() && g.env.is_empty() && g.network.allow.is_empty());
    }

    #[test]
    fn overrides_apply_and_caps_hold() {
        let p = parse("[limits]\nfuel = 5\ntimeout_ms = 100\n").unwrap();
        let l = p
            .effective_limits(&Limits::default(), &Limits::server_caps(), Path::new("x"))
            .unwrap();
        assert_eq!((l.fuel, l.timeout_ms), (5, 100));
        assert_eq!(l.memory_bytes, Limits::default().memory_bytes);

        let p = parse("[limits]\nmemory_bytes = 99999999999\n").unwrap();
        let err = p
            .effective_limits(
                &Limits::default(),
                &Limits::server_caps(),
                Path::new("policies/t.toml"),
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "policies/t.toml: limits.memory_bytes: 99999999999 exceeds the server cap of 1073741824"
        );
    }

    #[test]
    fn error_messages_name_file_and_key() {
        assert_eq!(
            err("[network]\nallow = [\"api.github.com\", \"https//api.x\"]\n"),
            "policies/t.toml: network.allow[1]: \"https//api.x\" is not a host pattern: a scheme must be followed by `://`"
        );
        assert_eq!(
            err("[limits]\nfule = 5\n"),
            "policies/t.toml: limits.fule: unknown field `fule`, expected one of `fuel`, `memory_bytes`, `table_elements`, `instances`, `timeout_ms`, `max_input_bytes`, `max_output_bytes`, `max_log_bytes`, `max_http_requests`, `max_http_response_bytes`, `progress_per_sec`, `max_progress_message_bytes`, `logs_per_sec`, `max_log_message_bytes`"
        );
        assert_eq!(
            err("[limits]\nfuel = \"lots\"\n"),
            "policies/t.toml: limits.fuel: invalid type: string \"lots\", expected u64"
        );
        assert_eq!(
            err(
                "[[filesystem.mounts]]\nhost = \"/definitely/not/here\"\nguest = \"/data\"\nmode = \"read-only\"\n"
            ),
            "policies/t.toml: filesystem.mounts[0].host: /definitely/not/here cannot be used: No such file or directory (os error 2)"
        );
        assert_eq!(
            err("[[filesystem.mounts]]\nhost = \".\"\nguest = \"/data\"\nmode = \"rw\"\n"),
            "policies/t.toml: filesystem.mounts[0].mode: unknown variant `rw`, expected `read-only` or `read-write`"
        );
        assert_eq!(
            err(
                "[[filesystem.mounts]]\nhost = \".\"\nguest = \"data/../x\"\nmode = \"read-only\"\n"
            ),
            "policies/t.toml: filesystem.mounts[0].guest: \"data/../x\" must be an absolute path without . or .."
        );
        assert_eq!(
            err("[network]\nallow_private = [\"localhost\"]\n"),
            "policies/t.toml: network.allow_private[0]: \"localhost\" is not a CIDR range like 127.0.0.0/8"
        );
        assert_eq!(
            err("[env]\nX = { host = \"CORDON_TEST_SURELY_UNSET_VAR\" }\n"),
            "policies/t.toml: env.X: host variable CORDON_TEST_SURELY_UNSET_VAR is not set"
        );
        assert_eq!(
            err("[access]\nroles = [\"root\"]\n"),
            "policies/t.toml: access.roles[0]: \"root\" is not a role (admin, publisher, invoker, auditor)"
        );
        assert!(
            err("[limitz]\n").starts_with("policies/t.toml: limitz: unknown field `limitz`"),
            "{}",
            err("[limitz]\n")
        );
        assert!(err("[limits\n").starts_with("policies/t.toml: "));
    }

    #[test]
    fn env_sources_resolve_and_secrets_are_collected_for_redaction() {
        let p = parse(
            "[env]\nGREETING = \"hi\"\nPATH_COPY = { host = \"PATH\" }\nTOKEN = { secret = \"gh\" }\n",
        )
        .unwrap();
        let g = p
            .grants(
                Limits::default(),
                |name| (name == "gh").then(|| "tok-123".to_owned()),
                Path::new("x"),
            )
            .unwrap();
        let names: Vec<&str> = g.env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["GREETING", "PATH_COPY", "TOKEN"]);
        assert_eq!(g.env[0].1, "hi");
        assert_eq!(g.env[1].1, std::env::var("PATH").unwrap());
        assert_eq!(g.secrets, ["tok-123"]);
        let missing = p
            .grants(Limits::default(), |_| None, Path::new("p.toml"))
            .unwrap_err();
        assert_eq!(
            missing.to_string(),
            "p.toml: env.TOKEN: secret gh is not in the secret store"
        );
        let shown = p.describe(&Limits::default()).to_string();
        assert!(
            !shown.contains("tok-123") && shown.contains("\"secret\":\"gh\""),
            "{shown}"
        );
    }
}
