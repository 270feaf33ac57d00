//! Alerts and their deliveries on PostgreSQL (`crate::alerts`): the same rows and events as the
//! embedded store. A delivery is claimed with `FOR UPDATE SKIP LOCKED` and a lease, so that the
//! nodes sharing the store never attempt it at once.

use super::Postgres;
use crate::alerts::{
    ALERT_COLUMNS, Alert, AlertView, Attempt, DELIVERY_COLUMNS, Delivery, DeliveryState, Due,
    LEASE_MS, after_failure,
};
use crate::error::StorageError;
use crate::events::Actor;
use postgres::GenericClient;

fn alert_of(r: &postgres::Row) -> Result<Alert, StorageError> {
    let details: String = r.try_get(5)?;
    Ok(Alert {
        id: r.try_get(0)?,
        at_ms: r.try_get(1)?,
        rule: r.try_get(2)?,
        severity: r.try_get(3)?,
        summary: r.try_get(4)?,
        details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
    })
}

fn alert_by_id(c: &mut impl GenericClient, id: &str) -> Result<Option<Alert>, StorageError> {
    c.query_opt(
        &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1"),
        &[&id],
    )?
    .as_ref()
    .map(alert_of)
    .transpose()
}

/// The alert's row and its deliveries (inside the change's transaction).
fn insert(
    tx: &mut postgres::Transaction<'_>,
    alert: &Alert,
    webhooks: &[String],
    key: Option<&str>,
) -> Result<(), StorageError> {
    tx.execute(
        &format!("INSERT INTO alerts ({ALERT_COLUMNS}, key) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
        &[
            &alert.id,
            &alert.at_ms,
            &alert.rule,
            &alert.severity,
            &alert.summary,
            &alert.details.to_string(),
            &key,
        ],
    )?;
    for webhook in webhooks {
        tx.execute(
            "INSERT INTO alert_deliveries (alert, webhook, state, attempts, next_at) VALUES ($1, $2, 'pending', 0, $3)",
            &[&alert.id, webhook, &alert.at_ms],
        )?;
    }
    Ok(())
}

impl Postgres {
    pub(super) fn alert_raise_pg(
        &self,
        alert: &Alert,
        webhooks: &[String],
    ) -> Result<(), StorageError> {
        self.change_with(alert.at_ms, &Actor::server(), |tx| {
            insert(tx, alert, webhooks, None)?;
            Ok(((), Some(alert.raised())))
        })
    }

    pub(super) fn alert_raise_once_pg(
        &self,
        alert: &Alert,
        webhooks: &[String],
        key: &str,
        since_ms: i64,
    ) -> Result<bool, StorageError> {
        self.change_with(alert.at_ms, &Actor::server(), |tx| {
            let raised = tx
                .query_opt(
                    "SELECT 1 FROM alerts WHERE rule = $1 AND key = $2 AND at >= $3 LIMIT 1",
                    &[&alert.rule, &key, &since_ms],
                )?
                .is_some();
            if raised {
                return Ok((false, None));
            }
            insert(tx, alert, webhooks, Some(key))?;
            Ok((true, Some(alert.raised())))
        })
    }

    pub(super) fn alerts_pg(&self, limit: u32) -> Result<Vec<AlertView>, StorageError> {
        let mut c = self.conn()?;
        let rows = c.query(
            &format!("SELECT {ALERT_COLUMNS} FROM alerts ORDER BY at DESC, id DESC LIMIT $1"),
            &[&i64::from(limit)],
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let alert = alert_of(row)?;
            let deliveries = c
                .query(
                    &format!("SELECT {DELIVERY_COLUMNS} FROM alert_deliveries WHERE alert = $1 ORDER BY webhook"),
                    &[&alert.id],
                )?
                .iter()
                .map(|r| {
                    let state: String = r.try_get(1)?;
                    Ok(Delivery {
                        webhook: r.try_get(0)?,
                        state: DeliveryState::parse(&state).unwrap_or(DeliveryState::Failed),
                        attempts: r.try_get::<_, i32>(2)?.max(0) as u32,
                        next_at_ms: r.try_get(3)?,
                        last_error: r.try_get(4)?,
                        delivered_at_ms: r.try_get(5)?,
                    })
                })
                .collect::<Result<_, StorageError>>()?;
            out.push(AlertView { alert, deliveries });
        }
        Ok(out)
    }

    pub(super) fn alert_claim_pg(
        &self,
        node: &str,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<Due>, StorageError> {
        let mut c = self.conn()?;
        let claimed = c.query(
            "UPDATE alert_deliveries d SET lease_until = $3, node = $4
             FROM (SELECT alert, webhook FROM alert_deliveries
                   WHERE state = 'pending' AND next_at <= $1 AND (lease_until IS NULL OR lease_until < $1)
                   ORDER BY next_at LIMIT $2 FOR UPDATE SKIP LOCKED) due
             WHERE d.alert = due.alert AND d.webhook = due.webhook
             RETURNING d.alert, d.webhook, d.attempts",
            &[
                &now_ms,
                &i64::from(limit),
                &now_ms.saturating_add(LEASE_MS),
                &node,
            ],
        )?;
        let mut out = Vec::with_capacity(claimed.len());
        for row in &claimed {
            let id: String = row.try_get(0)?;
            if let Some(alert) = alert_by_id(&mut *c, &id)? {
                out.push(Due {
                    alert,
                    webhook: row.try_get(1)?,
                    attempts: row.try_get::<_, i32>(2)?.max(0) as u32,
                });
            }
        }
        Ok(out)
    }

    pub(super) fn alert_attempted_pg(
        &self,
        due: &Due,
        now_ms: i64,
        attempt: &Attempt,
    ) -> Result<(), StorageError> {
        let mut c = self.conn()?;
        let attempts = i32::try_from(due.attempts.saturating_add(1)).unwrap_or(i32::MAX);
        match attempt {
            Attempt::Delivered => c.execute(
                "UPDATE alert_deliveries SET state = 'delivered', attempts = $3, delivered_at = $4, lease_until = NULL, last_error = NULL WHERE alert = $1 AND webhook = $2",
                &[&due.alert.id, &due.webhook, &attempts, &now_ms],
            )?,
            Attempt::Failed { error, fatal } => {
                let (state, next) =
                    after_failure(due.alert.at_ms, attempts as u32, now_ms, *fatal);
                c.execute(
                    "UPDATE alert_deliveries SET state = $3, attempts = $4, next_at = $5, last_error = $6, lease_until = NULL WHERE alert = $1 AND webhook = $2",
                    &[&due.alert.id, &due.webhook, &state.as_str(), &attempts, &next, error],
                )?
            }
        };
        Ok(())
    }
}
