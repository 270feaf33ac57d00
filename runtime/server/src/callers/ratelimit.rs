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
//!   token), but held back for [`TARPIT`] first, at most [`MAX_HELD_PER_ADDRESS`] at once from one
//!   address and [`MAX_HELD`] in all (beyond them: 429 at once). Within the budget each failure
//!   is a security event; beyond it, one line a second per address says how many were not
//!   logged (every failure is still counted in `cordon_rejected_requests_total`);
//! - a request with no credentials at all is not a guess: always 401 at once, spending nothing.

use crate::error::ApiError;
use axum::http::StatusCode;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a failed authentication from an address over its failure budget waits for its 401:
/// a guesser on one connection makes one guess a second, while a client that sent an expired
/// token still learns why (and fetches a new one) a second later. Waiting costs a timer, not a
/// thread; [`MAX_HELD_PER_ADDRESS`] and [`MAX_HELD`] bound how many wait at once.
pub const TARPIT: Duration = Duration::from_secs(1);

/// Failures of one address held back at once: a guesser on many connections gets at most this
/// many answers per [`TARPIT`]; beyond it, 429 at once.
pub const MAX_HELD_PER_ADDRESS: u32 = 64;

/// Failures held back at once from all addresses: what a flood from many addresses can make the
/// server hold (a timer and a connection each).
pub const MAX_HELD: usize = 4096;

/// What happens to a failed authentication, by the address's failure budget.
#[derive(Debug)]
pub enum AfterFailure<'a> {
    /// Within the budget: answered at once, and logged.
    Answer,
    /// Over it: answered after [`TARPIT`] (the hold ends when `held` is dropped). `log` is
    /// `Some(n)` when this failure is to be logged, `n` being how many of the address's failures
    /// since its last line were not.
    Hold { held: Held<'a>, log: Option<u64> },
    /// Over it, with [`MAX_HELD_PER_ADDRESS`] (or [`MAX_HELD`]) already held: 429 at once.
    Refuse(ApiError),
}

/// A failure being held back; the address's count goes down when this is dropped.
#[derive(Debug)]
pub struct Held<'a> {
    limits: &'a RateLimits,
    ip: IpAddr,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.limits.held_total.fetch_sub(1, Ordering::Relaxed);
        let mut blocked = self
            .limits
            .blocked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(b) = blocked.get_mut(&self.ip) {
            b.held = b.held.saturating_sub(1);
        }
    }
}

/// An address over its failure budget.
#[derive(Debug, Clone, Copy)]
struct Blocked {
    until: Instant,
    /// Its failures being held back now.
    held: u32,
    /// When its last failure was logged, and how many since were not.
    logged_at: Instant,
    unlogged: u64,
}

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
    /// Addresses that spent their failure budget: until when, and their failures held now.
    blocked: Mutex<HashMap<IpAddr, Blocked>>,
    /// Failures held back now, from all addresses.
    held_total: AtomicUsize,
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
            held_total: AtomicUsize::new(0),
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
    /// budget, and says what to do with its 401 (see [`AfterFailure`]).
    pub fn auth_failed(&self, ip: IpAddr) -> AfterFailure<'_> {
        let now = Instant::now();
        let mut blocked = self
            .blocked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let over = match blocked.get(&ip) {
            Some(b) if b.until > now || b.held > 0 => true,
            Some(_) => {
                blocked.remove(&ip);
                false
            }
            None => false,
        };
        if !over {
            let Err(not_until) = self.auth_failures.check_key(&ip) else {
                return AfterFailure::Answer;
            };
            let wait = not_until
                .wait_time_from(self.clock.now())
                .max(Duration::from_secs(1));
            tracing::warn!(target: "cordon::security", %ip, "failed-authentication budget spent; failures from this address are answered late");
            blocked.insert(
                ip,
                Blocked {
                    until: now + wait,
                    held: 0,
                    logged_at: now,
                    unlogged: 0,
                },
            );
        }
        let Some(b) = blocked.get_mut(&ip) else {
            return AfterFailure::Answer;
        };
        if b.until <= now {
            // Refilled while some were still held: a new spell over the budget.
            b.until = now + TARPIT;
        }
        if b.held >= MAX_HELD_PER_ADDRESS || self.held_total.load(Ordering::Relaxed) >= MAX_HELD {
            b.unlogged += 1;
            return AfterFailure::Refuse(too_many(
                MAX_HELD_PER_ADDRESS,
                TARPIT,
                "failing authentication from this address at once",
            ));
        }
        b.held += 1;
        self.held_total.fetch_add(1, Ordering::Relaxed);
        let log = if now.duration_since(b.logged_at) >= Duration::from_secs(1) || !over {
            b.logged_at = now;
            Some(std::mem::take(&mut b.unlogged))
        } else {
            b.unlogged += 1;
            None
        };
        AfterFailure::Hold {
            held: Held { limits: self, ip },
            log,
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
            .retain(|_, b| b.until > now || b.held > 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> RateLimits {
        RateLimits::new(RateSettings {
            auth_failures_per_min: 2,
            ..RateSettings::default()
        })
    }

    #[test]
    fn failures_over_the_budget_are_held_logged_once_a_second_and_capped_per_address() {
        let l = limits();
        let ip = IpAddr::from([192, 0, 2, 1]);
        assert!(matches!(l.auth_failed(ip), AfterFailure::Answer));
        assert!(matches!(l.auth_failed(ip), AfterFailure::Answer));
        // The budget is spent: held, the first of them logged.
        let mut held = Vec::new();
        match l.auth_failed(ip) {
            AfterFailure::Hold { held: h, log } => {
                assert_eq!(log, Some(0));
                held.push(h);
            }
            other => panic!("{other:?}"),
        }
        for _ in 1..MAX_HELD_PER_ADDRESS {
            match l.auth_failed(ip) {
                AfterFailure::Hold { held: h, log } => {
                    assert_eq!(log, None, "one line a second");
                    held.push(h);
                }
                other => panic!("{other:?}"),
            }
        }
        // The address holds its maximum: the next is 429 at once.
        match l.auth_failed(ip) {
            AfterFailure::Refuse(e) => assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS),
            other => panic!("{other:?}"),
        }
        // Another address is not affected.
        let other = IpAddr::from([192, 0, 2, 2]);
        assert!(matches!(l.auth_failed(other), AfterFailure::Answer));
        assert_eq!(l.held_total.load(Ordering::Relaxed), 64);
        // Ending a hold frees a place.
        held.pop();
        let again = l.auth_failed(ip);
        assert!(matches!(again, AfterFailure::Hold { .. }), "{again:?}");
        drop(held);
        assert_eq!(l.held_total.load(Ordering::Relaxed), 1);
        drop(again);
        assert_eq!(l.held_total.load(Ordering::Relaxed), 0);
    }
}
