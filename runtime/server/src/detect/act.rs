//! What a rule that fires does: its alert, its quarantine, as administrative changes like any
//! other (the rule as actor, the evidence in the event). Firing runs in the background: the
//! request that made the signal is never held up by it.

use crate::clock::now_ms;
use crate::detect::rules::{On, Per, Then};
use crate::detect::windows::{Fired, Signal};
use crate::state::AppState;
use std::sync::Arc;

fn plural(on: On) -> &'static str {
    match on {
        On::Denial => "denials",
        On::AuthFailure => "authentication failures",
        On::OutputFinding => "calls with output findings",
        On::ToolFailure => "tool failures",
        On::ChainBroken => "breaks of the audit log's chain",
    }
}

impl AppState {
    /// Counts a signal of kind `on`; a rule it makes fire acts in the background.
    pub fn signal(self: &Arc<Self>, on: On, signal: Signal) {
        let fired = self.detector.observe(on, &signal, now_ms());
        for f in fired {
            let state = self.clone();
            tokio::spawn(async move { state.act(f).await });
        }
    }

    /// What a rule that fired does: its alert, its quarantine.
    async fn act(self: &Arc<Self>, f: Fired) {
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
                    // Another node fired for this key within the window and acted: once.
                    tracing::info!(target: "cordon::security", rule = rule.name, key, "the rule fired here too; its alert was raised already");
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
            let by = cordon_storage::Actor::key(&format!("rule:{}", rule.name), "detection rule");
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
    }
}
