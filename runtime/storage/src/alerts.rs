//! Alerts, and the outbox that delivers them (docs/detection.md): an alert is raised once, with
//! its `alert.raise` event in the chain, and one delivery per webhook configured then. Each
//! delivery is claimed by one node at a time (a lease), attempted, and either delivered,
//! retried later with backoff, or given up after a day: at least once, under the same id (the
//! webhook's `webhook-id`) on every attempt, surviving restarts, with one sender across the
//! nodes sharing the store.

use crate::events::AdminAction;
use serde::{Deserialize, Serialize};

/// One alert: what a rule saw (or the server found), with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alert {
    /// `alert_` and 24 hex digits: the id every delivery attempt carries (`webhook-id`).
    pub id: String,
    pub at_ms: i64,
    /// The rule that raised it (`chain_broken`, a `[[detect.rules]]` name, `test`).
    pub rule: String,
    /// `critical`, `warning` or `info`.
    pub severity: String,
    /// One line for a person.
    pub summary: String,
    /// The evidence: counts, window, execution ids, the tool or caller concerned.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl Alert {
    /// Its `alert.raise` event.
    pub fn raised(&self) -> AdminAction {
        AdminAction::AlertRaise {
            alert: self.id.clone(),
            rule: self.rule.clone(),
            severity: self.severity.clone(),
            summary: self.summary.clone(),
        }
    }
}

/// Where one delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not delivered yet: waiting for its next attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up: a day of attempts, or a destination that can never be reached.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(DeliveryState::Pending),
            "delivered" => Some(DeliveryState::Delivered),
            "failed" => Some(DeliveryState::Failed),
            _ => None,
        }
    }
}

/// One alert's delivery to one webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    /// The webhook's name in the configuration.
    pub webhook: String,
    pub state: DeliveryState,
    pub attempts: u32,
    /// When it is attempted next (pending).
    pub next_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at_ms: Option<i64>,
}

/// An alert with its deliveries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertView {
    #[serde(flatten)]
    pub alert: Alert,
    pub deliveries: Vec<Delivery>,
}

/// A delivery claimed for an attempt: the alert, the webhook, the attempts before this one.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    pub alert: Alert,
    pub webhook: String,
    pub attempts: u32,
}

/// How an attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    /// Try again later (the schedule is [`retry_after_ms`]'s), or give up when `fatal` or the
    /// alert is a day old.
    Failed {
        error: String,
        fatal: bool,
    },
}

/// How long a claim lasts: a node that dies mid-attempt leaves it to another after this.
pub const LEASE_MS: i64 = 60_000;

/// Attempts stop this long after the alert was raised.
pub const GIVE_UP_AFTER_MS: i64 = 24 * 3_600_000;

/// The wait before attempt `attempts + 1`, after `attempts` failed: 5 s, 30 s, 2 min, 10 min,
/// 30 min, then hourly (a receiver down for a deploy gets the alert within seconds of coming
/// back; one down for hours is not hammered).
pub fn retry_after_ms(attempts: u32) -> i64 {
    match attempts {
        0 | 1 => 5_000,
        2 => 30_000,
        3 => 120_000,
        4 => 600_000,
        5 => 1_800_000,
        _ => 3_600_000,
    }
}

/// What a failed attempt leaves: the state and the next attempt's time.
pub(crate) fn after_failure(
    alert_at_ms: i64,
    attempts: u32,
    now_ms: i64,
    fatal: bool,
) -> (DeliveryState, i64) {
    let next = now_ms.saturating_add(retry_after_ms(attempts));
    if fatal || next > alert_at_ms.saturating_add(GIVE_UP_AFTER_MS) {
        (DeliveryState::Failed, now_ms)
    } else {
        (DeliveryState::Pending, next)
    }
}

pub(crate) const ALERT_COLUMNS: &str = "id, at, rule, severity, summary, details";
pub(crate) const DELIVERY_COLUMNS: &str =
    "webhook, state, attempts, next_at, last_error, delivered_at";

pub(crate) mod sqlite {
    use super::*;
    use crate::error::StorageError;
    use rusqlite::{Connection, OptionalExtension, params};

    fn alert_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<Alert> {
        let details: String = r.get(5)?;
        Ok(Alert {
            id: r.get(0)?,
            at_ms: r.get(1)?,
            rule: r.get(2)?,
            severity: r.get(3)?,
            summary: r.get(4)?,
            details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
        })
    }

