//! What one call may use, resolved and ready for the sandbox: limits, mounts, the network
//! policy, the environment and the secret values to redact.
//!
//! Built from a [`crate::Policy`] by whoever runs the call (the CLI, the server), after it has
//! looked up host variables and secrets. `Debug` never prints environment values.

use crate::Limits;
use crate::credentials::ResolvedCredential;
use crate::network::NetworkPolicy;
use std::fmt;
use std::path::PathBuf;

/// A host directory made visible to the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Absolute, canonical host path (resolved when the policy was loaded).
    pub host: PathBuf,
    /// Where the guest sees it, e.g. `/data`.
    pub guest: String,
    /// Read-only mounts are enforced with read-only directory and file capabilities.
    pub writable: bool,
}

/// Everything a call is granted. The default grants nothing but the default limits.
#[derive(Clone, Default)]
pub struct Grants {
    pub limits: Limits,
    pub mounts: Vec<Mount>,
    pub network: NetworkPolicy,
    /// Headers the host attaches to requests for their destinations (values hold secrets).
    pub credentials: Vec<ResolvedCredential>,
    /// Environment variables the guest sees, and nothing else.
    pub env: Vec<(String, String)>,
    /// Secret values: never logged, and replaced in anything the guest sends back.
    pub secrets: Vec<String>,
    /// What the tool may ask of the caller's client.
    pub ask: crate::ask::AskPolicy,
    /// What the caller's client can answer (all of it unless the transport says otherwise).
    pub client_asking: crate::reply::Asking,
    /// True when asking the client for anything beyond `client_asking` ends the call as a
    /// tool error (a denial): where nobody could answer it later, as in an MCP task. Otherwise
    /// the transport says what the client lacks (MCP's "missing required client capability").
    pub client_must_answer: bool,
    /// The answers of the previous round, when this call resumes one.
    pub resume: Option<crate::reply::Resume>,
}

impl Grants {
    /// The closed default with these limits.
    pub fn with_limits(limits: Limits) -> Self {
        Grants {
            limits,
            ..Grants::default()
        }
    }
}

impl fmt::Debug for Grants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grants")
            .field("limits", &self.limits)
            .field("mounts", &self.mounts)
            .field("network", &self.network)
            .field("credentials", &self.credentials)
            .field("env", &self.env.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

/// Replaced for every occurrence of a secret value in output, errors and captured logs.
pub const REDACTED: &str = "[REDACTED]";

/// `text` with every secret value replaced by [`REDACTED`]. Empty secrets are ignored.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), REDACTED);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_env_values_and_redact_replaces_all() {
        let g = Grants {
            env: vec![("TOKEN".into(), "s3cr3t-value".into())],
            secrets: vec!["s3cr3t-value".into()],
            ..Grants::default()
        };
        let debug = format!("{g:?}");
        assert!(
            debug.contains("TOKEN") && !debug.contains("s3cr3t-value"),
            "{debug}"
        );
        assert_eq!(
            redact("a s3cr3t-value b s3cr3t-value", &g.secrets),
            "a [REDACTED] b [REDACTED]"
        );
        assert_eq!(redact("nothing", &[String::new()]), "nothing");
    }
}
