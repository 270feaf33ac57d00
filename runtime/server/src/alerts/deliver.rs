//! The sender every node runs: each second it claims the deliveries that are due (a lease in the
//! store, so one node attempts each), checks where the webhook's name resolves, and POSTs the
//! alert signed as Standard Webhooks says. The same `webhook-id` on every attempt; a fresh
//! `webhook-timestamp` (receivers refuse old ones). A 2xx delivers it; anything else is retried
//! with backoff for a day (`cordon_storage::alerts::retry_after_ms`); a destination the address
//! rules refuse is given up at once, saying why.
//!
//! The address check resolves the name once, refuses a non-public address unless
//! `allow_private`, and the request connects to exactly the addresses it checked
//! ([`Pinned`]): a name whose answers change in between (DNS rebinding) cannot send the alert
//! anywhere else. TLS still verifies the certificate against the name.

use crate::alerts::settings::Webhook;
use crate::state::AppState;
use cordon_storage::secrets::SecretStore;
use cordon_storage::{Attempt, Due};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// Deliveries one node claims at a time.
const CLAIM: u32 = 16;

/// How long one attempt may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Starts this node's sender (none when no webhook is configured).
pub fn spawn(state: Arc<AppState>) {
    if state.settings.alerts.webhook.is_empty() {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let node = state.settings.node_name.clone();
            let now = crate::clock::now_ms();
            let due = match state.db(move |s| s.alert_claim(&node, now, CLAIM)).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::error!(target: "cordon::security", error = e.message, "cannot read the alerts to deliver");
                    continue;
                }
            };
            for d in due {
                let webhook = state.settings.alerts.named(&d.webhook).cloned();
                // Read now, for this attempt: a secret set again is used from the next one.
                let key = webhook
                    .as_ref()
                    .map(|w| signing_key(w, state.secrets.as_ref()));
                let (due, sent) = match tokio::task::spawn_blocking(move || {
                    let attempt = match (&webhook, key) {
                        (Some(w), Some(key)) => send(w, key, &d),
                        _ => Attempt::Failed {
                            error: "no webhook of this name is configured any more".into(),
                            fatal: true,
                        },
                    };
                    (d, attempt)
                })
                .await
                {
                    Ok(done) => done,
                    Err(e) => {
                        tracing::error!(error = %e, "an alert delivery failed to run");
                        continue;
                    }
                };
                log(&due, &sent);
                let now = crate::clock::now_ms();
                if let Err(e) = state.db(move |s| s.alert_attempted(&due, now, &sent)).await {
                    tracing::error!(target: "cordon::security", error = e.message, "cannot record an alert delivery");
                }
            }
        }
    });
}

fn log(due: &Due, attempt: &Attempt) {
    match attempt {
        Attempt::Delivered => {
            tracing::info!(target: "cordon::security", alert = due.alert.id, webhook = due.webhook, "alert delivered")
        }
        Attempt::Failed { error, fatal } => {
            tracing::warn!(target: "cordon::security", alert = due.alert.id, webhook = due.webhook, attempt = due.attempts + 1, given_up = fatal, error, "alert not delivered")
        }
    }
}

/// What receivers get: Standard Webhooks' `{type, timestamp, data}`.
pub fn payload(due: &Due) -> String {
    let a = &due.alert;
    serde_json::json!({
        "type": "alert.raise",
        "timestamp": cordon_decide::document::Request::at(a.at_ms, String::new(), "rest").time,
        "data": {
            "id": a.id,
            "rule": a.rule,
            "severity": a.severity,
            "summary": a.summary,
            "details": a.details,
            "at_ms": a.at_ms,
        },
    })
    .to_string()
}

/// The addresses a request connects to, checked before it: ureq's resolver step answers with
/// them whatever the name (ureq's resolver interface is outside its semver promise; its version
/// is pinned in Cargo.lock).
#[derive(Debug)]
struct Pinned(Vec<SocketAddr>);

impl ureq::unversioned::resolver::Resolver for Pinned {
    fn resolve(
        &self,
        _uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let mut out = self.empty();
        for addr in self.0.iter().take(16) {
            out.push(*addr);
        }
        if out.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(out)
    }
}

/// An HTTP client that connects only to `addrs`, whatever name a URL carries.
fn pinned_agent(addrs: Vec<SocketAddr>) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(TIMEOUT))
        .max_redirects(0)
        // Never through a proxy named in the environment: the address checked is the one used.
        .proxy(None)
        .build();
    ureq::Agent::with_parts(
        config,
        ureq::unversioned::transport::DefaultConnector::default(),
        Pinned(addrs),
    )
}

