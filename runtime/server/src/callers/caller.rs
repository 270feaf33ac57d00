//! Who is calling: the authenticated caller of a request (an API key, or a token from an
//! identity provider), its roles, and what the policies' `[access]` entries and the quotas ask of
//! it. Plain data: `auth.rs` makes one from a request.

use crate::callers::oidc::Identity;
use crate::error::ApiError;
use axum::http::StatusCode;
use cordon_core::{Action, Role};
use cordon_storage::ApiKey;
use std::collections::BTreeSet;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The caller's identity in the record, the rate limits and the quotas: the API key's id,
    /// or `issuer#subject` for a token (an issuer identifier has no fragment, so the first `#`
    /// separates them).
    pub id: String,
    /// The key's name, or the token's display name.
    pub name: String,
    /// Every role the caller holds (one for a key).
    pub roles: BTreeSet<Role>,
    pub via: Via,
    /// The address the request came from (`client_ip.rs`), when it came over the network.
    pub address: Option<std::net::IpAddr>,
}

/// How the caller authenticated.
#[derive(Debug, Clone)]
pub enum Via {
    Key,
    Token {
        issuer: String,
        subject: String,
        /// The values of the issuer's role claim, as given (what `[access] groups` names).
        groups: Vec<String>,
        /// When the token stops verifying (its `exp` plus the issuer's clock skew), in seconds
        /// since the Unix epoch; `None` for a caller named without a token.
        expires_at_secs: Option<u64>,
        /// Every claim of the verified token (what decisions read as `input.caller.claims`).
        claims: std::sync::Arc<serde_json::Map<String, serde_json::Value>>,
    },
    /// A client certificate the TLS handshake verified, mapped by `[[auth.mtls]]`.
    Certificate {
        /// `sha256:` and its hex fingerprint: what the record keeps.
        fingerprint: String,
        /// Its subject (RFC 4514).
        subject: String,
        dns: Vec<String>,
        uris: Vec<String>,
        /// When it stops being valid, in seconds since the Unix epoch.
        expires_at_secs: Option<u64>,
    },
}

impl Caller {
    pub fn from_key(key: &ApiKey) -> Self {
        Caller {
            id: key.id.clone(),
            name: key.name.clone(),
            roles: BTreeSet::from([key.role]),
            via: Via::Key,
            address: None,
        }
    }

    pub fn from_identity(identity: Identity) -> Self {
        Caller {
            id: format!("{}#{}", identity.issuer, identity.subject),
            name: identity.name,
            roles: identity.roles,
            via: Via::Token {
                issuer: identity.issuer,
                subject: identity.subject,
                groups: identity.groups,
                expires_at_secs: Some(identity.expires_at_secs),
                claims: identity.claims,
            },
            address: None,
        }
    }

    /// The holder of a verified client certificate, as `[[auth.mtls]]` matched it.
    pub fn from_certificate(
        matched: crate::callers::mtls::Matched,
        cert: &crate::tls::clients::PeerCertificate,
    ) -> Self {
        Caller {
            id: matched.id,
            name: matched.name,
            roles: BTreeSet::from([matched.role]),
            via: Via::Certificate {
                fingerprint: cert.fingerprint.clone(),
                subject: cert.subject.clone(),
                dns: cert.dns.clone(),
                uris: cert.uris.clone(),
                expires_at_secs: Some(cert.not_after_secs),
            },
            address: None,
        }
    }

    /// How the caller authenticated, in one word (`key`, `token`, `certificate`): what
    /// `whoami`, the spans and the decisions' `input.caller.kind` say.
    pub fn via_name(&self) -> &'static str {
        match self.via {
            Via::Key => "key",
            Via::Token { .. } => "token",
            Via::Certificate { .. } => "certificate",
        }
    }

    /// The fingerprint of the client certificate the caller authenticated with, if it did.
    pub fn certificate(&self) -> Option<&str> {
        match &self.via {
            Via::Certificate { fingerprint, .. } => Some(fingerprint),
            _ => None,
        }
    }

    /// Whether the credential the caller authenticated with still holds at `now_ms`: its API
    /// key neither revoked nor expired (`KeyCache::still_valid`), its token not expired. What
    /// outlives its request (an event stream) checks this as it goes.
    pub fn still_valid(&self, keys: &crate::callers::keycache::KeyCache, now_ms: i64) -> bool {
        match &self.via {
            Via::Key => keys.still_valid(&self.id, now_ms),
            Via::Token {
                expires_at_secs, ..
            }
            | Via::Certificate {
                expires_at_secs, ..
            } => expires_at_secs
                .is_none_or(|at| u64::try_from(now_ms / 1000).is_ok_and(|now| now < at)),
        }
    }

    /// Who this caller is in the audit log.
    pub fn actor(&self) -> cordon_storage::Actor {
        cordon_storage::Actor::key(&self.id, &self.name)
    }

    /// Whether any of the caller's roles permits `action`.
    pub fn permits(&self, action: Action) -> bool {
        self.roles.iter().any(|r| r.permits(action))
    }

    /// Refuses with 403 unless one of the caller's roles permits `action`.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if self.permits(action) {
            Ok(())
        } else {
            let roles = self.roles_text();
            tracing::warn!(target: "cordon::security", caller = self.id, roles, ?action, "forbidden");
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("role {roles} may not do this"),
            ))
        }
    }

    /// The roles, comma-separated.
    pub fn roles_text(&self) -> String {
        self.roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Whether an `[access] keys` entry (a key id or name) names this caller.
    pub fn is_key(&self, entry: &str) -> bool {
        matches!(self.via, Via::Key) && (self.id == entry || self.name == entry)
    }

    /// Whether an `[access] subjects` entry (`issuer#subject`, or a certificate holder's
    /// `cert:...` id) names this caller.
    pub fn is_subject(&self, entry: &str) -> bool {
        matches!(self.via, Via::Token { .. } | Via::Certificate { .. }) && self.id == entry
    }

    /// Whether the caller's token carries an `[access] groups` entry: `issuer#group` for a
    /// group of one issuer, or a bare group name from any configured issuer.
    pub fn in_group(&self, entry: &str) -> bool {
        match &self.via {
            Via::Key | Via::Certificate { .. } => false,
            Via::Token { issuer, groups, .. } => match entry.split_once('#') {
                Some((from, group)) => from == issuer && groups.iter().any(|g| g == group),
                None => groups.iter().any(|g| g == entry),
            },
        }
    }
}
