//! JWT bearer tokens from an organization's identity providers (`[[auth.oidc]]` in the
//! server's config file), checked with `jsonwebtoken`: the signature against the issuer's JWKS,
//! `iss`, `aud`, `exp`, `nbf` and `iat` (with the issuer's clock skew), and only the algorithms
//! configured for it, which can only be public-key ones (RS256, ES256, EdDSA): never `none`,
//! never an HMAC algorithm, so a token "signed" with the issuer's public key as an HMAC secret
//! is refused before any key is used. A configured claim maps the token to cordon roles; a
//! token that maps to none is refused (403), distinct from an invalid one (401).
//!
//! [`Verifier`] holds every configured issuer; `auth.rs` hands it each bearer token that is not
//! a cordon API key.

use cordon_core::Role;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// One identity provider, as configured.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// Exactly the tokens' `iss`.
    pub issuer: String,
    /// A token's `aud` must name one of these.
    pub audiences: Vec<String>,
    /// Where the issuer's keys are: an `https://` URL (fetched and cached) or a file path.
    pub jwks: String,
    /// A PEM file of the CA certificates the JWKS host's certificate must chain to, for an
    /// identity provider on a private CA [default: the public web's roots, webpki].
    #[serde(default)]
    pub jwks_ca: Option<PathBuf>,
    /// Accepted signature algorithms [default: RS256, ES256, EdDSA].
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// Seconds of clock difference tolerated on `exp`, `nbf` and `iat` [default: 60].
    #[serde(default = "default_skew")]
    pub clock_skew_secs: u64,
    /// The claim holding the caller's groups or roles: a string or an array of strings.
    pub role_claim: String,
    /// Claim value -> cordon role.
    pub roles: BTreeMap<String, Role>,
    /// The web console's client id at this issuer: a public client (no secret) that signs in
    /// with the authorization code flow and PKCE (`docs/console.md`). Absent: the console
    /// offers no sign-in through this issuer.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Where the console sends the browser to sign in [default: the issuer's discovery
    /// document, `authorization_endpoint`].
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// Where the console exchanges the code for a token [default: the discovery document's
    /// `token_endpoint`].
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// Scopes the console asks for [default: `openid`].
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
}

fn default_algorithms() -> Vec<String> {
    vec!["RS256".into(), "ES256".into(), "EdDSA".into()]
}

/// A minute: the usual allowance between an identity provider's clock and ours.
fn default_skew() -> u64 {
    60
}

/// Why a token is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a token any configured issuer signed, or not valid now (401).
    #[error("invalid token: {0}")]
    Invalid(String),
    /// Valid, but its claims map to no cordon role (403).
    #[error("the token's {claim} claim maps to no cordon role")]
    NoRole { claim: String },
    /// Its key is not among the cached ones and a refresh is allowed now: check it again with
    /// [`Verifier::verify`], off the async workers (it fetches the keys).
    #[error("invalid token: its key is not in the issuer's key set")]
    KeyNotCached,
}

/// Who a valid token says the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    /// A name to show beside the subject: `preferred_username`, `email` or `name` when the
    /// token has one, else the subject.
    pub name: String,
    /// Every cordon role the token's claim maps to.
    pub roles: BTreeSet<Role>,
    /// The mapped claim values (groups), as given.
    pub groups: Vec<String>,
    /// When the token stops verifying: its `exp` plus the issuer's clock skew (seconds since
    /// the Unix epoch).
    pub expires_at_secs: u64,
    /// Every claim of the token, as signed.
    pub claims: std::sync::Arc<serde_json::Map<String, serde_json::Value>>,
}

/// The claims read from a token (after its signature and times are checked).
#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    #[serde(default)]
    iat: Option<u64>,
    #[serde(flatten)]
    rest: BTreeMap<String, serde_json::Value>,
}

/// An issuer with its allowed algorithms and its keys.
pub struct Issuer {
    config: IssuerConfig,
    /// Roots for the JWKS host (`jwks_ca`), when not the public ones.
    roots: Option<Vec<ureq::tls::Certificate<'static>>>,
    algorithms: Vec<Algorithm>,
    keys: std::sync::RwLock<KeyState>,
}

/// An issuer's cached keys.
struct KeyState {
    set: JwkSet,
    /// When a fetch was last tried.
    tried: Option<Instant>,
    /// When one last succeeded.
    fetched: Option<Instant>,
}

/// How often the keys are fetched again without being asked (a key the issuer removed stops
/// being accepted within this time).
pub const REFRESH_EVERY: Duration = Duration::from_secs(600);

