//! Alerts and their outbox, the same on every backend: raised with their event, claimed by one
//! node at a time, retried with backoff, delivered or given up.

use crate::alerts::{Alert, Attempt, DeliveryState, LEASE_MS, retry_after_ms};
use crate::backend::Storage;
use crate::events::EventFilter;

/// `a` and `b` are two handles on one store (two nodes).
pub(crate) fn alerts_raise_claim_and_deliver(a: &dyn Storage, b: &dyn Storage) {
    let now = 1_800_000_000_000;
    let alert = Alert {
        id: "alert_0000000000000000000000a1".into(),
        at_ms: now,
        rule: "denials".into(),
        severity: "warning".into(),
        summary: "5 denials of echo within 1m".into(),
        details: serde_json::json!({"tool": "echo", "count": 5, "executions": ["ex_1"]}),
    };
    a.alert_raise(&alert, &["ops".into(), "pager".into()])
        .unwrap();
    let listed = b.alerts(10).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].alert, alert);
    assert_eq!(listed[0].deliveries.len(), 2);
    assert!(
        listed[0]
            .deliveries
            .iter()
            .all(|d| d.state == DeliveryState::Pending && d.attempts == 0)
    );
    let (events, _) = b
        .events(&EventFilter {
            kind: Some("alert.raise".into()),
            ..EventFilter::default()
        })
        .unwrap();
    assert_eq!(events.len(), 1);

    // One node claims both; the other gets nothing while the lease lasts.
    let claimed = a.alert_claim("node-a", now, 10).unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(b.alert_claim("node-b", now + 1, 10).unwrap().is_empty());
    let ops = claimed.iter().find(|d| d.webhook == "ops").unwrap();
    let pager = claimed.iter().find(|d| d.webhook == "pager").unwrap();
    a.alert_attempted(ops, now + 10, &Attempt::Delivered)
        .unwrap();
    a.alert_attempted(
        pager,
        now + 10,
        &Attempt::Failed {
            error: "connection refused".into(),
            fatal: false,
        },
    )
    .unwrap();
    let view = &b.alerts(10).unwrap()[0];
    let by = |name: &str| view.deliveries.iter().find(|d| d.webhook == name).unwrap();
    assert_eq!(by("ops").state, DeliveryState::Delivered);
    assert_eq!(by("ops").delivered_at_ms, Some(now + 10));
    assert_eq!(by("pager").state, DeliveryState::Pending);
    assert_eq!(by("pager").attempts, 1);
    assert_eq!(
        by("pager").last_error.as_deref(),
        Some("connection refused")
    );
    let next = now + 10 + retry_after_ms(1);
    assert_eq!(by("pager").next_at_ms, next);

    // Not before its time; then on any node, the same alert (same id) again.
    assert!(b.alert_claim("node-b", next - 1, 10).unwrap().is_empty());
    let again = b.alert_claim("node-b", next, 10).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].alert.id, alert.id);
    assert_eq!(again[0].attempts, 1);
    // A node that dies holding a claim leaves it to another once the lease ends.
    assert!(a.alert_claim("node-a", next + 1, 10).unwrap().is_empty());
    let taken = a.alert_claim("node-a", next + LEASE_MS + 1, 10).unwrap();
    assert_eq!(taken.len(), 1);
    // A destination that can never be reached ends it.
    a.alert_attempted(
        &taken[0],
        next + LEASE_MS + 2,
        &Attempt::Failed {
            error: "a private address".into(),
            fatal: true,
        },
    )
    .unwrap();
    let view = &a.alerts(10).unwrap()[0];
    let pager = view
        .deliveries
        .iter()
        .find(|d| d.webhook == "pager")
        .unwrap();
    assert_eq!((pager.state, pager.attempts), (DeliveryState::Failed, 2));
    assert!(
        a.alert_claim("node-a", now + 10 * LEASE_MS, 10)
            .unwrap()
            .is_empty()
    );

    // A rule's firing is raised once across the nodes while its window lasts: the second node
    // to fire for the same key finds it raised; after the window, it is raised again.
    let fired = |id: &str, at_ms: i64| Alert {
        id: id.into(),
        at_ms,
        rule: "denied-tools".into(),
        ..alert.clone()
    };
    let window = 60_000;
    assert!(
        a.alert_raise_once(
            &fired("alert_f1", now),
            &["ops".into()],
            "echo",
            now - window
        )
        .unwrap()
    );
    assert!(
        !b.alert_raise_once(
            &fired("alert_f2", now + 5),
            &["ops".into()],
            "echo",
            now + 5 - window
        )
        .unwrap()
    );
    // Another key is another firing.
    assert!(
        b.alert_raise_once(&fired("alert_f3", now + 6), &[], "notes", now + 6 - window)
            .unwrap()
    );
    let later = now + window + 1;
    assert!(
        b.alert_raise_once(&fired("alert_f4", later), &[], "echo", later - window)
            .unwrap()
    );
    let ids: Vec<String> = a
        .alerts(10)
        .unwrap()
        .into_iter()
        .map(|v| v.alert.id)
        .collect();
    assert_eq!(ids, ["alert_f4", "alert_f3", "alert_f1", alert.id.as_str()]);
    let (events, _) = a
        .events(&EventFilter {
            kind: Some("alert.raise".into()),
            limit: 100,
            ..EventFilter::default()
        })
        .unwrap();
    assert_eq!(events.len(), 4);
}