    /// Whether an alert of `rule` for `key` was raised at or after `since_ms`.
    pub(crate) fn raised_since(
        conn: &Connection,
        rule: &str,
        key: &str,
        since_ms: i64,
    ) -> Result<bool, StorageError> {
        Ok(conn
            .query_row(
                "SELECT 1 FROM alerts WHERE rule = ?1 AND key = ?2 AND at >= ?3 LIMIT 1",
                params![rule, key, since_ms],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    pub(crate) fn insert(
        conn: &Connection,
        alert: &Alert,
        webhooks: &[String],
        key: Option<&str>,
    ) -> Result<(), StorageError> {
        conn.execute(
            &format!(
                "INSERT INTO alerts ({ALERT_COLUMNS}, key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ),
            params![
                alert.id,
                alert.at_ms,
                alert.rule,
                alert.severity,
                alert.summary,
                alert.details.to_string(),
                key
            ],
        )?;
        for webhook in webhooks {
            conn.execute(
                "INSERT INTO alert_deliveries (alert, webhook, state, attempts, next_at) VALUES (?1, ?2, 'pending', 0, ?3)",
                params![alert.id, webhook, alert.at_ms],
            )?;
        }
        Ok(())
    }

    pub(crate) fn list(conn: &Connection, limit: u32) -> Result<Vec<AlertView>, StorageError> {
        let alerts: Vec<Alert> = conn
            .prepare(&format!(
                "SELECT {ALERT_COLUMNS} FROM alerts ORDER BY at DESC, id DESC LIMIT ?1"
            ))?
            .query_map([limit], alert_of)?
            .collect::<Result<_, _>>()?;
        let mut out = Vec::with_capacity(alerts.len());
        let mut stmt = conn.prepare(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM alert_deliveries WHERE alert = ?1 ORDER BY webhook"
        ))?;
        for alert in alerts {
            let deliveries = stmt
                .query_map([&alert.id], |r| {
                    let state: String = r.get(1)?;
                    Ok(Delivery {
                        webhook: r.get(0)?,
                        state: DeliveryState::parse(&state).unwrap_or(DeliveryState::Failed),
                        attempts: r.get(2)?,
                        next_at_ms: r.get(3)?,
                        last_error: r.get(4)?,
                        delivered_at_ms: r.get(5)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            out.push(AlertView { alert, deliveries });
        }
        Ok(out)
    }

    pub(crate) fn claim(
        conn: &Connection,
        node: &str,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<Due>, StorageError> {
        let due: Vec<(String, String, u32)> = conn
            .prepare(
                "SELECT alert, webhook, attempts FROM alert_deliveries
                 WHERE state = 'pending' AND next_at <= ?1 AND (lease_until IS NULL OR lease_until < ?1)
                 ORDER BY next_at LIMIT ?2",
            )?
            .query_map(params![now_ms, limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        let mut out = Vec::with_capacity(due.len());
        for (id, webhook, attempts) in due {
            conn.execute(
                "UPDATE alert_deliveries SET lease_until = ?3, node = ?4 WHERE alert = ?1 AND webhook = ?2",
                params![id, webhook, now_ms.saturating_add(LEASE_MS), node],
            )?;
            let alert = conn
                .query_row(
                    &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1"),
                    [&id],
                    alert_of,
                )
                .optional()?;
            if let Some(alert) = alert {
                out.push(Due {
                    alert,
                    webhook,
                    attempts,
                });
            }
        }
        Ok(out)
    }

    pub(crate) fn attempted(
        conn: &Connection,
        due: &Due,
        now_ms: i64,
        attempt: &Attempt,
    ) -> Result<(), StorageError> {
        let attempts = due.attempts.saturating_add(1);
        match attempt {
            Attempt::Delivered => conn.execute(
                "UPDATE alert_deliveries SET state = 'delivered', attempts = ?3, delivered_at = ?4, lease_until = NULL, last_error = NULL WHERE alert = ?1 AND webhook = ?2",
                params![due.alert.id, due.webhook, attempts, now_ms],
            )?,
            Attempt::Failed { error, fatal } => {
                let (state, next) = after_failure(due.alert.at_ms, attempts, now_ms, *fatal);
                conn.execute(
                    "UPDATE alert_deliveries SET state = ?3, attempts = ?4, next_at = ?5, last_error = ?6, lease_until = NULL WHERE alert = ?1 AND webhook = ?2",
                    params![due.alert.id, due.webhook, state.as_str(), attempts, next, error],
                )?
            }
        };
        Ok(())
    }
}
