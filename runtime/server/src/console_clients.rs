//! The web console's ways to sign in (`ui.rs`): each issuer with a `client_id`, its endpoints
//! configured or read from its discovery document, kept ten minutes.

use crate::oidc::{ConsoleClient, Verifier};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long the sign-in endpoints read from discovery documents are kept: an identity provider
/// that moves its endpoints is followed within ten minutes, and a page load costs no fetch.
const CLIENTS_KEPT_FOR: Duration = Duration::from_secs(600);

/// The console's sign-in clients, read at most once per [`CLIENTS_KEPT_FOR`].
#[derive(Debug, Default)]
pub struct Console {
    clients: Mutex<Option<(Instant, Arc<Vec<Provider>>)>>,
}

/// One way to sign in, as the page is told it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
pub enum Provider {
    Ready(ConsoleClient),
    /// An issuer whose endpoints cannot be found now, and why.
    Unavailable {
        issuer: String,
        error: String,
    },
}

impl Console {
    /// The sign-in clients, from the cache or read again (off the async workers: discovery
    /// fetches).
    pub async fn providers(&self, verifier: Arc<Verifier>) -> Arc<Vec<Provider>> {
        {
            let kept = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((at, list)) = kept.as_ref()
                && at.elapsed() < CLIENTS_KEPT_FOR
            {
                return list.clone();
            }
        }
        let read = tokio::task::spawn_blocking(move || verifier.console_clients())
            .await
            .unwrap_or_default();
        let list: Arc<Vec<Provider>> = Arc::new(
            read.into_iter()
                .map(|(issuer, r)| match r {
                    Ok(c) => Provider::Ready(c),
                    Err(error) => {
                        tracing::warn!(
                            issuer,
                            error,
                            "the console cannot offer sign-in through this issuer"
                        );
                        Provider::Unavailable { issuer, error }
                    }
                })
                .collect(),
        );
        *self.clients.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now(), list.clone()));
        list
    }
}
