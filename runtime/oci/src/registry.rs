//! Push and pull through the OCI distribution protocol (`oci-client`: blobs, manifests, and the
//! registry's Basic or Bearer token flow), with what cordon adds on top: nothing but HTTPS
//! unless a registry is named as insecure, every digest checked again here (the manifest's
//! against the pin, the layer's against the manifest), the component's size bounded before and
//! while it is read, and the whole operation bounded in time.

use crate::artifact::{self, Artifact, MANIFEST_MEDIA_TYPE, digest_of};
use crate::egress::{AddressRules, Bounds, Egress, Note};
use crate::error::OciError;
use crate::reference::OciRef;
use futures_util::StreamExt;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{DigestError, OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, RegistryOperation};
use std::time::Duration;

/// How long a push or pull may take in all unless configured: a component of tens of megabytes
/// over a slow link, not a registry that stopped answering.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// The largest component a pull takes unless configured: the server's default upload limit
/// (`max_upload_bytes`), so a registry is no way around it.
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// How to reach registries. The defaults are the safe ones: HTTPS with the system's roots only,
/// [`DEFAULT_TIMEOUT`], [`DEFAULT_MAX_BYTES`].
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Registries (`host` or `host:port`, exactly as in references) reached over plain HTTP.
    /// Empty by default: a registry is HTTPS unless named here.
    pub insecure: Vec<String>,
    /// PEM certificates trusted as roots besides the system's (a private registry's CA).
    pub extra_ca_pem: Vec<Vec<u8>>,
    pub timeout: Duration,
    pub max_bytes: u64,
    /// When set, every connection of the operation (to the registry, its token realm, and any
    /// host a download is redirected to) goes through a guard that connects only to addresses
    /// these rules allow (`egress.rs`). A server sets it; a person pushing from their own
    /// machine does not need it. `None` by default.
    pub addresses: Option<AddressRules>,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            insecure: Vec::new(),
            extra_ca_pem: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            max_bytes: DEFAULT_MAX_BYTES,
            addresses: None,
        }
    }
}

/// Who to be at the registry. A Bearer token, where the registry wants one, is fetched with
/// these through the registry's token flow.
#[derive(Clone)]
pub enum Credentials {
    Anonymous,
    Basic { username: String, password: String },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .finish_non_exhaustive(),
        }
    }
}

impl Credentials {
    fn auth(&self) -> RegistryAuth {
        match self {
            Credentials::Anonymous => RegistryAuth::Anonymous,
            Credentials::Basic { username, password } => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
        }
    }
}

/// A pushed artifact: where it is, pinned by its manifest digest.
#[derive(Debug)]
pub struct Pushed {
    pub reference: OciRef,
    pub manifest_digest: String,
    pub size: u64,
}

/// A pulled component, and the reference pinned to the manifest it came from.
#[derive(Debug)]
pub struct Pulled {
    pub component: Vec<u8>,
    pub reference: OciRef,
    pub manifest_digest: String,
}

fn client(
    reference: &OciRef,
    options: &RegistryOptions,
    proxy: Option<&str>,
) -> Result<Client, OciError> {
    // The process's TLS provider is ring, as everywhere in cordon; installing it twice is a
    // no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = ClientConfig {
        protocol: if options.insecure.is_empty() {
            ClientProtocol::Https
        } else {
            ClientProtocol::HttpsExcept(options.insecure.clone())
        },
        extra_root_certificates: options
            .extra_ca_pem
            .iter()
            .map(|pem| Certificate {
                encoding: CertificateEncoding::Pem,
                data: pem.clone(),
            })
            .collect(),
        connect_timeout: Some(Duration::from_secs(10)),
        read_timeout: Some(options.timeout),
        // An index (a multi-platform list) is not a component: refuse it rather than pick one.
        platform_resolver: None,
        // Through the guard when there is one (both schemes: an insecure registry too); with
        // none, the client's own choice (the environment's proxy settings).
        https_proxy: proxy.map(str::to_owned),
        http_proxy: proxy.map(str::to_owned),
        no_proxy: None,
        ..ClientConfig::default()
    };
    // `Client::new` would fall back to a default client (system roots only, HTTPS) if this
    // configuration is unusable; refuse instead.
    Client::try_from(config).map_err(|e| OciError::Registry {
        reference: reference.to_string(),
        message: format!("cannot set up the registry client: {e}"),
    })
}

