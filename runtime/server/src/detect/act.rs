//! What a rule that fires does: its alert, its quarantine, its suspension of a caller, as
//! administrative changes like any other (the rule as actor, the evidence in the event). Firing
//! runs in the background: the request that made the signal is never held up by it.

use crate::clock::now_ms;
use crate::detect::rules::{On, Per, Rule, Then};
use crate::detect::tally::Signal;
use crate::state::AppState;
use std::sync::Arc;

/// A rule that reached its count: which, for what, and the evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    pub rule: Rule,
    /// The tool, caller or address it counted (none for a rule that counts all).
    pub key: Option<String>,
    pub count: u64,
    pub executions: Vec<String>,
}

fn plural(on: On) -> &'static str {
    match on {
        On::Denial => "denials",
        On::AuthFailure => "authentication failures",
        On::RateLimited => "requests over a rate limit",
        On::QuotaExceeded => "calls over a quota",
        On::OutputFinding => "calls with output findings",
        On::ToolFailure => "tool failures",
        On::ChainBroken => "breaks of the audit log's chain",
    }
}

impl AppState {
    /// Counts a signal of kind `on` (`detect/flush.rs` adds it to the store, and acts on the
    /// rules it makes fire).
    pub fn signal(&self, on: On, signal: Signal) {
        self.detector.observe(on, &signal);
    }

    /// What a rule that fired does: its alert, its quarantine, its suspension.
    pub(crate) async fn act(self: &Arc<Self>, f: Fired) {
        let rule = &f.rule;
        let of = match (&f.key, rule.per) {
            (Some(key), Some(per)) => format!(" of {} {key}", per.as_str()),
            _ => String::new(),
        };
        let summary = format!(
            "{} {}{of} within {} s (rule {})",
            f.count,
            plural(rule.on),
            rule.window.as_secs(),
            rule.name
        );
        let details = serde_json::json!({
            "rule": rule.name,
            "on": rule.on.as_str(),
            "per": rule.per.map(Per::as_str),
            "key": f.key,
            "count": f.count,
            "window_secs": rule.window.as_secs(),
            "executions": f.executions,
        });
        let by = cordon_storage::Actor::key(&format!("rule:{}", rule.name), "detection rule");
        tracing::warn!(target: "cordon::security", rule = rule.name, key = ?f.key, count = f.count, "detection rule fired");
        if rule.then.contains(&Then::Alert) {
            let key = f.key.clone().unwrap_or_default();
            match self
                .raise_alert_once(
                    (&rule.name, &rule.severity),
                    (&key, rule.window),
                    summary.clone(),
                    details.clone(),
                )
                .await
            {
                Ok(Some(_)) => {}
                Ok(None) => {
                    // It fired for this key within its window already (here or on another node)
                    // and acted: one alert, and one action, a window.
                    tracing::info!(target: "cordon::security", rule = rule.name, key, "the rule fired again within its window; its alert was raised already");
                    return;
                }
                Err(e) => {
                    tracing::error!(target: "cordon::security", rule = rule.name, error = e.message, "cannot raise the rule's alert")
                }
            }
        }
        if rule.then.contains(&Then::Quarantine)
            && let Some(tool) = &f.key
            && self.quarantine_reason(tool).is_none()
        {
            let reason = format!("{summary}; evidence: {details}");
            match self.quarantine_tool(tool, &reason, &by).await {
                Ok(()) => {
                    tracing::warn!(target: "cordon::security", tool, rule = rule.name, "tool quarantined by a detection rule")
                }
                Err(e) => {
                    tracing::error!(target: "cordon::security", tool, rule = rule.name, error = e.message, "cannot quarantine the tool")
                }
            }
        }
        if rule.then.contains(&Then::SuspendCaller)
            && rule.per == Some(Per::Caller)
            && let Some(caller) = &f.key
        {
            let at_ms = now_ms();
            let for_ms = i64::try_from(rule.suspend_for.as_millis()).unwrap_or(i64::MAX);
            let suspension = cordon_storage::Suspension {
                caller: caller.clone(),
                at_ms,
                until_ms: at_ms.saturating_add(for_ms),
                reason: format!("{summary}; evidence: {details}"),
                by: by.key_id.clone(),
            };
            match self.suspend_caller(suspension, &by).await {
                Ok(()) => {
                    tracing::warn!(target: "cordon::security", caller, rule = rule.name, secs = rule.suspend_for.as_secs(), "caller suspended by a detection rule")
                }
                Err(e) => {
                    tracing::error!(target: "cordon::security", caller, rule = rule.name, error = e.message, "cannot suspend the caller")
                }
            }
        }
    }
}
