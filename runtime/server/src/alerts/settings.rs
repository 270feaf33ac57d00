//! `[[alerts.webhook]]` in the server's config file: where alerts go.
//!
//! ```toml
//! [[alerts.webhook]]
//! name = "ops"                                  # in the deliveries' state; default: its host
//! url = "https://hooks.example.com/cordon"
//! secret = "ops-webhook"                        # a name in the secret store: whsec_ and base64
//! allow_private = false                         # loopback and private addresses refused
//! ```
//!
//! Deny by default: a webhook URL resolving to a loopback, private, link-local or otherwise
//! non-public address is refused at each attempt (the same address rules as a tool's egress),
//! unless `allow_private` says the operator means it (a receiver on the same host or network).

use cordon_storage::secrets::SecretStore;
use serde::Deserialize;

/// The `[alerts]` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    #[serde(default)]
    pub webhook: Vec<Webhook>,
}

/// One receiver.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    #[serde(default)]
    pub name: Option<String>,
    pub url: String,
    /// The name of the signing secret in the secret store (never the secret itself).
    pub secret: String,
    #[serde(default)]
    pub allow_private: bool,
}

impl Webhook {
    /// Its name: as given, or the URL's host.
    pub fn name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            self.url
                .split_once("://")
                .map_or(self.url.as_str(), |(_, r)| r)
                .split(['/', '?', '#'])
                .next()
                .unwrap_or_default()
                .to_owned()
        })
    }
}

impl AlertSettings {
    /// Checks every webhook: an http(s) URL, a unique name, and a signing secret that exists
    /// and is one Standard Webhooks receivers accept. Says what to fix.
    pub fn check(&self, secrets: Option<&SecretStore>) -> Result<(), String> {
        let mut names = std::collections::BTreeSet::new();
        for w in &self.webhook {
            let name = w.name();
            if !(w.url.starts_with("https://") || w.url.starts_with("http://")) {
                return Err(format!(
                    "alerts.webhook {name}: url is an http(s) URL that takes a JSON POST, not {:?}",
                    w.url
                ));
            }
            if !names.insert(name.clone()) {
                return Err(format!(
                    "alerts.webhook {name}: two webhooks have this name; give each its own `name`"
                ));
            }
            let Some(store) = secrets else {
                return Err(format!(
                    "alerts.webhook {name}: its secret {:?} is read from the secret store, which needs CORDON_SECRET_KEY",
                    w.secret
                ));
            };
            match store.get(&w.secret) {
                Ok(Some(value)) => {
                    crate::alerts::sign::key(&value).map_err(|e| {
                        format!("alerts.webhook {name}: secret {:?}: {e}", w.secret)
                    })?;
                }
                Ok(None) => {
                    return Err(format!(
                        "alerts.webhook {name}: no secret {:?} in the store: cordon secret set {} (whsec_ and base64, e.g. whsec_$(openssl rand -base64 32))",
                        w.secret, w.secret
                    ));
                }
                Err(e) => return Err(format!("alerts.webhook {name}: {e}")),
            }
        }
        Ok(())
    }

    /// The names of the webhooks an alert raised now is delivered to.
    pub fn names(&self) -> Vec<String> {
        self.webhook.iter().map(Webhook::name).collect()
    }

    /// The webhook named `name`.
    pub fn named(&self, name: &str) -> Option<&Webhook> {
        self.webhook.iter().find(|w| w.name() == name)
    }
}