/// Names the failure the way an operator can act on it; never carries credentials, and what
/// the registry wrote is cut to [`MAX_REGISTRY_TEXT`] bytes.
fn failed(reference: &OciRef, e: OciDistributionError) -> OciError {
    match failed_whole(reference, e) {
        OciError::Unauthorized { reference, message } => OciError::Unauthorized {
            reference,
            message: clip(message),
        },
        OciError::Registry { reference, message } => OciError::Registry {
            reference,
            message: clip(message),
        },
        other => other,
    }
}

/// The most of a registry's own text (an error body, a challenge) quoted in an error.
const MAX_REGISTRY_TEXT: usize = 512;

fn clip(mut text: String) -> String {
    if text.len() > MAX_REGISTRY_TEXT {
        let mut end = MAX_REGISTRY_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(" [...]");
    }
    text
}

fn failed_whole(reference: &OciRef, e: OciDistributionError) -> OciError {
    let reference = reference.to_string();
    match e {
        OciDistributionError::AuthenticationFailure(message) => {
            OciError::Unauthorized { reference, message }
        }
        OciDistributionError::UnauthorizedError { .. } => OciError::Unauthorized {
            reference,
            message: "credentials missing or refused".into(),
        },
        OciDistributionError::ImageManifestNotFoundError(_) => OciError::NotFound { reference },
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            if codes.iter().any(|c| {
                matches!(
                    c,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::BlobUnknown
                        | OciErrorCode::NotFound
                )
            }) {
                OciError::NotFound { reference }
            } else if codes
                .iter()
                .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
            {
                OciError::Unauthorized {
                    reference,
                    message: envelope.to_string(),
                }
            } else {
                OciError::Registry {
                    reference,
                    message: envelope.to_string(),
                }
            }
        }
        OciDistributionError::ServerError { code: 404, .. } => OciError::NotFound { reference },
        OciDistributionError::ServerError {
            code: 401 | 403,
            message,
            ..
        } => OciError::Unauthorized { reference, message },
        other => OciError::Registry {
            reference,
            message: with_causes(&other),
        },
    }
}

/// An error and its causes, each said once: the client library's "error sending request" says
/// what failed only in its sources (a name that does not resolve, a refused connection, a
/// certificate not trusted).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

async fn bounded<T>(
    reference: &OciRef,
    options: &RegistryOptions,
    work: impl Future<Output = Result<T, OciError>>,
) -> Result<T, OciError> {
    tokio::time::timeout(options.timeout, work)
        .await
        .unwrap_or_else(|_| {
            Err(OciError::Timeout {
                reference: reference.to_string(),
                secs: options.timeout.as_secs(),
            })
        })
}

/// Pushes a signed component to `reference` (its tag, or the signed version when it names
/// none) as a Wasm OCI artifact: the layer, the config, then the manifest.
pub async fn push(
    reference: &OciRef,
    component: &[u8],
    credentials: &Credentials,
    options: &RegistryOptions,
) -> Result<Pushed, OciError> {
    if reference.digest.is_some() {
        return Err(OciError::Reference(format!(
            "{reference}: push to a tag, not a digest (the digest is the registry's answer)"
        )));
    }
    let section = cordon_trust::find_signature(component)
        .map_err(|e| OciError::NotSigned(format!("the file's signature section is broken: {e}")))?
        .ok_or_else(|| {
            OciError::NotSigned(
                "the file is not signed: sign it first (`cordon sign TOOL.wasm --key KEY.pem`)"
                    .into(),
            )
        })?;
    let statement = &section.statement;
    let reference = match &reference.tag {
        Some(_) => reference.clone(),
        None => reference.tagged(&statement.version),
    };
    let created = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + Duration::from_secs(statement.signed_at),
    )
    .to_string();
    let Artifact {
        manifest,
        manifest_digest,
        config,
        config_digest,
        layer_digest,
    } = artifact::build(component, &statement.name, &statement.version, &created)?;
    let guard = guard(&reference, options).await?;
    let client = client(&reference, options, guard.as_ref().map(Egress::url))?;
    let target = reference.client_ref();
    let auth = credentials.auth();
    let fail = |e| failed(&reference, e);
    bounded(&reference, options, async {
        client
            .auth(&target, &auth, RegistryOperation::Push)
            .await
            .map_err(fail)?;
        client
            .push_blob(&target, component.to_vec(), &layer_digest)
            .await
            .map_err(fail)?;
        client
            .push_blob(&target, config, &config_digest)
            .await
            .map_err(fail)?;
        client
            .push_manifest_raw(
                &target,
                manifest,
                http::HeaderValue::from_static(MANIFEST_MEDIA_TYPE),
            )
            .await
            .map_err(fail)?;
        Ok(())
    })
    .await
    .map_err(|e| explained(&reference, options, guard.as_ref(), e))?;
    Ok(Pushed {
        reference: reference.pinned(&manifest_digest),
        manifest_digest,
        size: component.len() as u64,
    })
}

