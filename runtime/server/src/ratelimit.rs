//! Rate limits: per API key and per source address (GCRA, via `governor`), and separate, much
//! lower budgets for failed authentication, so keys cannot be guessed by brute force:
//!
//! - every credential is checked first (a key against the table in memory, a token against the
//!   issuers' cached keys): one that verifies is never refused for failures before it, its own or
//!   anyone else's. A lockout cannot protect a 256-bit secret that guessing will not find, and
//!   it would let one client behind a NAT, a shared agent host or a proxy without
//!   `trusted_proxies` deny service to every other client there;
//! - a failure with a key id that exists (a wrong secret for it, or a revoked or expired key)
//!   spends the budget of that key id: once it is spent, further wrong secrets for that key id
//!   are answered 429 until the budget refills, from any address;
//! - a failure with a malformed credential, an unknown key id or a token that does not verify
//!   spends the budget of the source address: once it is spent, each further failure from the
//!   address is still answered 401 with its reason (what an OAuth client needs to fetch a new
//!   token), but held back for [`TARPIT`] first. Each failure is a security event either way;
//! - a request with no credentials at all is not a guess: always 401 at once, spending nothing.

use crate::error::ApiError;
use axum::http::StatusCode;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a failed authentication from an address over its failure budget waits for its 401:
/// a guesser on one connection makes one guess a second, while a client that sent an expired
/// token still learns why (and fetches a new one) a second later. Waiting costs a timer, not a
/// thread, and the per-address request budget bounds how many wait at once.
pub const TARPIT: Duration = Duration::from_secs(1);

/// Budgets, each documented in `docs/configuration.md`.
#[derive(Debug, Clone, Copy)]
pub struct RateSettings {
    /// Requests per second per API key (burst: twice that).
    pub per_key_per_sec: u32,
    /// Requests per second per source address (burst: twice that).
    pub per_ip_per_sec: u32,
    /// Failed authentications per minute per source address.
    pub auth_failures_per_min: u32,
}

impl Default for RateSettings {
    fn default() -> Self {
        RateSettings {
            // Generous for an agent, a hard stop for a runaway loop.
            per_key_per_sec: 200,
            // Several keys behind one address (a gateway) still fit.
            per_ip_per_sec: 400,
            // A human mistyping a key gets a few tries; a guesser gets ten a minute.
            auth_failures_per_min: 10,
        }
    }
}

pub struct RateLimits {
    per_key: DefaultKeyedRateLimiter<String>,
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    auth_failures: DefaultKeyedRateLimiter<IpAddr>,
    key_failures: DefaultKeyedRateLimiter<String>,
    /// Addresses that spent their failure budget, and until when they are refused.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    /// Key ids that spent their failure budget, and until when they are refused.
    blocked_keys: Mutex<HashMap<String, Instant>>,
    clock: DefaultClock,
    settings: RateSettings,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN)
}

fn too_many(limit: u32, wait: Duration, what: &str) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many requests {what}; retry later"),
    );
    e.rate_limit = Some((limit, wait.as_secs().max(1)));
    e
}

impl RateLimits {
    pub fn new(settings: RateSettings) -> Self {
        let per_sec = |n: u32| Quota::per_second(nz(n)).allow_burst(nz(n.saturating_mul(2)));
        RateLimits {
            per_key: DefaultKeyedRateLimiter::keyed(per_sec(settings.per_key_per_sec)),
            per_ip: DefaultKeyedRateLimiter::keyed(per_sec(settings.per_ip_per_sec)),
            auth_failures: DefaultKeyedRateLimiter::keyed(Quota::per_minute(nz(
                settings.auth_failures_per_min
            ))),
            key_failures: DefaultKeyedRateLimiter::keyed(Quota::per_minute(nz(
                settings.auth_failures_per_min
            ))),
            blocked: Mutex::default(),
            blocked_keys: Mutex::default(),
            clock: DefaultClock::default(),
            settings,
        }
    }

    /// Before authentication: the address's request budget (every request, whatever it
    /// carries).
    pub fn before_auth(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.per_ip.check_key(&ip).map_err(|not_until| {
            too_many(
                self.settings.per_ip_per_sec,
                not_until.wait_time_from(self.clock.now()),
                "from this address",
            )
        })
    }

    /// After a credential from `ip` failed to verify: spends from the address's failure
    /// budget, and says how long to hold its 401 back: not at all within the budget, [`TARPIT`]
    /// while the address is over it.
    pub fn auth_failed(&self, ip: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let mut blocked = self
            .blocked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(until) = blocked.get(&ip).copied() {
            if until > now {
                return Some(TARPIT);
            }
            blocked.remove(&ip);
        }
        match self.auth_failures.check_key(&ip) {
            Ok(_) => None,
            Err(not_until) => {
                let wait = not_until
                    .wait_time_from(self.clock.now())
                    .max(Duration::from_secs(1));
                tracing::warn!(target: "cordon::security", %ip, "failed-authentication budget spent; failures from this address are slowed down");
                blocked.insert(ip, now + wait);
                Some(TARPIT)
            }
        }
    }

    /// Before checking a presented key id's secret: refused while that key id is blocked.
    pub fn before_key(&self, key_id: &str) -> Result<(), ApiError> {
        let now = Instant::now();
        let mut blocked = self
            .blocked_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(until) = blocked.get(key_id).copied() {
            if until > now {
                return Err(too_many(
                    self.settings.auth_failures_per_min,
                    until - now,
                    "with this key after failed authentication",
                ));
            }
            blocked.remove(key_id);
        }
        Ok(())
    }

    /// After a failed authentication with a key id that exists: spends from that key id's
    /// failure budget; once it is spent, the key id is blocked.
    pub fn key_failed(&self, key_id: &str, unauthenticated: ApiError) -> ApiError {
        match self.key_failures.check_key(&key_id.to_owned()) {
            Ok(_) => unauthenticated,
            Err(not_until) => {
                let wait = not_until
                    .wait_time_from(self.clock.now())
                    .max(Duration::from_secs(1));
                tracing::warn!(target: "cordon::security", key = key_id, "failed-authentication budget of a key id spent; key id blocked");
                self.blocked_keys
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(key_id.to_owned(), Instant::now() + wait);
                too_many(
                    self.settings.auth_failures_per_min,
                    wait,
                    "with this key after failed authentication",
                )
            }
        }
    }

    /// After authentication: the key's own budget.
    pub fn after_auth(&self, key_id: &str) -> Result<(), ApiError> {
        self.per_key
            .check_key(&key_id.to_owned())
            .map_err(|not_until| {
                too_many(
                    self.settings.per_key_per_sec,
                    not_until.wait_time_from(self.clock.now()),
                    "for this key",
                )
            })
    }

    /// Forgets idle keys and addresses (run periodically so the maps do not grow without bound).
    pub fn prune(&self) {
        self.per_key.retain_recent();
        self.per_ip.retain_recent();
        self.auth_failures.retain_recent();
        self.key_failures.retain_recent();
        let now = Instant::now();
        self.blocked_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|_, until| *until > now);
        self.blocked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|_, until| *until > now);
    }
}
