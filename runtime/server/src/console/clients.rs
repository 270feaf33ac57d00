//! The web console's ways to sign in (`ui.rs`): each issuer with a `client_id`, its endpoints
//! configured or read from its discovery document, kept ten minutes.

use crate::callers::oidc::{ConsoleClient, Verifier};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long the sign-in endpoints read from discovery documents are kept: an identity provider
/// that moves its endpoints is followed within ten minutes, and a page load costs no fetch.
const CLIENTS_KEPT_FOR: Duration = Duration::from_secs(600);

/// How long a failed read is kept before the next page load tries again: a short outage of the
/// identity provider does not keep its sign-in off for ten minutes, and a flood of page loads
/// still costs one fetch per 30 s.
const FAILURE_KEPT_FOR: Duration = Duration::from_secs(30);

/// What the page is told when an issuer's endpoints cannot be read (the reason, which may name
/// internal hosts, goes to the server log only).
const UNAVAILABLE: &str =
    "its endpoints cannot be read now (see the server log); sign in with an API key meanwhile";

/// The console's sign-in clients, read at most once per [`CLIENTS_KEPT_FOR`] (per
/// [`FAILURE_KEPT_FOR`] after a failure), by one request at a time.
#[derive(Debug, Default)]
pub struct Console {
    clients: Mutex<Option<Kept>>,
    /// Held while the clients are read, so concurrent page loads wait for one read.
    reading: tokio::sync::Mutex<()>,
}

/// The clients as read: when, for how long they hold, and what they are.
type Kept = (Instant, Duration, Arc<Vec<Provider>>);

/// One way to sign in, as the page is told it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
pub enum Provider {
    Ready(ConsoleClient),
    /// An issuer whose endpoints cannot be found now.
    Unavailable {
        issuer: String,
        error: String,
    },
}

impl Console {
    fn kept(&self) -> Option<Arc<Vec<Provider>>> {
        let kept = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        kept.as_ref()
            .filter(|(at, ttl, _)| at.elapsed() < *ttl)
            .map(|(_, _, list)| list.clone())
    }

    /// The sign-in clients, from the cache or read again (off the async workers: discovery
    /// fetches).
    pub async fn providers(&self, verifier: Arc<Verifier>) -> Arc<Vec<Provider>> {
        if let Some(list) = self.kept() {
            return list;
        }
        let _reading = self.reading.lock().await;
        // Another request may have read them while this one waited.
        if let Some(list) = self.kept() {
            return list;
        }
        let read = tokio::task::spawn_blocking(move || verifier.console_clients())
            .await
            .unwrap_or_default();
        let mut failed = false;
        let list: Arc<Vec<Provider>> = Arc::new(
            read.into_iter()
                .map(|(issuer, r)| match r {
                    Ok(c) => Provider::Ready(c),
                    Err(error) => {
                        failed = true;
                        tracing::warn!(
                            issuer,
                            error,
                            "the console cannot offer sign-in through this issuer"
                        );
                        Provider::Unavailable {
                            issuer,
                            error: UNAVAILABLE.to_owned(),
                        }
                    }
                })
                .collect(),
        );
        let ttl = if failed {
            FAILURE_KEPT_FOR
        } else {
            CLIENTS_KEPT_FOR
        };
        *self.clients.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now(), ttl, list.clone()));
        list
    }
}