/// Pulls the component `reference` names: the manifest (its digest computed here and checked
/// against the reference's pin), then the one component layer, streamed up to its declared
/// size and [`RegistryOptions::max_bytes`], and its digest checked here too.
///
/// The pull runs as a task of its own: should the registry client panic on an answer (it has
/// been seen to, on a token that is not a valid header value), the pull fails with a registry
/// error instead of taking its caller down.
pub async fn pull(
    reference: &OciRef,
    credentials: &Credentials,
    options: &RegistryOptions,
) -> Result<Pulled, OciError> {
    /// Stops the pull's task when the caller stops waiting for it.
    struct AbortOnDrop(tokio::task::JoinHandle<Result<Pulled, OciError>>);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let (r, c, o) = (reference.clone(), credentials.clone(), options.clone());
    let mut task = AbortOnDrop(tokio::spawn(async move { pull_here(&r, &c, &o).await }));
    match (&mut task.0).await {
        Ok(pulled) => pulled,
        Err(e) => Err(OciError::Registry {
            reference: reference.to_string(),
            message: if e.is_panic() {
                "the registry's answers broke the registry client".into()
            } else {
                "the pull was stopped".into()
            },
        }),
    }
}

async fn pull_here(
    reference: &OciRef,
    credentials: &Credentials,
    options: &RegistryOptions,
) -> Result<Pulled, OciError> {
    let guard = guard(reference, options).await?;
    let client = client(reference, options, guard.as_ref().map(Egress::url))?;
    let auth = credentials.auth();
    let fail = |e| failed(reference, e);
    let shown = reference.to_string();
    bounded(reference, options, async {
        let (manifest, _) = client
            .pull_manifest_raw(&reference.client_ref(), &auth, &[MANIFEST_MEDIA_TYPE])
            .await
            .map_err(|e| match e {
                // The client checks the manifest against the pin (and the registry's
                // `Docker-Content-Digest`) before this code sees it.
                OciDistributionError::DigestError(DigestError::VerificationError {
                    expected,
                    actual,
                }) => OciError::Digest {
                    reference: shown.clone(),
                    what: "the manifest",
                    expected,
                    actual,
                },
                other => fail(other),
            })?;
        let manifest_digest = digest_of(&manifest);
        if let Some(pin) = &reference.digest
            && *pin != manifest_digest
        {
            return Err(OciError::Digest {
                reference: shown.clone(),
                what: "the manifest",
                expected: pin.clone(),
                actual: manifest_digest,
            });
        }
        let layer = artifact::component_layer(&shown, &manifest)?;
        if layer.size > options.max_bytes {
            return Err(OciError::TooLarge {
                reference: shown.clone(),
                size: layer.size,
                limit: options.max_bytes,
            });
        }
        let pinned = reference.pinned(&manifest_digest);
        // The digest as a string, never the descriptor: a descriptor's `urls` would send the
        // client to hosts the manifest names.
        let blob = client
            .pull_blob_stream(&pinned.client_ref(), layer.digest.as_str())
            .await
            .map_err(fail)?;
        let mut stream = blob.stream;
        let mut component = Vec::with_capacity(layer.size.min(options.max_bytes) as usize);
        let mut broke = None;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => {
                    if component.len() as u64 + bytes.len() as u64 > layer.size {
                        return Err(OciError::Digest {
                            reference: shown.clone(),
                            what: "the component layer",
                            expected: format!("{} ({} bytes)", layer.digest, layer.size),
                            actual: "more bytes than the manifest declares".into(),
                        });
                    }
                    component.extend_from_slice(&bytes);
                }
                Err(e) => {
                    broke = Some(e);
                    break;
                }
            }
        }
        let actual = digest_of(&component);
        if component.len() as u64 == layer.size && actual != layer.digest {
            return Err(OciError::Digest {
                reference: shown.clone(),
                what: "the component layer",
                expected: layer.digest,
                actual,
            });
        }
        if let Some(e) = broke {
            return Err(OciError::Registry {
                reference: shown.clone(),
                message: format!("the download of the component broke off: {e}"),
            });
        }
        if actual != layer.digest {
            return Err(OciError::Digest {
                reference: shown.clone(),
                what: "the component layer",
                expected: layer.digest,
                actual: format!("{actual} ({} of {} bytes)", component.len(), layer.size),
            });
        }
        Ok(Pulled {
            component,
            reference: pinned,
            manifest_digest,
        })
    })
    .await
    .map_err(|e| explained(reference, options, guard.as_ref(), e))
}