/// How long cached keys stay trusted after the last successful fetch while the issuer cannot
/// be reached: a day rides out an identity provider's outage; past it, its tokens are refused.
pub const KEYS_TRUSTED_FOR: Duration = Duration::from_secs(86_400);

/// The least time between two fetches of an issuer's keys for an unknown `kid`: a flood of
/// tokens with made-up key ids costs one fetch a minute, not one per token.
pub const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(60);

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// Checks the configuration and loads the keys. Refuses an algorithm that is not a
    /// public-key one.
    pub fn new(config: IssuerConfig) -> Result<Self, String> {
        let mut algorithms = Vec::new();
        for name in &config.algorithms {
            let alg = match name.as_str() {
                "RS256" => Algorithm::RS256,
                "ES256" => Algorithm::ES256,
                "EdDSA" => Algorithm::EdDSA,
                other => {
                    return Err(format!(
                        "auth.oidc {}: algorithm {other:?} is not accepted (RS256, ES256 or EdDSA: public-key signatures only)",
                        config.issuer
                    ));
                }
            };
            algorithms.push(alg);
        }
        if config.audiences.is_empty() {
            return Err(format!(
                "auth.oidc {}: audiences is empty; name this server's audience, or any token the issuer signs for anyone would pass",
                config.issuer
            ));
        }
        if config.issuer.contains('#') {
            return Err(format!(
                "auth.oidc {}: an issuer identifier has no fragment (#)",
                config.issuer
            ));
        }
        if config.roles.is_empty() {
            return Err(format!(
                "auth.oidc {}: roles is empty; map at least one value of {} to a cordon role",
                config.issuer, config.role_claim
            ));
        }
        for (what, url) in [
            ("authorization_endpoint", &config.authorization_endpoint),
            ("token_endpoint", &config.token_endpoint),
        ] {
            if let Some(url) = url
                && !console_endpoint_ok(url)
            {
                return Err(format!(
                    "auth.oidc {}: {what} {url:?} must be an https:// URL (http:// only on a loopback address): the browser sends the code and gets the token there",
                    config.issuer
                ));
            }
        }
        let roots = match &config.jwks_ca {
            None => None,
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    format!(
                        "auth.oidc {}: cannot read jwks_ca {}: {e}",
                        config.issuer,
                        path.display()
                    )
                })?;
                let certs: Vec<_> = ureq::tls::parse_pem(&pem)
                    .filter_map(|item| match item {
                        Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                        _ => None,
                    })
                    .collect();
                if certs.is_empty() {
                    return Err(format!(
                        "auth.oidc {}: jwks_ca {} holds no PEM certificate",
                        config.issuer,
                        path.display()
                    ));
                }
                Some(certs)
            }
        };
        // A JWKS file that cannot be read is a configuration mistake; an identity provider that
        // does not answer now may answer in a minute, so the server starts and keeps trying.
        let state = match fetch(&config.jwks, roots.as_deref()) {
            // The start's own fetch does not count against the refresh bound: a key the
            // issuer rotated in just after is found by the first token naming it.
            Ok(set) => KeyState {
                set,
                tried: None,
                fetched: Some(Instant::now()),
            },
            Err(e) if config.jwks.starts_with("https://") => {
                tracing::error!(target: "cordon::security", issuer = config.issuer, error = e, "cannot fetch the issuer's keys; its tokens are refused until they can be fetched (tried again on the next token, at most once a minute)");
                KeyState {
                    set: JwkSet { keys: Vec::new() },
                    tried: None,
                    fetched: None,
                }
            }
            Err(e) => return Err(format!("auth.oidc {}: {e}", config.issuer)),
        };
        Ok(Issuer {
            config,
            roots,
            algorithms,
            keys: std::sync::RwLock::new(state),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    fn state(&self) -> std::sync::RwLockReadGuard<'_, KeyState> {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn key(&self, kid: Option<&str>) -> Option<jsonwebtoken::jwk::Jwk> {
        let guard = self.state();
        // Keys not confirmed for too long are not trusted any more (an issuer that removed a
        // compromised key, while we could not reach it, must not have it honoured for ever).
        if guard
            .fetched
            .is_none_or(|at| at.elapsed() > KEYS_TRUSTED_FOR)
        {
            return None;
        }
        match kid {
            Some(kid) => guard.set.find(kid).cloned(),
            // Without a kid, only an issuer with one key can say which it is.
            None if guard.set.keys.len() == 1 => guard.set.keys.first().cloned(),
            None => None,
        }
    }

    /// Fetches the keys again, unless that was tried less than [`REFRESH_AT_MOST_EVERY`] ago.
    /// An unreachable JWKS keeps the keys there are (for [`KEYS_TRUSTED_FOR`] after they were
    /// last fetched). Blocking.
    pub fn refresh(&self) {
        {
            // Claimed under the write lock before fetching: of many requests naming unknown
            // keys at once, one fetches and the others are refused at once, instead of each
            // holding a blocking thread through a slow identity provider's timeout.
            let mut guard = self
                .keys
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if guard
                .tried
                .is_some_and(|at| at.elapsed() < REFRESH_AT_MOST_EVERY)
            {
                return;
            }
            guard.tried = Some(Instant::now());
        }
        let fetched = fetch(&self.config.jwks, self.roots.as_deref());
        let mut guard = self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match fetched {
            Ok(keys) => {
                guard.set = keys;
                guard.fetched = Some(Instant::now());
            }
            Err(e) => {
                tracing::warn!(target: "cordon::security", issuer = self.config.issuer, error = e, "cannot refresh the issuer's keys; keeping the ones cached")
            }
        }
    }

    /// Checks `token`, signed by this issuer. Blocking (it may fetch the keys once).
    pub fn verify(&self, token: &str, now_secs: u64) -> Result<Identity, TokenError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| TokenError::Invalid(format!("header: {e}")))?;
        self.verify_with(token, &header, now_secs, true)
    }

    /// Checks `token` (whose header is `header`). Without `may_fetch`, a key that is not cached
    /// is [`TokenError::KeyNotCached`] when a refresh is allowed now, and nothing blocks.
    fn verify_with(
        &self,
        token: &str,
        header: &jsonwebtoken::Header,
        now_secs: u64,
        may_fetch: bool,
    ) -> Result<Identity, TokenError> {
        let invalid = |why: String| TokenError::Invalid(why);
        if !self.algorithms.contains(&header.alg) {
            return Err(invalid(format!(
                "algorithm {:?} is not accepted for {}",
                header.alg, self.config.issuer
            )));
        }
        let jwk = match self.key(header.kid.as_deref()) {
            Some(k) => k,
            None => {
                let may_refresh = self
                    .state()
                    .tried
                    .is_none_or(|at| at.elapsed() >= REFRESH_AT_MOST_EVERY);
                match (may_fetch, may_refresh) {
                    (true, _) => self.refresh(),
                    (false, true) => return Err(TokenError::KeyNotCached),
                    (false, false) => {}
                }
                self.key(header.kid.as_deref()).ok_or_else(|| {
                    invalid(format!(
                        "no key {:?} in the issuer's key set",
                        header.kid.as_deref().unwrap_or("(none given)")
                    ))
                })?
            }
        };
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| invalid(format!("key: {e}")))?;
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&self.config.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.config.clock_skew_secs;
        validation.validate_nbf = true;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| invalid(explain(&e)))?;
        let claims = data.claims;
        if claims
            .iat
            .is_some_and(|iat| iat > now_secs + self.config.clock_skew_secs)
        {
            return Err(invalid("issued in the future (iat)".into()));
        }
        let groups: Vec<String> = match role_claim(&claims.rest, &self.config.role_claim) {
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        let roles: BTreeSet<Role> = groups
            .iter()
            .filter_map(|g| self.config.roles.get(g).copied())
            .collect();
        if roles.is_empty() {
            return Err(TokenError::NoRole {
                claim: self.config.role_claim.clone(),
            });
        }
        let name = ["preferred_username", "email", "name"]
            .iter()
            .find_map(|c| claims.rest.get(*c).and_then(|v| v.as_str()))
            .filter(|n| !n.is_empty() && n.len() <= 256 && !n.chars().any(char::is_control))
            .unwrap_or(&claims.sub)
            .to_owned();
        // Required and checked by the validation above (a number, maybe with a fraction).
        let exp = claims
            .rest
            .get("exp")
            .and_then(|v| v.as_u64().or_else(|| v.as_f64().map(|f| f.max(0.0) as u64)))
            .unwrap_or(0);
        let mut all: serde_json::Map<String, serde_json::Value> = claims.rest.into_iter().collect();
        all.insert("iss".into(), claims.iss.clone().into());
        all.insert("sub".into(), claims.sub.clone().into());
        if let Some(iat) = claims.iat {
            all.insert("iat".into(), iat.into());
        }
        Ok(Identity {
            claims: std::sync::Arc::new(all),
            issuer: claims.iss,
            subject: claims.sub,
            name,
            roles,
            groups,
            expires_at_secs: exp.saturating_add(self.config.clock_skew_secs),
        })
    }
}

