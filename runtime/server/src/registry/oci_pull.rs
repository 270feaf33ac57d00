//! Publishing from an OCI registry (`POST /v1/tools` with `{"oci": "oci://..."}`): the
//! server's registry settings (`[registries]` in the config file), and the pull that turns a
//! reference into the component bytes and the reference pinned by digest. What is pulled is then
//! admitted exactly as an upload is (`api/tools.rs`): a registry is transport, never trust.

use crate::error::ApiError;
use axum::http::StatusCode;
use cordon_oci::{AddressRules, Credentials, OciError, OciRef, RegistryOptions};
use cordon_storage::SecretStore;
use std::time::Duration;

/// How the server reaches registries (`docs/configuration.md`, `[registries]`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySettings {
    /// Address ranges a pull may reach besides public addresses (e.g. `10.0.0.0/8` for a
    /// registry inside the network). Empty by default: a publisher must not be able to make the
    /// server fetch from its loopback, its private network or a cloud metadata address, so
    /// every connection of a pull (registry, token service, redirects) goes to public addresses
    /// only until the operator lists a range.
    #[serde(default)]
    pub allow_private: Vec<ipnet::IpNet>,
    /// Registries (`host` or `host:port`) reached over plain HTTP. Empty by default: HTTPS only.
    #[serde(default)]
    pub insecure: Vec<String>,
    /// PEM files of CAs trusted besides the system's roots (a private registry's CA). Read at
    /// start.
    #[serde(default)]
    pub ca: Vec<std::path::PathBuf>,
    /// How long one pull may take in all, e.g. `"2m"` [default: 120 s: a component of tens of
    /// megabytes over a slow link, not a registry that stopped answering].
    #[serde(default, with = "humantime_serde_opt")]
    pub timeout: Option<Duration>,
    /// Credentials per registry; any registry not listed is pulled from anonymously.
    #[serde(default)]
    pub login: Vec<RegistryLogin>,
    /// The CA files' contents, read at start (not from the file).
    #[serde(skip)]
    pub ca_pem: Vec<Vec<u8>>,
}

/// A user name at a registry, and the name of the secret (in the server's secret store) that
/// holds its password or token: the password itself is never in the config file.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryLogin {
    /// `host` or `host:port`, exactly as references name it.
    pub registry: String,
    pub username: String,
    /// `cordon secret set NAME` holds the password.
    pub password_secret: String,
}

/// `timeout = "2m"` in the config file.
mod humantime_serde_opt {
    use serde::Deserialize;
    use std::time::Duration;

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| humantime::parse_duration(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

impl RegistrySettings {
    /// Reads the CA files; an unreadable file or one without a certificate stops the start.
    pub fn load_cas(&mut self) -> Result<(), String> {
        self.ca_pem = self
            .ca
            .iter()
            .map(|path| {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("registries.ca {}: {e}", path.display()))?;
                if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
                    return Err(format!(
                        "registries.ca {}: no PEM certificate in it",
                        path.display()
                    ));
                }
                Ok(pem)
            })
            .collect::<Result<_, _>>()?;
        Ok(())
    }

    /// The checks a start can make: a login's secret must be in the store (or there must be a
    /// store at all).
    pub fn check_logins(&self, secrets: Option<&SecretStore>) -> Result<(), String> {
        for login in &self.login {
            let found = secrets.and_then(|s| s.get(&login.password_secret).ok().flatten());
            if found.is_none() {
                return Err(format!(
                    "registries.login for {} names the secret {:?}, which the secret store does not hold: set it with `cordon secret set {}` (and give the server CORDON_SECRET_KEY)",
                    login.registry, login.password_secret, login.password_secret
                ));
            }
        }
        Ok(())
    }

    /// The client options of one pull: HTTPS unless insecure, the CAs, the time bound, the
    /// upload limit as the size bound, and the address guard always on.
    fn options(&self, max_bytes: u64) -> RegistryOptions {
        RegistryOptions {
            insecure: self.insecure.clone(),
            extra_ca_pem: self.ca_pem.clone(),
            timeout: self.timeout.unwrap_or(cordon_oci::DEFAULT_TIMEOUT),
            max_bytes,
            addresses: Some(AddressRules {
                allow_private: self.allow_private.clone(),
            }),
        }
    }

    fn credentials(
        &self,
        registry: &str,
        secrets: Option<&SecretStore>,
    ) -> Result<Credentials, ApiError> {
        let Some(login) = self.login.iter().find(|l| l.registry == registry) else {
            return Ok(Credentials::Anonymous);
        };
        let password = secrets
            .and_then(|s| s.get(&login.password_secret).ok().flatten())
            .ok_or_else(|| {
                ApiError::internal(format!(
                    "registries.login for {registry}: the secret {:?} is missing from the secret store",
                    login.password_secret
                ))
            })?;
        Ok(Credentials::Basic {
            username: login.username.clone(),
            password,
        })
    }
}

/// The body of a publish from a registry.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishFrom {
    /// `oci://HOST[:PORT]/REPOSITORY:TAG` or `...@sha256:DIGEST`. A tag is resolved once, now:
    /// the tool keeps the manifest digest it resolved to.
    pub oci: String,
}