/// The address guard the options ask for, started.
async fn guard(reference: &OciRef, options: &RegistryOptions) -> Result<Option<Egress>, OciError> {
    match &options.addresses {
        None => Ok(None),
        Some(rules) => {
            let bounds = Bounds {
                // The component, plus room for the manifest, the config, token answers and
                // error bodies (a registry's answers besides the layer are kilobytes).
                budget: options.max_bytes.saturating_add(EXTRA_BYTES),
                plain_http_with_credentials: options.insecure.clone(),
            };
            Egress::start(rules.clone(), bounds)
                .await
                .map(Some)
                .map_err(|e| OciError::Registry {
                    reference: reference.to_string(),
                    message: format!("cannot start the address guard on loopback: {e}"),
                })
        }
    }
}

/// Bytes a guarded pull may bring back beyond the component's limit, for everything else
/// (manifest, config, token answers, error bodies): 1 MiB.
const EXTRA_BYTES: u64 = 1024 * 1024;

/// A failure the guard explains is reported as what the guard did, whatever the client library
/// made of its answer: a destination it refused (whatever else failed after), the pull's byte
/// budget spent, a host it could not resolve or connect to, or a redirect from HTTPS to plain
/// HTTP it did not let through (the client sees a `403`, a `407`, a `502` or a tunnel that did
/// not open).
fn explained(
    reference: &OciRef,
    options: &RegistryOptions,
    guard: Option<&Egress>,
    e: OciError,
) -> OciError {
    let Some(guard) = guard else {
        return e;
    };
    let reference = reference.to_string();
    let note = guard.explanation();
    if let Some(Note::Refused { destination, why }) = note {
        return OciError::Address {
            reference,
            destination: format!("{destination}: {why}"),
        };
    }
    if let Some(received) = guard.over_budget() {
        return OciError::TooLarge {
            reference,
            size: received,
            limit: options.max_bytes.saturating_add(EXTRA_BYTES),
        };
    }
    // Only a failure of the connection's kind is the guard's doing; a registry's own answer
    // (not found, a digest, a layout) stands.
    let transport = matches!(
        e,
        OciError::Registry { .. } | OciError::Unauthorized { .. } | OciError::Timeout { .. }
    );
    match note {
        Some(Note::Unresolved { destination, why }) if transport => OciError::Unreachable {
            problem: format!(
                "cannot resolve the host name of {destination} ({why}); check the host in the reference (or in the registry's redirect or token service), and that the server's DNS resolves it"
            ),
            reference,
            destination,
        },
        Some(Note::NoConnection { destination, why }) if transport => OciError::Unreachable {
            problem: format!(
                "cannot connect to {destination} ({why}); check that the registry runs and listens on that port, and that the server's network lets the connection through"
            ),
            reference,
            destination,
        },
        Some(Note::Uncredentialed { destination }) if matches!(e, OciError::Registry { .. }) => {
            OciError::Registry {
                reference,
                message: format!(
                    "the registry redirected the pull from HTTPS to plain HTTP on {destination}, which a pull does not follow; the registry must redirect to HTTPS"
                ),
            }
        }
        _ => e,
    }
}