/// Whether `url` may be a console sign-in endpoint: HTTPS, or plain HTTP to a loopback
/// address (an identity provider on the operator's own machine).
pub fn console_endpoint_ok(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if !h.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    };
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// How the web console signs in through an issuer (when it has a `client_id`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConsoleClient {
    pub issuer: String,
    pub client_id: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub scopes: Vec<String>,
}

impl Issuer {
    /// The console's sign-in at this issuer, its endpoints read from the issuer's discovery
    /// document when not configured. Blocking when it has to fetch; `None` without a
    /// `client_id`.
    pub fn console_client(&self) -> Option<Result<ConsoleClient, String>> {
        let c = &self.config;
        let client_id = c.client_id.clone()?;
        let endpoints = match (&c.authorization_endpoint, &c.token_endpoint) {
            (Some(a), Some(t)) => Ok((a.clone(), t.clone())),
            (a, t) => discover(&c.issuer, self.roots.as_deref())
                .map(|(da, dt)| (a.clone().unwrap_or(da), t.clone().unwrap_or(dt))),
        };
        Some(
            endpoints.and_then(|(authorization_endpoint, token_endpoint)| {
                for url in [&authorization_endpoint, &token_endpoint] {
                    if !console_endpoint_ok(url) {
                        return Err(format!(
                            "the discovery document names {url:?}, which is not https://"
                        ));
                    }
                }
                Ok(ConsoleClient {
                    issuer: c.issuer.clone(),
                    client_id,
                    authorization_endpoint,
                    token_endpoint,
                    scopes: c.scopes.clone().unwrap_or_else(|| vec!["openid".into()]),
                })
            }),
        )
    }
}