/// A component pulled for publishing.
#[derive(Debug)]
pub struct PulledTool {
    pub component: Vec<u8>,
    /// The reference pinned by the manifest digest (the tag kept, as where it came from).
    pub source: String,
}

/// Pulls what `reference` names with the server's registry settings.
pub async fn pull(
    settings: &RegistrySettings,
    secrets: Option<&SecretStore>,
    max_bytes: u64,
    reference: &str,
) -> Result<PulledTool, ApiError> {
    let reference = OciRef::parse(reference).map_err(refused)?;
    if reference.tag.is_none() && reference.digest.is_none() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_reference",
            format!(
                "{reference} names no tag and no digest: write oci://HOST/REPOSITORY:TAG or ...@sha256:DIGEST"
            ),
        ));
    }
    let credentials = settings.credentials(&reference.registry, secrets)?;
    let pulled = cordon_oci::pull(&reference, &credentials, &settings.options(max_bytes))
        .await
        .map_err(|e| {
            // Reached over HTTPS and failed there: a registry that speaks only plain HTTP
            // answers so, and the setting that allows it is named.
            let plain_http_hint =
                matches!(e, OciError::Unreachable { .. } | OciError::Timeout { .. })
                    || matches!(refused_code(&e), "registry_error");
            let hint =
                (plain_http_hint && !settings.insecure.contains(&reference.registry)).then(|| {
                    format!(
                        "; if {} serves plain HTTP, name it in registries.insecure",
                        reference.registry
                    )
                });
            let mut answer = refused(e);
            if let Some(hint) = hint {
                answer.message.push_str(&hint);
            }
            answer
        })?;
    Ok(PulledTool {
        component: pulled.component,
        source: pulled.reference.to_string(),
    })
}

/// What each pull failure is answered with (the table in docs/distribution.md). Registry-side
/// failures are 502/504 (the server acted as a client); an address the server's rules refuse,
/// 403; what the reference or the artifact is, 422; the size limit, 413.
fn refused(e: OciError) -> ApiError {
    let message = e.to_string();
    let (status, code) = answer_of(&e);
    let message = match &e {
        OciError::Unauthorized { .. } => format!(
            "{message}; the server pulls with the credentials of its registries.login for this registry (anonymously when there is none)"
        ),
        _ => message,
    };
    tracing::warn!(target: "cordon::admin", code, error = %message, "pull refused");
    ApiError::new(status, code, message)
}

/// The API code a pull failure is answered with.
fn refused_code(e: &OciError) -> &'static str {
    answer_of(e).1
}

fn answer_of(e: &OciError) -> (StatusCode, &'static str) {
    match e {
        OciError::Reference(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_reference"),
        OciError::NotFound { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "not_in_registry"),
        OciError::Layout(_) => (StatusCode::UNPROCESSABLE_ENTITY, "not_a_component"),
        OciError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        OciError::Address { .. } => (StatusCode::FORBIDDEN, "registry_address_refused"),
        OciError::Unauthorized { .. } => (StatusCode::BAD_GATEWAY, "registry_unauthorized"),
        OciError::Digest { .. } => (StatusCode::BAD_GATEWAY, "registry_digest_mismatch"),
        OciError::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "registry_timeout"),
        OciError::Unreachable { .. } => (StatusCode::BAD_GATEWAY, "registry_unreachable"),
        _ => (StatusCode::BAD_GATEWAY, "registry_error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every failure of a pull is answered with a status and code that docs/distribution.md
    /// lists for publishing by reference.
    #[test]
    fn every_pull_failure_is_answered_as_the_documentation_says() {
        let doc = include_str!("../../../../docs/distribution.md");
        let r = || "oci://registry.example/tools/echo:1".to_owned();
        for (e, status, code) in [
            (OciError::Reference("x".into()), 422, "invalid_reference"),
            (
                OciError::NotFound { reference: r() },
                422,
                "not_in_registry",
            ),
            (OciError::Layout("x".into()), 422, "not_a_component"),
            (
                OciError::TooLarge {
                    reference: r(),
                    size: 2,
                    limit: 1,
                },
                413,
                "too_large",
            ),
            (
                OciError::Address {
                    reference: r(),
                    destination: "localhost:80: resolves to an address that is not public".into(),
                },
                403,
                "registry_address_refused",
            ),
            (
                OciError::Unauthorized {
                    reference: r(),
                    message: "x".into(),
                },
                502,
                "registry_unauthorized",
            ),
            (
                OciError::Digest {
                    reference: r(),
                    what: "the manifest",
                    expected: "sha256:0".into(),
                    actual: "sha256:1".into(),
                },
                502,
                "registry_digest_mismatch",
            ),
            (
                OciError::Unreachable {
                    reference: r(),
                    destination: "registry.example:443".into(),
                    problem: "cannot resolve".into(),
                },
                502,
                "registry_unreachable",
            ),
            (
                OciError::Registry {
                    reference: r(),
                    message: "x".into(),
                },
                502,
                "registry_error",
            ),
            (
                OciError::Timeout {
                    reference: r(),
                    secs: 1,
                },
                504,
                "registry_timeout",
            ),
        ] {
            let answer = refused(e);
            assert_eq!((answer.status.as_u16(), answer.code), (status, code));
            assert!(
                doc.contains(&format!("`{status} {code}`")),
                "docs/distribution.md does not list `{status} {code}`"
            );
        }
    }
}
