//! The detection rules' counts and callers' suspensions, the same on every backend: tallies
//! from two nodes add up to one count, a rule fires once and consumes its signals, old signals
//! fall out of the window; a suspension holds until its end or its lift, each an event.

use crate::backend::Storage;
use crate::detect::{MAX_EVIDENCE, Tally};
use crate::events::{Actor, EventFilter};
use crate::suspensions::Suspension;

fn tally(key: &str, n: u32, executions: &[&str]) -> Tally {
    Tally {
        rule: "denied-tools".into(),
        key: key.into(),
        n,
        executions: executions.iter().map(|e| (*e).to_owned()).collect(),
        window_ms: 60_000,
        count: 5,
    }
}

/// `a` and `b` are two handles on one store (two nodes).
pub(crate) fn detection_counts_across_nodes_and_suspensions(a: &dyn Storage, b: &dyn Storage) {
    let now = 1_800_000_000_000;
    // Three denials seen on one node and one on the other: not yet.
    assert!(
        a.detect_flush(now, &[tally("echo", 3, &["ex1", "ex2", "ex3"])])
            .unwrap()
            .is_empty()
    );
    assert!(
        b.detect_flush(
            now + 500,
            &[tally("echo", 1, &["ex4"]), tally("notes", 4, &[])]
        )
        .unwrap()
        .is_empty()
    );
    // The fifth, on either node, reaches the count: fired once, with every node's evidence.
    let reached = b
        .detect_flush(now + 1_000, &[tally("echo", 1, &["ex5"])])
        .unwrap();
    assert_eq!(reached.len(), 1, "{reached:?}");
    assert_eq!((reached[0].key.as_str(), reached[0].n), ("echo", 5));
    let mut evidence = reached[0].executions.clone();
    evidence.sort();
    assert_eq!(evidence, ["ex1", "ex2", "ex3", "ex4", "ex5"]);
    // Consumed: the next denial starts a new count.
    assert!(
        a.detect_flush(now + 1_500, &[tally("echo", 1, &["ex6"])])
            .unwrap()
            .is_empty()
    );
    // Signals older than the window do not count: the four of `notes` are out of it.
    let later = now + 500 + 60_000;
    assert!(
        a.detect_flush(later, &[tally("notes", 1, &[])])
            .unwrap()
            .is_empty()
    );
    // Evidence is bounded however many executions the tallies name.
    let many: Vec<String> = (0..50).map(|i| format!("ex_many_{i}")).collect();
    let names: Vec<&str> = many.iter().map(String::as_str).collect();
    let reached = a.detect_flush(later, &[tally("bulk", 50, &names)]).unwrap();
    assert_eq!(reached[0].n, 50);
    assert_eq!(reached[0].executions.len(), MAX_EVIDENCE);
    // A spray from thousands of addresses, twice: one flush each, every key counted.
    let spray: Vec<Tally> = (0..3000)
        .map(|i| Tally {
            rule: "spray".into(),
            key: format!("10.0.{}.{}", i / 256, i % 256),
            n: 1,
            executions: Vec::new(),
            window_ms: 60_000,
            count: 2,
        })
        .collect();
    let started = std::time::Instant::now();
    assert!(a.detect_flush(later, &spray).unwrap().is_empty());
    let reached = b.detect_flush(later + 1, &spray).unwrap();
    println!("two flushes of 3000 keys: {:?}", started.elapsed());
    assert_eq!(reached.len(), 3000);
    assert!(reached.iter().all(|r| r.n == 2));
    // Pruning forgets what every window has passed.
    assert!(a.detect_prune(later + 1).unwrap() >= 1);

    // A caller suspended by a rule, seen from the other node, until its end.
    let rule = Actor::key("rule:abusers", "detection rule");
    let s = Suspension {
        caller: "0123456789ab".into(),
        at_ms: now,
        until_ms: now + 900_000,
        reason: "5 denials within 60 s".into(),
        by: "rule:abusers".into(),
    };
    a.suspend_caller(&s, &rule).unwrap();
    assert_eq!(b.suspensions(now + 1).unwrap(), std::slice::from_ref(&s));
    assert!(b.suspensions(now + 900_000).unwrap().is_empty());
    // Suspended again: the new end replaces the old.
    let again = Suspension {
        until_ms: now + 1_800_000,
        ..s.clone()
    };
    b.suspend_caller(&again, &rule).unwrap();
    assert_eq!(a.suspensions(now + 900_001).unwrap(), [again]);
    // An admin lifts it; lifting what is not in force changes nothing and records nothing.
    let admin = Actor::key("aaaaaaaaaaaa", "ops");
    assert!(b.resume_caller(&s.caller, now + 2, &admin).unwrap());
    assert!(a.suspensions(now + 3).unwrap().is_empty());
    assert!(!a.resume_caller(&s.caller, now + 4, &admin).unwrap());
    let kinds = |kind: &str| {
        a.events(&EventFilter {
            kind: Some(kind.into()),
            limit: 10,
            ..EventFilter::default()
        })
        .unwrap()
        .0
    };
    let suspended = kinds("caller.suspend");
    assert_eq!(suspended.len(), 2);
    assert_eq!(suspended[0].actor.key_id, "rule:abusers");
    let resumed = kinds("caller.resume");
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0].actor.key_id, "aaaaaaaaaaaa");
}
