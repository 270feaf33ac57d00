//! The one way an alert is made: stored with its `alert.raise` event and a pending delivery to
//! each webhook configured now, before anything is sent (so none is lost to a crash).

use crate::clock::now_ms;
use crate::error::ApiError;
use crate::state::AppState;
use cordon_storage::Alert;
use std::sync::Arc;

impl AppState {
    /// Raises an alert of `rule` with its evidence (`details`).
    pub async fn raise_alert(
        self: &Arc<Self>,
        rule: &str,
        severity: &str,
        summary: String,
        details: serde_json::Value,
    ) -> Result<Alert, ApiError> {
        let alert = new_alert(rule, severity, summary, details)?;
        let (stored, webhooks) = (alert.clone(), self.settings.alerts.names());
        self.db(move |s| s.alert_raise(&stored, &webhooks)).await?;
        tracing::warn!(target: "cordon::security", alert = alert.id, rule, severity, summary = alert.summary, "alert raised");
        Ok(alert)
    }

    /// Raises an alert of `rule` for `key` unless one was raised within the last `window`, on
    /// this node or another: a rule firing for one burst on two nodes makes one alert. The
    /// alert when it was raised.
    pub async fn raise_alert_once(
        self: &Arc<Self>,
        (rule, severity): (&str, &str),
        (key, window): (&str, std::time::Duration),
        summary: String,
        details: serde_json::Value,
    ) -> Result<Option<Alert>, ApiError> {
        let alert = new_alert(rule, severity, summary, details)?;
        let since = alert.at_ms.saturating_sub(window.as_millis() as i64);
        let (stored, webhooks, key) = (alert.clone(), self.settings.alerts.names(), key.to_owned());
        let raised = self
            .db(move |s| s.alert_raise_once(&stored, &webhooks, &key, since))
            .await?;
        if raised {
            tracing::warn!(target: "cordon::security", alert = alert.id, rule, severity, summary = alert.summary, "alert raised");
        }
        Ok(raised.then_some(alert))
    }
}

fn new_alert(
    rule: &str,
    severity: &str,
    summary: String,
    details: serde_json::Value,
) -> Result<Alert, ApiError> {
    let at_ms = now_ms();
    Ok(Alert {
        id: alert_id(at_ms)?,
        at_ms,
        rule: rule.to_owned(),
        severity: severity.to_owned(),
        summary,
        details,
    })
}

/// `alert_` and 12 bytes in hex: the time in milliseconds (6 bytes), then 6 random bytes.
fn alert_id(at_ms: i64) -> Result<String, ApiError> {
    let mut bytes = [0u8; 12];
    bytes[..6].copy_from_slice(&at_ms.to_be_bytes()[2..]);
    getrandom::fill(&mut bytes[6..]).map_err(ApiError::internal)?;
    Ok(format!("alert_{}", hex::encode(bytes)))
}
