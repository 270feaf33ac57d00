//! Quotas per caller (`cordon_core::quota`): which limits apply to a call, the reservation taken
//! in the store before it runs and settled after, and the 429 when one is used up. What a caller
//! has used is served by `api/quotas.rs`.
//!
//! Server-wide limits come from `[quotas]` in the config file: an entry for the caller itself
//! (`[quotas.callers."<key id, key name or issuer#subject>"]`), else the widest of the entries of
//! its roles that may invoke (`[quotas.roles.<role>]`), else `[quotas.default]`. A tool's policy may add its own `[quotas]`, counted per caller for that
//! tool alone; both must allow a call. A caller with no limit at all costs no database work.

use crate::blocking::on_store;
use crate::callers::caller::{Caller, Via};
use crate::calls::live::LiveTool;
use crate::clock::now_ms;
use crate::error::ApiError;
use axum::http::StatusCode;
use cordon_core::quota::{day_of, secs_until_next_day};
use cordon_core::{Action, QuotaLimits, Role};
use cordon_storage::{QuotaDecision, QuotaScope, Storage};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// `[quotas]` in the config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaSettings {
    /// Every caller not otherwise configured.
    #[serde(default)]
    pub default: QuotaLimits,
    /// Each caller holding the role (a caller with several gets the widest).
    #[serde(default)]
    pub roles: BTreeMap<Role, QuotaLimits>,
    /// One caller: a key id or name, or a token's `issuer#subject`.
    #[serde(default)]
    pub callers: BTreeMap<String, QuotaLimits>,
}

impl QuotaSettings {
    /// Refuses a limit of 0 (it would lock the caller out: revoke or narrow `[access]` instead).
    pub fn check(&self) -> Result<(), String> {
        let sets = std::iter::once(("default".to_owned(), &self.default))
            .chain(
                self.roles
                    .iter()
                    .map(|(r, l)| (format!("roles.{}", r.as_str()), l)),
            )
            .chain(
                self.callers
                    .iter()
                    .map(|(c, l)| (format!("callers.{c:?}"), l)),
            );
        for (name, limits) in sets {
            for kind in cordon_core::QuotaKind::ALL {
                if kind.limit(limits) == Some(0) {
                    return Err(format!(
                        "quotas.{name}.{}: 0 would refuse every call; revoke the caller or narrow a tool's [access] instead",
                        kind.as_str()
                    ));
                }
            }
        }
        Ok(())
    }

    /// The server-wide limits for a caller: the entry for its identity (a key's id, then its
    /// name; a token caller's `issuer#subject`; a certificate holder's `cert:...`), else the widest entry among its roles that may
    /// invoke tools, else the default.
    pub fn limits_for(&self, caller: &Caller) -> QuotaLimits {
        let named = self.callers.get(&caller.id).or_else(|| match caller.via {
            Via::Key => self.callers.get(&caller.name),
            Via::Token { .. } | Via::Certificate { .. } => None,
        });
        if let Some(limits) = named {
            return *limits;
        }
        self.for_roles(&caller.roles)
    }

    fn for_roles(&self, roles: &BTreeSet<Role>) -> QuotaLimits {
        // Only roles that may invoke count: holding an auditor role beside an invoker one must
        // not lift the invoker's limits to the auditor's (or the default's).
        roles
            .iter()
            .filter(|r| r.permits(Action::Invoke))
            .filter_map(|r| self.roles.get(r).copied())
            .reduce(QuotaLimits::widest)
            .unwrap_or(self.default)
    }
}

/// The scopes a call of `tool` by `caller` is counted in: all tools (when a server-wide limit
/// applies) and the tool itself (when its policy sets one).
fn scopes(settings: &QuotaSettings, caller: &Caller, tool: &LiveTool) -> Vec<QuotaScope> {
    let mut out = Vec::new();
    let server = settings.limits_for(caller);
    if !server.is_empty() {
        out.push(QuotaScope {
            scope: String::new(),
            limits: server,
        });
    }
    if !tool.policy.quotas.is_empty() {
        out.push(QuotaScope {
            scope: tool.record.name.clone(),
            limits: tool.policy.quotas,
        });
    }
    out
}

/// A call counted against its caller's quotas; settled with [`Reservation::finish`] (or, if the
/// call never got there, its lease is ended when this is dropped).
#[derive(Debug)]
pub struct Reservation {
    caller: String,
    day: i64,
    scopes: Vec<String>,
    lease: Option<String>,
    storage: Arc<dyn Storage>,
    settled: bool,
}

/// How long past a call's own deadline its lease may outlive a node that died mid-call.
const LEASE_MARGIN_MS: i64 = 60_000;