/// Where the webhook's host resolves, if to public addresses only (or the operator allowed
/// private ones); the reason it may not be sent to otherwise (and whether that is final).
fn destination(webhook: &Webhook) -> Result<Vec<SocketAddr>, (String, bool)> {
    let rest = webhook
        .url
        .split_once("://")
        .map_or(webhook.url.as_str(), |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    let default_port = if webhook.url.starts_with("https://") {
        443
    } else {
        80
    };
    let target = if authority.starts_with('[') || authority.matches(':').count() == 1 {
        authority.to_owned()
    } else {
        format!("{authority}:{default_port}")
    };
    let addrs: Vec<_> = target
        .to_socket_addrs()
        .map_err(|e| (format!("cannot resolve {authority}: {e}"), false))?
        .collect();
    if addrs.is_empty() {
        return Err((format!("{authority} resolves to no address"), false));
    }
    if webhook.allow_private {
        return Ok(addrs);
    }
    for addr in &addrs {
        if let Some(class) = cordon_core::network::classify(addr.ip()) {
            return Err((
                format!(
                    "{authority} resolves to {}, a {class} address: alerts go to public addresses unless the webhook says allow_private = true",
                    addr.ip()
                ),
                true,
            ));
        }
    }
    Ok(addrs)
}

/// The webhook's signing key, from the secret store; why there is none otherwise.
fn signing_key(webhook: &Webhook, secrets: Option<&SecretStore>) -> Result<Vec<u8>, String> {
    match secrets.map(|s| s.get(&webhook.secret)) {
        Some(Ok(Some(value))) => crate::alerts::sign::key(&value)
            .map_err(|e| format!("secret {:?}: {e}", webhook.secret)),
        Some(Ok(None)) | None => Err(format!("no secret {:?} in the store", webhook.secret)),
        Some(Err(e)) => Err(e.to_string()),
    }
}

/// One attempt of `due` to `webhook`, signed with `key`.
fn send(webhook: &Webhook, key: Result<Vec<u8>, String>, due: &Due) -> Attempt {
    let failed = |error: String, fatal: bool| Attempt::Failed { error, fatal };
    let key = match key {
        Ok(key) => key,
        // The operator may set it: tried again later.
        Err(e) => return failed(e, false),
    };
    let addrs = match destination(webhook) {
        Ok(addrs) => addrs,
        Err((error, fatal)) => return failed(error, fatal),
    };
    let body = payload(due);
    let timestamp = crate::clock::now_ms() / 1000;
    let signature = crate::alerts::sign::signature(&key, &due.alert.id, timestamp, body.as_bytes());
    let agent = pinned_agent(addrs);
    match agent
        .post(&webhook.url)
        .header("content-type", "application/json")
        .header("webhook-id", &due.alert.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .send(body.as_bytes())
    {
        Ok(r) if r.status().is_success() => Attempt::Delivered,
        Ok(r) => failed(
            format!("the receiver answered {}", r.status().as_u16()),
            false,
        ),
        Err(e) => failed(e.to_string(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn a_request_goes_to_the_checked_address_whatever_its_name_resolves_to_later() {
        // A receiver on loopback; the URL names a host that does not resolve at all: only the
        // pinned address can take the request there.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let at = listener.local_addr().unwrap();
        let receiver = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut seen = [0u8; 1024];
            let n = conn.read(&mut seen).unwrap();
            conn.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                .unwrap();
            String::from_utf8_lossy(&seen[..n]).into_owned()
        });
        let url = format!("http://hooks.cordon-test.invalid:{}/hook", at.port());
        let answer = pinned_agent(vec![at]).post(&url).send(&b"{}"[..]).unwrap();
        assert_eq!(answer.status().as_u16(), 204);
        let request = receiver.join().unwrap();
        assert!(request.starts_with("POST /hook HTTP/1.1"), "{request}");
        assert!(
            request
                .to_ascii_lowercase()
                .contains("host: hooks.cordon-test.invalid"),
            "{request}"
        );
        // And nowhere else: with no address, nothing is sent.
        let refused = pinned_agent(Vec::new()).post(&url).send(&b"{}"[..]);
        assert!(
            matches!(refused, Err(ureq::Error::HostNotFound)),
            "{refused:?}"
        );
    }

    #[test]
    fn a_private_destination_is_refused_unless_allowed() {
        let hook = |allow_private| Webhook {
            name: Some("ops".into()),
            url: "http://127.0.0.1:9/hook".into(),
            secret: "s".into(),
            allow_private,
        };
        let (why, fatal) = destination(&hook(false)).unwrap_err();
        assert!(why.contains("allow_private = true") && fatal, "{why}");
        assert_eq!(
            destination(&hook(true)).unwrap(),
            ["127.0.0.1:9".parse::<SocketAddr>().unwrap()]
        );
    }
}