/// The authorization and token endpoints from an issuer's OpenID discovery document (fetched
/// over HTTPS only, no redirects, 64 KiB at most).
fn discover(
    issuer: &str,
    roots: Option<&[ureq::tls::Certificate<'static>]>,
) -> Result<(String, String), String> {
    #[derive(Deserialize)]
    struct Discovery {
        issuer: String,
        authorization_endpoint: String,
        token_endpoint: String,
    }
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    if !url.starts_with("https://") {
        return Err(format!(
            "the issuer {issuer} is not https://: configure authorization_endpoint and token_endpoint"
        ));
    }
    let text = https_get(&url, roots, 64 << 10)?;
    let d: Discovery = serde_json::from_str(&text)
        .map_err(|e| format!("{url} is not a discovery document: {e}"))?;
    // OpenID Connect Discovery 1.0 section 4.3: the document must name the issuer it was
    // fetched for, or its endpoints may be another issuer's (a mix-up).
    if d.issuer != issuer {
        return Err(format!(
            "{url} names the issuer {:?}, not {issuer:?}",
            d.issuer
        ));
    }
    Ok((d.authorization_endpoint, d.token_endpoint))
}

/// GETs `url` over HTTPS (the given roots, or the public ones) with no redirects, at most
/// `limit` bytes, within 10 s.
fn https_get(
    url: &str,
    roots: Option<&[ureq::tls::Certificate<'static>]>,
    limit: u64,
) -> Result<String, String> {
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(roots) = roots {
        tls = tls.root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(
            roots.to_vec(),
        )));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        // Keys and endpoints come from where the operator said, not from wherever a redirect
        // points.
        .max_redirects(0)
        .tls_config(tls.build())
        .build()
        .into();
    agent
        .get(url)
        .call()
        .map_err(|e| format!("cannot fetch {url}: {e}"))?
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_string()
        .map_err(|e| format!("cannot read {url}: {e}"))
}

/// Reads a JWKS from a file, or fetches it over HTTPS (never plain HTTP: keys fetched in clear
/// could be anyone's).
fn fetch(
    location: &str,
    roots: Option<&[ureq::tls::Certificate<'static>]>,
) -> Result<JwkSet, String> {
    let text = if location.starts_with("https://") {
        https_get(location, roots, 1 << 20).map_err(|e| format!("the JWKS: {e}"))?
    } else if location.starts_with("http://") {
        return Err(format!(
            "the JWKS {location} is plain HTTP: keys must come over HTTPS, or from a file"
        ));
    } else {
        let path = PathBuf::from(location);
        std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read the JWKS {location}: {e}"))?
    };
    serde_json::from_str(&text).map_err(|e| format!("the JWKS {location} is not a key set: {e}"))
}

/// A refusal from `jsonwebtoken`, in words a caller can act on.
fn explain(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => "expired (exp); get a new token".into(),
        K::ImmatureSignature => "not valid yet (nbf)".into(),
        K::InvalidAudience => {
            "not issued for this server (aud names another audience or resource)".into()
        }
        K::InvalidIssuer => "wrong issuer (iss)".into(),
        K::InvalidSignature => "the signature does not match the token".into(),
        K::MissingRequiredClaim(c) => format!("the {c} claim is missing"),
        _ => e.to_string(),
    }
}

/// Every configured issuer.
#[derive(Debug, Default)]
pub struct Verifier {
    issuers: Vec<Issuer>,
}

impl Verifier {
    /// Checks every issuer's configuration and loads its keys. Blocking (it fetches each JWKS).
    pub fn new(configs: Vec<IssuerConfig>) -> Result<Self, String> {
        let mut issuers: Vec<Issuer> = Vec::with_capacity(configs.len());
        for config in configs {
            if issuers.iter().any(|i| i.issuer() == config.issuer) {
                return Err(format!(
                    "auth.oidc {}: configured twice; one [[auth.oidc]] per issuer",
                    config.issuer
                ));
            }
            issuers.push(Issuer::new(config)?);
        }
        Ok(Verifier { issuers })
    }

    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    /// The configured issuers' identifiers (the authorization servers a client may use).
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.issuers.iter().map(Issuer::issuer)
    }

    /// The issuer `token` names, and its header (decoded once per check).
    fn issuer_of(&self, token: &str) -> Result<(&Issuer, jsonwebtoken::Header), TokenError> {
        // The header first: `alg: none` and unknown algorithms stop here.
        let header = jsonwebtoken::decode_header(token).map_err(|e| {
            TokenError::Invalid(format!(
                "not a JWT signed with an accepted algorithm (RS256, ES256, EdDSA; never none): {e}"
            ))
        })?;
        let claimed = claimed_issuer(token)
            .ok_or_else(|| TokenError::Invalid("not a JWT with an iss claim".into()))?;
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.issuer() == claimed)
            .ok_or_else(|| TokenError::Invalid(format!("issuer {claimed:?} is not configured")))?;
        Ok((issuer, header))
    }

    /// Fetches every issuer's keys again (each at most once a minute). Blocking.
    pub fn refresh_all(&self) {
        for issuer in &self.issuers {
            issuer.refresh();
        }
    }

    /// Checks `token` with the issuer it names. Blocking: it may fetch the issuer's keys.
    pub fn verify(&self, token: &str, now_secs: u64) -> Result<Identity, TokenError> {
        let (issuer, header) = self.issuer_of(token)?;
        issuer.verify_with(token, &header, now_secs, true)
    }

    /// Checks `token` with the keys cached now, never blocking:
    /// [`TokenError::KeyNotCached`] says to check it again with [`Self::verify`].
    pub fn verify_cached(&self, token: &str, now_secs: u64) -> Result<Identity, TokenError> {
        let (issuer, header) = self.issuer_of(token)?;
        issuer.verify_with(token, &header, now_secs, false)
    }

    /// The console's sign-in at each issuer that has a `client_id` (blocking: it may fetch
    /// discovery documents); an issuer whose endpoints cannot be found is given with why.
    pub fn console_clients(&self) -> Vec<(String, Result<ConsoleClient, String>)> {
        self.issuers
            .iter()
            .filter_map(|i| Some((i.issuer().to_owned(), i.console_client()?)))
            .collect()
    }

    /// Each configured issuer's identifier and accepted audiences.
    pub fn audiences(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.issuers
            .iter()
            .map(|i| (i.issuer(), i.config.audiences.as_slice()))
    }
}

/// The role claim's value: the claim of exactly that name (namespaced claims such as
/// `https://example.com/roles` contain dots), else a dotted path into nested objects (Keycloak's
/// `realm_access.roles`).
fn role_claim<'a>(
    claims: &'a BTreeMap<String, serde_json::Value>,
    name: &str,
) -> Option<&'a serde_json::Value> {
    if let Some(v) = claims.get(name) {
        return Some(v);
    }
    let mut parts = name.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.get(part)?;
    }
    Some(value)
}

/// The issuer a token names in `iss`, read without trusting anything else in it (the
/// signature is checked by that issuer's keys, and `iss` again, in [`Issuer::verify`]).
pub fn claimed_issuer(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Iss {
        iss: String,
    }
    jsonwebtoken::dangerous::insecure_decode::<Iss>(token)
        .ok()
        .map(|d| d.claims.iss)
}

#[cfg(test)]
#[path = "oidc_tests.rs"]
mod tests;