/// Counts one execution of `tool` by `caller`, or refuses it with 429 when a quota is used up.
/// `None` when no quota applies (nothing is read or written).
pub async fn reserve(
    settings: &QuotaSettings,
    storage: &Arc<dyn Storage>,
    caller: &Caller,
    tool: &LiveTool,
    transport: &'static str,
) -> Result<Option<Reservation>, ApiError> {
    let scopes = scopes(settings, caller, tool);
    if scopes.is_empty() {
        return Ok(None);
    }
    let now = now_ms();
    let day = day_of(now);
    let lease_until = now
        .saturating_add(i64::try_from(tool.limits.timeout_ms).unwrap_or(i64::MAX / 2))
        .saturating_add(LEASE_MARGIN_MS);
    let who = caller.id.clone();
    let asked = scopes.clone();
    let decision = on_store(storage, move |s| {
        s.quota_acquire(&cordon_storage::QuotaRequest {
            caller: &who,
            day,
            now_ms: now,
            lease_until_ms: lease_until,
            scopes: &asked,
        })
    })
    .await?;
    match decision {
        QuotaDecision::Granted { lease } => Ok(Some(Reservation {
            caller: caller.id.clone(),
            day,
            scopes: scopes.into_iter().map(|s| s.scope).collect(),
            lease,
            storage: storage.clone(),
            settled: false,
        })),
        QuotaDecision::Refused(refusal) => {
            let name = refusal.quota.as_str();
            let (wait, when) = match refusal.quota {
                cordon_core::QuotaKind::Concurrent => {
                    (1, "retry when one of your running calls ends".to_owned())
                }
                _ => {
                    let wait = secs_until_next_day(now);
                    (wait, format!("it resets at 00:00 UTC, in {wait} s"))
                }
            };
            let scope = if refusal.scope.is_empty() {
                "all tools".to_owned()
            } else {
                format!("tool {}", refusal.scope)
            };
            tracing::warn!(target: "cordon::security", caller = caller.id, tool = tool.record.name, quota = name, scope, limit = refusal.limit, used = refusal.used, transport, "quota exceeded: execution refused");
            crate::metrics::quota_refused(name);
            let mut error = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "quota_exceeded",
                format!(
                    "quota {name} ({scope}) is used up: {} of {}; {when}",
                    refusal.used, refusal.limit
                ),
            )
            .retry_after(wait);
            error.quota = Some(Box::new(refusal));
            Err(error)
        }
    }
}

impl Reservation {
    /// Adds the fuel the call used and ends its lease. A failure is logged: the counters then
    /// miss this call's fuel (never its record).
    pub async fn finish(mut self, fuel: u64) {
        self.settled = true;
        let (caller, day, scopes, lease) = (
            std::mem::take(&mut self.caller),
            self.day,
            std::mem::take(&mut self.scopes),
            self.lease.take(),
        );
        if let Err(e) = on_store(&self.storage, move |s| {
            s.quota_finish(&caller, day, &scopes, fuel, lease.as_deref())
        })
        .await
        {
            tracing::error!(
                code = e.code,
                message = e.message,
                "cannot count an execution's fuel against its caller's quota"
            );
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.settled || self.lease.is_none() {
            return;
        }
        // The call ended before it was settled (an error on the way): end its lease now rather
        // than at its deadline.
        let (storage, caller, day, lease) = (
            self.storage.clone(),
            std::mem::take(&mut self.caller),
            self.day,
            self.lease.take(),
        );
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn_blocking(move || {
                let _ = storage.quota_finish(&caller, day, &[], 0, lease.as_deref());
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_caller(role: Role) -> Caller {
        Caller {
            id: "a1b2c3d4e5f6".into(),
            name: "ci".into(),
            roles: BTreeSet::from([role]),
            via: Via::Key,
            address: None,
        }
    }

    fn limits(executions: u64) -> QuotaLimits {
        QuotaLimits {
            executions_per_day: Some(executions),
            ..QuotaLimits::default()
        }
    }

    #[test]
    fn a_caller_entry_wins_then_the_widest_role_then_the_default() {
        let settings: QuotaSettings = toml::from_str(
            r#"
            default = { executions_per_day = 10 }
            roles.invoker = { executions_per_day = 100 }
            roles.admin = { executions_per_day = 200 }
            roles.auditor = { executions_per_day = 5000 }
            callers.ci = { executions_per_day = 1000 }
            callers.alice = { executions_per_day = 1 }
            callers."https://id.example.com#alice" = { executions_per_day = 7 }
            "#,
        )
        .unwrap();
        assert_eq!(
            settings.limits_for(&key_caller(Role::Invoker)),
            limits(1000)
        );
        let mut other = key_caller(Role::Invoker);
        other.name = "other".into();
        other.id = "ffffffffffff".into();
        assert_eq!(settings.limits_for(&other), limits(100));
        // A role that may not invoke lifts nothing; of two that may, the widest wins.
        other.roles = BTreeSet::from([Role::Invoker, Role::Auditor]);
        assert_eq!(settings.limits_for(&other), limits(100));
        other.roles = BTreeSet::from([Role::Invoker, Role::Admin]);
        assert_eq!(settings.limits_for(&other), limits(200));
        other.roles = BTreeSet::from([Role::Publisher]);
        assert_eq!(settings.limits_for(&other), limits(10));
        // A key's id wins over its name.
        let mut both = key_caller(Role::Invoker);
        both.id = "ci".into();
        both.name = "other".into();
        assert_eq!(settings.limits_for(&both), limits(1000));
        let alice = Caller {
            id: "https://id.example.com#alice".into(),
            name: "alice".into(),
            roles: BTreeSet::from([Role::Invoker]),
            via: Via::Token {
                issuer: "https://id.example.com".into(),
                subject: "alice".into(),
                groups: vec![],
                expires_at_secs: None,
                claims: Default::default(),
            },
            address: None,
        };
        assert_eq!(settings.limits_for(&alice), limits(7));
        // A key name never matches a token caller whose bare subject happens to equal it.
        let mut alice_sub = alice.clone();
        alice_sub.id = "https://other.example.com#alice".into();
        assert_eq!(settings.limits_for(&alice_sub), limits(100));
    }

    #[test]
    fn a_zero_limit_is_refused_with_its_key() {
        let settings: QuotaSettings = toml::from_str("roles.invoker = { concurrent = 0 }").unwrap();
        assert_eq!(
            settings.check().unwrap_err(),
            "quotas.roles.invoker.concurrent: 0 would refuse every call; revoke the caller or narrow a tool's [access] instead"
        );
        let unknown = toml::from_str::<QuotaSettings>("roles.root = { concurrent = 1 }");
        assert!(unknown.is_err());
    }
}
