//! The storage conformance suite: what every [`Storage`] backend must do, written against the
//! trait alone so the same checks run on each backend (the embedded store in
//! `backend_tests.rs`; a shared backend runs the same functions on its own fresh store).
//!
//! Each function takes a fresh, empty store.

use crate::StorageError;
use crate::backend::Storage;
use crate::chain::Claim;
use crate::events::{Actor, AdminAction, EventFilter};
use crate::keys::KeySpec;
use crate::quota::{QuotaDecision, QuotaRefusal, QuotaRequest, QuotaScope, QuotaUse};
use crate::record::{Filter, NewExecution};
use crate::registry::ToolRecord;
use cordon_core::{Outcome, QuotaKind, QuotaLimits, Role, Usage};

pub(crate) fn record(name: &str, version: &str, blob: &str) -> ToolRecord {
    ToolRecord {
        name: name.into(),
        version: version.into(),
        digest: "d".repeat(64),
        blob: blob.into(),
        publisher: "acme".into(),
        signer: "ed25519:k".into(),
        description: "a tool".into(),
        input_schema: serde_json::json!({"type": "object"}),
        output_schema: None,
        policy: "[limits]\n".into(),
        policy_hash: "p".repeat(64),
        published_at_ms: 1,
        source: None,
        review: Vec::new(),
    }
}

pub(crate) fn execution(i: i64, tool: &str, caller: &str, outcome: Outcome) -> NewExecution {
    NewExecution {
        id: format!("ex-{i}"),
        started_at_ms: 1_000 * i,
        finished_at_ms: 1_000 * i + 5,
        caller: caller.into(),
        transport: "http".into(),
        tool: tool.into(),
        version: "0.1.0".into(),
        digest: "d".repeat(64),
        publisher: Some("acme".into()),
        signer: Some("ed25519:x".into()),
        policy_hash: "ab".repeat(32),
        input_bytes: 2,
        input_sha256: "cd".repeat(32),
        input: (i % 3 == 0).then(|| format!("{{\"n\":{i}}}")),
        outcome,
        error: (outcome != Outcome::Ok).then(|| "it failed \"badly\"".into()),
        usage: Usage {
            fuel_consumed: 100 + i as u64,
            // Some records name a credential the host attached.
            credentials: if i % 4 == 1 {
                vec![cordon_core::CredentialUse {
                    destination: "https://api.example.com:443".into(),
                    header: "authorization".into(),
                    secrets: vec!["token".into()],
                    requests: 1 + i as u64,
                }]
            } else {
                Vec::new()
            },
            // Some report progress.
            progress_reports: if i % 5 == 2 { 7 + i as u64 } else { 0 },
            log_messages: if i % 3 == 1 { 2 + i as u64 } else { 0 },
            ..Usage::default()
        },
        caller_name: Some(format!("name of {caller}")),
        output_sha256: (outcome == Outcome::Ok).then(|| format!("{i:064x}")),
        exchange: (i % 7 == 3).then(|| crate::record::Exchange {
            follows: Some(format!("ex_{:024}", i - 1)),
            answered_sha256: Some(format!("{i:064x}")),
            asked_sha256: None,
        }),
        decision: (i % 4 == 1).then(|| format!("{:064x}", i % 2)),
        findings: if i % 5 == 2 {
            vec![cordon_core::Finding {
                detector: "pii".into(),
                kind: "card_number".into(),
                path: "$.output.cards[0]".into(),
                count: 2,
                risk: 0.9,
            }]
        } else {
            Vec::new()
        },
        trace_id: (i % 3 == 0).then(|| format!("{i:032x}")),
        caller_certificate: (i % 4 == 1).then(|| format!("sha256:{i:064x}")),
    }
}

/// (kind, actor name, tool) of every event, oldest first.
pub(crate) fn events(s: &dyn Storage) -> Vec<(String, String, Option<String>)> {
    let (page, _) = s
        .events(&EventFilter {
            after_seq: Some(0),
            limit: 1000,
            ..EventFilter::default()
        })
        .unwrap();
    page.into_iter()
        .map(|e| (e.kind, e.actor.name, e.tool))
        .collect()
}

/// Every administrative change is applied with its one event, by the actor given; a refused or
/// empty change records nothing; events carry what changed and never a secret.
pub(crate) fn changes_leave_one_event_each(s: &dyn Storage) {
    let alice = Actor::key("a1", "alice");
    let blob = s.put_blob(b"component bytes").unwrap();
    assert_eq!(s.put_blob(b"component bytes").unwrap(), blob);
    assert_eq!(s.blob(&blob).unwrap(), b"component bytes");
    assert!(s.blob("../etc/passwd").is_err());

    s.insert_tool(&record("echo", "1.0.0", &blob), &alice)
        .unwrap();
    s.insert_tool(&record("echo", "1.1.0", &blob), &alice)
        .unwrap();
    // A version pulled from a registry keeps its pinned reference, in the record and the event.
    let pinned = format!(
        "oci://registry.example/acme/other:0.1.0@sha256:{}",
        "c".repeat(64)
    );
    let from_oci = ToolRecord {
        source: Some(pinned.clone()),
        review: vec![cordon_core::Finding {
            detector: "imports".into(),
            kind: "not_granted".into(),
            path: "wasi:http/outgoing-handler@0.2.6".into(),
            count: 1,
            risk: 0.2,
        }],
        ..record("other", "0.1.0", &blob)
    };
    let published = s.insert_tool(&from_oci, &alice).unwrap();
    assert!(
        matches!(published.event.as_ref().map(|e| &e.action),
            Some(AdminAction::ToolPublish { source: Some(s), .. }) if *s == pinned),
        "{published:?}"
    );
    // A version published twice (by two nodes at once, say) is refused by name.
    let twice = s
        .insert_tool(&record("echo", "1.0.0", &blob), &alice)
        .unwrap_err();
    assert!(
        matches!(&twice, StorageError::AlreadyPublished { name, version } if name == "echo" && version == "1.0.0"),
        "{twice}"
    );
    assert_eq!(events(s).len(), 3);
    let set = |by: &Actor| {
        s.set_policy(
            "echo",
            "[limits]\nfuel = 5\n",
            &"n".repeat(64),
            "reload",
            by,
        )
    };
    assert_eq!(set(&Actor::signal()).unwrap(), 2);
    assert_eq!(set(&Actor::signal()).unwrap(), 0, "the same policy again");
    s.quarantine("echo", "suspicious", 5, &alice).unwrap();
    assert_eq!(s.quarantined().unwrap()[0].1.reason, "suspicious");
    assert!(s.release("echo", 6, &alice).unwrap());
    assert!(!s.release("echo", 7, &alice).unwrap());
    assert_eq!(s.delete_tool("echo", &alice).unwrap(), 2);
    assert_eq!(s.delete_tool("echo", &alice).unwrap(), 0);
    let left = s.tools().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].source.as_deref(), Some(pinned.as_str()));
    assert_eq!(left[0], from_oci);

    let key = s
        .create_key(&KeySpec::new("ci", Role::Invoker), 8, &Actor::local())
        .unwrap();
    assert!(
        s.create_key(&KeySpec::new("ci", Role::Admin), 9, &alice)
            .is_err(),
        "names are unique"
    );
    assert!(s.revoke_key("ci", 10, &alice).unwrap());
    assert!(!s.revoke_key("ci", 11, &alice).unwrap());
    assert_eq!(s.authenticate(&key.secret).unwrap(), None);

    let user = Actor::local().name;
    let tool = |t: &str| Some(t.to_owned());
    assert_eq!(
        events(s),
        [
            ("tool.publish".to_owned(), "alice".to_owned(), tool("echo")),
            ("tool.publish".into(), "alice".into(), tool("echo")),
            ("tool.publish".into(), "alice".into(), tool("other")),
            ("policy.set".into(), "SIGHUP".into(), tool("echo")),
            ("tool.quarantine".into(), "alice".into(), tool("echo")),
            ("tool.release".into(), "alice".into(), tool("echo")),
            ("tool.delete".into(), "alice".into(), tool("echo")),
            ("key.create".into(), user, None),
            ("key.revoke".into(), "alice".into(), None),
        ]
    );
    let (page, _) = s
        .events(&EventFilter {
            limit: 1000,
            ..EventFilter::default()
        })
        .unwrap();
    let json = serde_json::to_string(&page).unwrap();
    assert!(!json.contains(&key.secret[20..]));
    let policy_set = page.iter().find(|e| e.kind == "policy.set").unwrap();
    assert_eq!(
        policy_set.event.as_ref().unwrap().action,
        AdminAction::PolicySet {
            tool: "echo".into(),
            old_hashes: vec!["p".repeat(64)],
            new_hash: "n".repeat(64),
            versions: 2,
            source: "reload".into(),
        }
    );
    let revoke = page.iter().find(|e| e.kind == "key.revoke").unwrap();
    assert_eq!(
        revoke.event.as_ref().unwrap().action,
        AdminAction::KeyRevoke {
            key_id: key.key.id.clone(),
            name: "ci".into(),
            role: "invoker".into(),
        }
    );
    assert!(s.verify_log(&[]).unwrap().intact);
}

/// Keys authenticate by their secret until revoked; a changed, unknown or malformed secret
/// does not.
pub(crate) fn keys_authenticate_until_revoked(s: &dyn Storage) {
    let new = s
        .create_key(&KeySpec::new("ci", Role::Invoker), 1, &Actor::local())
        .unwrap();
    assert!(new.secret.starts_with(&format!("cordon_{}_", new.key.id)));
    assert_eq!(new.secret.len(), "cordon_".len() + 12 + 1 + 43);
    assert!(!format!("{new:?}").contains(&new.secret));
    let got = s.authenticate(&new.secret).unwrap().unwrap();
    assert_eq!(
        (got.id.as_str(), got.role),
        (new.key.id.as_str(), Role::Invoker)
    );
    let mut wrong = new.secret.clone();
    let last = wrong.pop();
    wrong.push(if last == Some('A') { 'B' } else { 'A' });
    assert_eq!(s.authenticate(&wrong).unwrap(), None);
    assert_eq!(s.authenticate("cordon_000000000000_x").unwrap(), None);
    assert_eq!(s.authenticate("garbage").unwrap(), None);
    // The table a server authenticates from in memory says the same.
    let table = s.key_table().unwrap();
    assert_eq!(table.len(), 1);
    assert_eq!(table.authenticate(&new.secret, 2).unwrap().id, new.key.id);
    assert_eq!(table.authenticate(&wrong, 2), None);
    assert!(table.knows(&new.key.id) && !table.knows("000000000000"));
    // Last use is recorded in batches, and never moves back (times past the one the
    // authentications above wrote).
    let later = i64::MAX / 2;
    s.touch_keys(&[(new.key.id.clone(), later)]).unwrap();
    s.touch_keys(&[(new.key.id.clone(), later - 1)]).unwrap();
    assert_eq!(s.keys().unwrap()[0].last_used_at_ms, Some(later));
    assert!(s.revoke_key(&new.key.id, 3, &Actor::local()).unwrap());
    assert_eq!(s.authenticate(&new.secret).unwrap(), None);
    assert_eq!(s.keys().unwrap()[0].revoked_at_ms, Some(3));
    let table = s.key_table().unwrap();
    assert_eq!(table.authenticate(&new.secret, 4), None, "revoked");
    assert!(table.knows(&new.key.id));

    // A key with a description and an expiry: kept as given, and refused from its expiry on.
    let now = 1_000_000;
    let spec = KeySpec::new("deploy-bot", Role::Publisher)
        .description("CI deploys from main")
        .expires_at(Some(now + 60_000));
    let temp = s.create_key(&spec, now, &Actor::local()).unwrap();
    let stored = s
        .keys()
        .unwrap()
        .into_iter()
        .find(|k| k.id == temp.key.id)
        .unwrap();
    assert_eq!(stored.description, "CI deploys from main");
    assert_eq!(stored.expires_at_ms, Some(now + 60_000));
    let table = s.key_table().unwrap();
    assert!(table.authenticate(&temp.secret, now + 59_999).is_some());
    assert_eq!(
        table.authenticate(&temp.secret, now + 60_000),
        None,
        "expired"
    );
    let (created, _, _) = events(s).pop().unwrap();
    assert_eq!(created, "key.create");
    // Refused, with nothing stored: an expiry in the past, a name that is not one, a
    // description with a line break in it.
    let before = s.keys().unwrap().len();
    for bad in [
        KeySpec::new("late", Role::Invoker).expires_at(Some(now - 1)),
        KeySpec::new("two words", Role::Invoker),
        KeySpec::new("", Role::Invoker),
        KeySpec::new("x", Role::Invoker).description("line\nbreak"),
    ] {
        let e = s.create_key(&bad, now, &Actor::local()).unwrap_err();
        assert!(matches!(e, StorageError::InvalidKey(_)), "{e}");
    }
    assert_eq!(s.keys().unwrap().len(), before);
}

/// Executions and events share one chain: appends are numbered and linked in order, read back
/// exactly, listed newest first by every filter with cursors, and the log verifies, against a
/// true claim and not against a false one.
pub(crate) fn the_log_is_one_chain_read_back_exactly(s: &dyn Storage) {
    let (size, _) = s.head().unwrap();
    assert_eq!(size, 0);
    let id = s.log_id().unwrap();
    assert_eq!(id.len(), 32, "{id}");
    assert_eq!(s.log_id().unwrap(), id, "stable");

    let first: Vec<NewExecution> = (1..=5)
        .map(|i| {
            let outcome = if i == 4 {
                Outcome::FuelExhausted
            } else {
                Outcome::Ok
            };
            execution(
                i,
                if i % 2 == 0 { "echo" } else { "sha256" },
                "key-a",
                outcome,
            )
        })
        .collect();
    let stored = s.append(&first).unwrap();
    assert_eq!(
        stored.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    for pair in stored.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    assert!(stored.iter().all(|r| r.matches_its_hash()));
    // An administrative event between two groups takes the next number in the same chain.
    let event = s
        .create_key(&KeySpec::new("ops", Role::Auditor), 6_000, &Actor::local())
        .unwrap();
    assert!(event.secret.starts_with("cordon_"));
    let more = s
        .append(&[
            execution(7, "echo", "key-b", Outcome::Ok),
            execution(8, "echo", "key-b", Outcome::Timeout),
        ])
        .unwrap();
    assert_eq!((more[0].seq, more[1].seq), (7, 8));
    let (size, head) = s.head().unwrap();
    assert_eq!((size, head.as_str()), (8, more[1].hash.as_str()));

    // Read back exactly, by id and by place.
    for r in stored.iter().chain(&more) {
        assert_eq!(s.execution(&r.execution.id).unwrap().as_ref(), Some(r));
        assert_eq!(s.execution_at(r.seq).unwrap().as_ref(), Some(r));
    }
    assert_eq!(s.execution("ex-nope").unwrap(), None);
    assert_eq!(s.execution_at(6).unwrap(), None, "an event's place");

    // Listing: newest first, each filter, pages joined by their cursors.
    let list = |f: Filter| {
        s.executions(&f)
            .unwrap()
            .0
            .into_iter()
            .map(|r| r.seq)
            .collect::<Vec<_>>()
    };
    let all = || Filter {
        limit: 100,
        ..Filter::default()
    };
    assert_eq!(list(all()), [8, 7, 5, 4, 3, 2, 1]);
    assert_eq!(
        list(Filter {
            tool: Some("echo".into()),
            ..all()
        }),
        [8, 7, 4, 2]
    );
    assert_eq!(
        list(Filter {
            outcome: Some("fuel_exhausted".into()),
            ..all()
        }),
        [4]
    );
    assert_eq!(
        list(Filter {
            caller: Some("key-b".into()),
            ..all()
        }),
        [8, 7]
    );
    assert_eq!(
        // Started at or after `since`, before `until`.
        list(Filter {
            since_ms: Some(3_000),
            until_ms: Some(5_000),
            ..all()
        }),
        [4, 3]
    );
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = s
            .executions(&Filter {
                before_seq: cursor,
                limit: 3,
                ..Filter::default()
            })
            .unwrap();
        pages.push(page.iter().map(|r| r.seq).collect::<Vec<_>>());
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(pages.concat(), [8, 7, 5, 4, 3, 2, 1], "{pages:?}");

    // Events: executions and administrative events in one sequence, filtered.
    let kinds = |f: EventFilter| {
        s.events(&f)
            .unwrap()
            .0
            .into_iter()
            .map(|e| (e.seq, e.kind))
            .collect::<Vec<_>>()
    };
    let every = || EventFilter {
        limit: 100,
        ..EventFilter::default()
    };
    assert_eq!(
        kinds(EventFilter {
            after_seq: Some(4),
            ..every()
        }),
        [
            (5, "execution".to_owned()),
            (6, "key.create".into()),
            (7, "execution".into()),
            (8, "execution".into())
        ]
    );
    assert_eq!(
        kinds(EventFilter {
            kind: Some("key.create".into()),
            ..every()
        }),
        [(6, "key.create".to_owned())]
    );

    // Verification: intact, against the true head, not against a false one.
    let report = s.verify_log(&[]).unwrap();
    assert!(report.intact, "{:?}", report.problems);
    assert_eq!((report.records, report.size), (8, 8));
    let truth = Claim {
        size: 8,
        head: head.clone(),
        label: "true".into(),
    };
    assert!(s.verify_log(std::slice::from_ref(&truth)).unwrap().intact);
    let lie = Claim {
        size: 5,
        head: more[0].hash.clone(),
        label: "false".into(),
    };
    let report = s.verify_log(&[lie]).unwrap();
    assert!(!report.intact);
    assert_eq!(report.problem_count, 1, "{:?}", report.problems);
}

/// Checkpoints are kept; retention deletes old links only up to the newest checkpoint among
/// them, which becomes the anchor, and what is left still verifies.
pub(crate) fn retention_prunes_up_to_a_checkpoint(s: &dyn Storage) {
    assert_eq!(s.latest_checkpoint().unwrap(), None);
    let batch: Vec<NewExecution> = (1..=6)
        .map(|i| execution(i, "echo", "key-a", Outcome::Ok))
        .collect();
    let stored = s.append(&batch[..4]).unwrap();
    // Without a checkpoint nothing may go.
    assert_eq!(s.prune_before(100_000).unwrap(), 0);
    let cp = crate::log_verify::StoredCheckpoint {
        size: 4,
        head: stored[3].hash.clone(),
        at_ms: 4_500,
        signed: r#"{"kind":"checkpoint"}"#.into(),
    };
    s.put_checkpoint(&cp).unwrap();
    assert_eq!(s.latest_checkpoint().unwrap(), Some(cp.clone()));
    // The checkpoint holding a record is the oldest one at least that long; none yet for a
    // record after it.
    assert_eq!(s.checkpoint_covering(2).unwrap(), Some(cp.clone()));
    assert_eq!(s.checkpoint_covering(4).unwrap(), Some(cp.clone()));
    assert_eq!(s.checkpoint_covering(5).unwrap(), None);
    s.append(&batch[4..]).unwrap();
    // Records 1-6 are all older than the cutoff; only those up to the checkpoint go.
    assert_eq!(s.prune_before(100_000).unwrap(), 4);
    assert_eq!(s.anchor_checkpoint().unwrap(), Some(cp.signed.clone()));
    assert_eq!(s.execution_at(4).unwrap(), None);
    assert_eq!(s.execution_at(5).unwrap().unwrap().prev_hash, cp.head);
    let report = s.verify_log(&[]).unwrap();
    assert!(report.intact, "{:?}", report.problems);
    assert_eq!((report.records, report.size), (2, 6));
    // Again: nothing more may go until a newer checkpoint.
    assert_eq!(s.prune_before(100_000).unwrap(), 0);
}

fn limits(executions: Option<u64>, concurrent: Option<u64>, fuel: Option<u64>) -> QuotaScope {
    QuotaScope {
        scope: String::new(),
        limits: QuotaLimits {
            executions_per_day: executions,
            concurrent,
            fuel_per_day: fuel,
        },
    }
}

fn ask<'a>(caller: &'a str, day: i64, now: i64, scopes: &'a [QuotaScope]) -> QuotaRequest<'a> {
    QuotaRequest {
        caller,
        day,
        now_ms: now,
        lease_until_ms: now + 10_000,
        scopes,
    }
}

fn granted(d: QuotaDecision) -> Option<String> {
    match d {
        QuotaDecision::Granted { lease } => lease,
        QuotaDecision::Refused(r) => panic!("refused: {r:?}"),
    }
}

fn refused(d: QuotaDecision) -> QuotaRefusal {
    match d {
        QuotaDecision::Refused(r) => r,
        QuotaDecision::Granted { .. } => panic!("granted"),
    }
}

/// Quotas: each limit refuses exactly when reached, a refusal counts nothing, fuel is added
/// after the call, leases end with the call or by themselves, callers and days are apart.
pub(crate) fn quotas_count_refuse_and_reset(s: &dyn Storage) {
    let all = limits(Some(3), Some(2), Some(1000));
    let echo = QuotaScope {
        scope: "echo".into(),
        ..limits(Some(2), None, None)
    };
    let both = [all.clone(), echo.clone()];
    let first = granted(s.quota_acquire(&ask("alice", 10, 1_000, &both)).unwrap());
    let second = granted(s.quota_acquire(&ask("alice", 10, 1_001, &both)).unwrap());
    assert!(first.is_some() && second.is_some() && first != second);
    // Two running: the third is refused by the concurrency limit, and counts nothing.
    let r = refused(s.quota_acquire(&ask("alice", 10, 1_002, &both)).unwrap());
    assert_eq!(
        (r.quota, r.scope.as_str(), r.limit, r.used),
        (QuotaKind::Concurrent, "", 2, 2)
    );
    s.quota_finish(
        "alice",
        10,
        &["".into(), "echo".into()],
        600,
        first.as_deref(),
    )
    .unwrap();
    // One running now; but echo's own daily limit (2) is reached.
    let r = refused(s.quota_acquire(&ask("alice", 10, 1_003, &both)).unwrap());
    assert_eq!(
        (r.quota, r.scope.as_str(), r.limit, r.used),
        (QuotaKind::ExecutionsPerDay, "echo", 2, 2)
    );
    // Another tool, counted in all tools only.
    let third = granted(
        s.quota_acquire(&ask("alice", 10, 1_004, std::slice::from_ref(&all)))
            .unwrap(),
    );
    s.quota_finish(
        "alice",
        10,
        &["".into(), "echo".into()],
        500,
        second.as_deref(),
    )
    .unwrap();
    let r = refused(
        s.quota_acquire(&ask("alice", 10, 1_005, std::slice::from_ref(&all)))
            .unwrap(),
    );
    assert_eq!(
        (r.quota, r.limit, r.used),
        (QuotaKind::ExecutionsPerDay, 3, 3)
    );
    let used = s.quota_use("alice", 10, 1_006).unwrap();
    assert_eq!(
        used,
        vec![
            QuotaUse {
                scope: String::new(),
                executions: 3,
                fuel: 1_100,
                running: 1,
            },
            QuotaUse {
                scope: "echo".into(),
                executions: 2,
                fuel: 1_100,
                running: 0,
            },
        ]
    );
    // The fuel limit: a fresh day, fuel carried over only within a day.
    let fuel_only = [limits(None, None, Some(1000))];
    let lease = granted(
        s.quota_acquire(&ask("alice", 11, 2_000, &fuel_only))
            .unwrap(),
    );
    assert_eq!(lease, None, "no lease without a concurrency limit");
    s.quota_finish("alice", 11, &["".into()], 1_000, None)
        .unwrap();
    let r = refused(
        s.quota_acquire(&ask("alice", 11, 2_001, &fuel_only))
            .unwrap(),
    );
    assert_eq!(
        (r.quota, r.limit, r.used),
        (QuotaKind::FuelPerDay, 1000, 1000)
    );
    // Another caller is not affected.
    granted(s.quota_acquire(&ask("bob", 10, 1_007, &both)).unwrap());
    // A lease whose call never finished (its node died) stops counting after its deadline.
    let concurrent_one = [limits(None, Some(1), None)];
    granted(
        s.quota_acquire(&ask("carol", 10, 5_000, &concurrent_one))
            .unwrap(),
    );
    refused(
        s.quota_acquire(&ask("carol", 10, 5_001, &concurrent_one))
            .unwrap(),
    );
    granted(
        s.quota_acquire(&ask("carol", 10, 15_001, &concurrent_one))
            .unwrap(),
    );
    assert_eq!(
        s.quota_use("nobody", 10, 1).unwrap(),
        Vec::<QuotaUse>::new()
    );
    // `third` still holds its lease; ending it twice is harmless.
    s.quota_finish("alice", 10, &[], 0, third.as_deref())
        .unwrap();
    s.quota_finish("alice", 10, &[], 0, third.as_deref())
        .unwrap();
    assert_eq!(s.quota_use("alice", 10, 1_008).unwrap()[0].running, 0);
    // Pruning forgets days before the one given and ended leases, and keeps the rest.
    granted(
        s.quota_acquire(&ask("erin", 12, 29_000, &concurrent_one))
            .unwrap(),
    );
    let pruned = s.quota_prune(11, 30_000).unwrap();
    // Day 10: alice's two scopes, bob's two, carol's one; two ended leases: carol's last one
    // (until 25,001) and bob's (until 11,007: his call never finished); erin's (until 39,000)
    // is kept.
    assert_eq!(pruned, 2 + 2 + 1 + 2);
    assert_eq!(
        s.quota_use("alice", 10, 30_000).unwrap(),
        Vec::<QuotaUse>::new()
    );
    assert_eq!(s.quota_use("alice", 11, 30_000).unwrap()[0].fuel, 1_000);
    assert_eq!(s.quota_use("erin", 12, 30_000).unwrap()[0].running, 1);
}

/// Two handles on one store (two nodes) racing for the last executions of a day: exactly the
/// limit is granted.
pub(crate) fn quotas_hold_across_handles(a: &dyn Storage, b: &dyn Storage) {
    let scopes = [limits(Some(25), None, None)];
    let granted_count = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|t| {
        for (i, s) in [a, b, a, b].into_iter().enumerate() {
            let (scopes, granted_count) = (&scopes, &granted_count);
            t.spawn(move || {
                for j in 0..10 {
                    let now = 1_000 + (i * 100 + j) as i64;
                    if let QuotaDecision::Granted { .. } =
                        s.quota_acquire(&ask("dave", 3, now, scopes)).unwrap()
                    {
                        granted_count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(granted_count.into_inner(), 25);
    assert_eq!(a.quota_use("dave", 3, 0).unwrap()[0].executions, 25);
}

/// Tasks: started, touched with progress (and its lease renewed), cancelled once (the first
/// asker kept), finished once (a second finish, as by a node marking it interrupted, changes
/// nothing), found abandoned only when their lease ran out, and forgotten when expired; `b` is
/// another handle on the same store (another node).
pub(crate) fn tasks_start_report_cancel_finish_and_expire(a: &dyn Storage, b: &dyn Storage) {
    use crate::tasks::NewTask;
    fn start(id: &str, lease_until_ms: i64) -> NewTask<'_> {
        NewTask {
            id,
            caller: "key_1",
            tool: "steps",
            version: "1.0.0",
            node: "node-a",
            now_ms: 1_000,
            lease_until_ms,
            interrupted: "{\"record\":1}",
            trace: (id == "ex_1")
                .then_some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        }
    }
    a.task_start(&start("ex_1", 31_000)).unwrap();
    a.task_start(&start("ex_2", 5_000)).unwrap();
    assert!(
        a.task_start(&start("ex_1", 31_000)).is_err(),
        "ids are unique"
    );
    let t = b.task("ex_1").unwrap().expect("seen by the other handle");
    assert!(t.is_running());
    assert_eq!(
        (t.caller.as_str(), t.tool.as_str(), t.node.as_str()),
        ("key_1", "steps", "node-a")
    );
    assert_eq!((t.started_at_ms, t.lease_until_ms), (1_000, 31_000));
    assert_eq!(t.progress, None);
    // The trace the call runs in, for its later work on any node.
    assert_eq!(
        t.trace.as_deref(),
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    );
    assert_eq!(b.task("ex_2").unwrap().unwrap().trace, None);
    assert_eq!(b.task("ex_none").unwrap(), None);

    // Progress and lease renewal; a touch without progress keeps the last one.
    assert_eq!(
        a.task_touch("ex_1", Some("{\"done\":3}"), 2_000, 32_000)
            .unwrap(),
        None
    );
    assert_eq!(a.task_touch("ex_1", None, 3_000, 33_000).unwrap(), None);
    let t = b.task("ex_1").unwrap().unwrap();
    assert_eq!(t.progress.as_deref(), Some("{\"done\":3}"));
    assert_eq!((t.updated_at_ms, t.lease_until_ms), (3_000, 33_000));

    // Abandoned: only ex_2, whose lease ran out at 5 000.
    let found = b.tasks_abandoned(10_000, None).unwrap();
    assert_eq!(
        found
            .iter()
            .map(|f| (f.id.as_str(), f.interrupted.as_str()))
            .collect::<Vec<_>>(),
        [("ex_2", "{\"record\":1}")]
    );

    // A node starting again under its name finds what it left running, whatever the lease.
    let mine: Vec<String> = b
        .tasks_abandoned(0, Some("node-a"))
        .unwrap()
        .into_iter()
        .map(|f| f.id)
        .collect();
    assert_eq!(mine, ["ex_1", "ex_2"]);
    assert!(b.tasks_abandoned(0, Some("node-b")).unwrap().is_empty());

    // Cancelled through the other handle: the first asker is kept, the running node learns it
    // at its next touch.
    let t = b.task_cancel("ex_1", "key_1", 4_000).unwrap().unwrap();
    assert_eq!(t.cancel_by.as_deref(), Some("key_1"));
    let t = b.task_cancel("ex_1", "admin", 4_500).unwrap().unwrap();
    assert_eq!(t.cancel_by.as_deref(), Some("key_1"));
    assert_eq!(
        a.task_touch("ex_1", None, 5_000, 35_000)
            .unwrap()
            .as_deref(),
        Some("key_1")
    );
    assert_eq!(b.task_cancel("ex_none", "key_1", 4_000).unwrap(), None);

    // Finished once; then neither touched, cancelled nor finished again.
    assert!(
        a.task_finish(
            "ex_1",
            "cancelled",
            "{\"outcome\":\"cancelled\"}",
            6_000,
            3_606_000
        )
        .unwrap()
    );
    assert!(
        !b.task_finish("ex_1", "interrupted", "{}", 6_500, 3_606_500)
            .unwrap()
    );
    assert_eq!(
        a.task_touch("ex_1", Some("{}"), 7_000, 37_000).unwrap(),
        None
    );
    let t = b.task("ex_1").unwrap().unwrap();
    assert!(!t.is_running());
    assert_eq!(t.outcome.as_deref(), Some("cancelled"));
    assert_eq!(t.result.as_deref(), Some("{\"outcome\":\"cancelled\"}"));
    assert_eq!(t.expires_at_ms, Some(3_606_000));
    assert_eq!(t.progress.as_deref(), Some("{\"done\":3}"));
    let t = b.task_cancel("ex_1", "admin", 8_000).unwrap().unwrap();
    assert_eq!(
        t.cancel_by.as_deref(),
        Some("key_1"),
        "a finished task is not marked"
    );
    assert!(
        b.tasks_abandoned(100_000, None)
            .unwrap()
            .iter()
            .all(|f| f.id != "ex_1")
    );

    // The abandoned one claimed by a node (the claim is the finish), then expired.
    assert!(
        b.task_finish(
            "ex_2",
            "interrupted",
            "{\"outcome\":\"interrupted\"}",
            10_000,
            20_000
        )
        .unwrap()
    );
    assert!(b.tasks_abandoned(100_000, None).unwrap().is_empty());
    assert_eq!(a.tasks_prune(19_999).unwrap(), 0);
    assert_eq!(a.tasks_prune(20_000).unwrap(), 1);
    assert_eq!(b.task("ex_2").unwrap(), None);
    assert_eq!(a.tasks_prune(3_606_000).unwrap(), 1);
    assert_eq!(b.task("ex_1").unwrap(), None);
}

/// Nodes report themselves; every handle on the store lists them, newest report kept, and a
/// node not seen for a week is forgotten.
pub(crate) fn nodes_report_and_are_listed(a: &dyn Storage, b: &dyn Storage) {
    let now = 1_800_000_000_000;
    assert!(a.nodes().unwrap().is_empty());
    a.node_beat("node-b", r#"{"ready":true}"#, now).unwrap();
    b.node_beat("node-a", r#"{"ready":false}"#, now + 1)
        .unwrap();
    a.node_beat("node-b", r#"{"ready":true,"running":2}"#, now + 10_000)
        .unwrap();
    let listed = b.nodes().unwrap();
    let names: Vec<&str> = listed.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["node-a", "node-b"]);
    assert_eq!(listed[1].seen_at_ms, now + 10_000);
    assert_eq!(listed[1].beat, r#"{"ready":true,"running":2}"#);
    // A week later, only the node still reporting is listed.
    let later = now + crate::nodes::FORGOTTEN_AFTER_MS + 5_000;
    b.node_beat("node-b", "{}", later).unwrap();
    let listed = a.nodes().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "node-b");
}

/// The decisions bundle in force: applied once with one event (announced as a decisions
/// change), seen by every handle, unchanged when applied again, replaced, found by hash, and
/// removed with its own event.
pub(crate) fn decisions_apply_replace_and_remove(a: &dyn Storage, b: &dyn Storage) {
    use crate::decisions::DecisionBundle;
    let by = Actor::key("k1", "ops");
    let bundle = |n: u8| DecisionBundle {
        hash: format!("{n:064x}"),
        bundle: format!(r#"{{"package":"cordon","modules":[{n}]}}"#),
        package: "cordon".into(),
        modules: 1,
    };
    assert_eq!(a.decisions().unwrap(), None);
    assert!(!a.set_decisions(None, &by).unwrap(), "nothing to remove");
    assert!(a.set_decisions(Some(&bundle(1)), &by).unwrap());
    assert!(
        !b.set_decisions(Some(&bundle(1)), &by).unwrap(),
        "already in force"
    );
    let seen = b.decisions().unwrap().unwrap();
    assert_eq!(seen.hash, bundle(1).hash);
    assert_eq!(seen.bundle, bundle(1).bundle);
    assert!(b.set_decisions(Some(&bundle(2)), &by).unwrap());
    assert_eq!(a.decisions().unwrap().unwrap().hash, bundle(2).hash);
    // The first is still there to be shown by its hash.
    assert_eq!(
        a.decisions_by_hash(&bundle(1).hash)
            .unwrap()
            .unwrap()
            .bundle,
        bundle(1).bundle
    );
    assert_eq!(a.decisions_by_hash(&format!("{:064x}", 9)).unwrap(), None);
    assert!(a.set_decisions(None, &by).unwrap());
    assert_eq!(b.decisions().unwrap(), None);
    assert_eq!(a.decisions_by_hash("").unwrap(), None);
    let (events, _) = a
        .events(&EventFilter {
            limit: 100,
            ..EventFilter::default()
        })
        .unwrap();
    let actions: Vec<AdminAction> = events
        .into_iter()
        .filter_map(|e| e.event)
        .map(|e| e.action)
        .filter(|a| a.kind().starts_with("decisions."))
        .collect();
    assert_eq!(
        actions,
        [
            AdminAction::DecisionsRemove {
                previous: bundle(2).hash
            },
            AdminAction::DecisionsApply {
                hash: bundle(2).hash,
                previous: Some(bundle(1).hash),
                package: "cordon".into(),
                modules: 1
            },
            AdminAction::DecisionsApply {
                hash: bundle(1).hash,
                previous: None,
                package: "cordon".into(),
                modules: 1
            },
        ]
    );
    assert_eq!(
        crate::Change::of_event("decisions.apply"),
        Some(crate::Change::Decisions)
    );
    // The log still verifies with these events in it.
    assert!(a.verify_log(&[]).unwrap().intact);
}

/// Calls held for approval: held with one event, seen by every handle, decided exactly once
/// (approved or denied), expired when their time is up (on a decision that comes too late, or
/// by the sweep), and forgotten once decided long enough ago.
pub(crate) fn approvals_hold_decide_and_expire(a: &dyn Storage, b: &dyn Storage) {
    use crate::approvals::{ApprovalRow, ApprovalState, Decided};
    let now = 1_800_000_000_000;
    let held = |id: &str, expires: i64| ApprovalRow {
        id: id.into(),
        caller: "k-inv".into(),
        caller_name: "inv".into(),
        held_caller: r#"{"id":"k-inv"}"#.into(),
        tool: "delete-files".into(),
        version: "1.0.0".into(),
        digest: format!("{:064x}", 7),
        policy_hash: format!("{:064x}", 8),
        transport: "http".into(),
        input: r#"{"paths":["/tmp/x"]}"#.into(),
        input_sha256: format!("{:064x}", 9),
        decision: format!("{:064x}", 10),
        approvers: vec!["role:admin".into(), "key:ops".into()],
        reasons: vec!["deleting needs a second person".into()],
        created_at_ms: now,
        expires_at_ms: expires,
        state: ApprovalState::Pending,
        decided_by: None,
        reason: None,
        decided_at_ms: None,
    };
    let admin = Actor::key("k-adm", "admin");
    for (id, expires) in [
        ("ex_a", now + 60_000),
        ("ex_b", now + 60_000),
        ("ex_c", now + 10),
        ("ex_d", now + 20),
    ] {
        a.approval_hold(&held(id, expires)).unwrap();
    }
    assert_eq!(
        b.approval("ex_a").unwrap().unwrap(),
        held("ex_a", now + 60_000)
    );
    assert_eq!(b.approval("ex_z").unwrap(), None);
    let pending: Vec<String> = b
        .approvals_pending(None, 100)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(pending, ["ex_a", "ex_b", "ex_c", "ex_d"]);
    // Paged: two at a time, each page after the last row of the one before.
    let first = b.approvals_pending(None, 2).unwrap();
    let last = first.last().unwrap();
    let second = b
        .approvals_pending(Some((last.created_at_ms, last.id.clone())), 2)
        .unwrap();
    let paged: Vec<&str> = first.iter().chain(&second).map(|r| r.id.as_str()).collect();
    assert_eq!(paged, ["ex_a", "ex_b", "ex_c", "ex_d"]);
    let tail = second.last().unwrap();
    assert!(
        b.approvals_pending(Some((tail.created_at_ms, tail.id.clone())), 2)
            .unwrap()
            .is_empty()
    );

    // Approved once; a second decision, from any handle, does nothing.
    let Decided::Done(row) = b
        .approval_decide("ex_a", true, "looks right", &admin, now + 5)
        .unwrap()
    else {
        panic!("not approved")
    };
    assert_eq!(row.state, ApprovalState::Approved);
    assert_eq!(row.decided_by, Some(admin.clone()));
    let Decided::NotPending(row) = a
        .approval_decide("ex_a", false, "no", &admin, now + 6)
        .unwrap()
    else {
        panic!("decided twice")
    };
    assert_eq!(
        (row.state, row.reason.as_deref()),
        (ApprovalState::Approved, Some("looks right"))
    );
    let Decided::Done(row) = a
        .approval_decide("ex_b", false, "not today", &admin, now + 7)
        .unwrap()
    else {
        panic!("not denied")
    };
    assert_eq!(row.state, ApprovalState::Denied);
    assert_eq!(
        a.approval_decide("ex_z", true, "", &admin, now).unwrap(),
        Decided::Missing
    );
    // Too late: approving an expired call expires it instead.
    let Decided::Expired(row) = b
        .approval_decide("ex_c", true, "ok", &admin, now + 11)
        .unwrap()
    else {
        panic!("approved after its time")
    };
    assert_eq!(row.state, ApprovalState::Expired);
    assert_eq!(row.decided_by, Some(Actor::server()));
    // The sweep expires what is left, once.
    let expired: Vec<String> = a
        .approvals_expire(now + 30)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(expired, ["ex_d"]);
    assert!(b.approvals_expire(now + 40).unwrap().is_empty());
    assert!(a.approvals_pending(None, 100).unwrap().is_empty());

    let (events, _) = a
        .events(&EventFilter {
            limit: 100,
            ..EventFilter::default()
        })
        .unwrap();
    let mut kinds: Vec<(String, String)> = events
        .iter()
        .filter(|e| e.kind.starts_with("approval."))
        .map(|e| (e.kind.clone(), e.actor.key_id.clone()))
        .collect();
    kinds.reverse();
    let expect = |k: &str, by: &str| (k.to_owned(), by.to_owned());
    assert_eq!(
        kinds,
        [
            expect("approval.request", "k-inv"),
            expect("approval.request", "k-inv"),
            expect("approval.request", "k-inv"),
            expect("approval.request", "k-inv"),
            expect("approval.grant", "k-adm"),
            expect("approval.deny", "k-adm"),
            expect("approval.deny", "server"),
            expect("approval.deny", "server"),
        ]
    );
    assert!(a.verify_log(&[]).unwrap().intact);
    // Decided calls are forgotten after a while; their events stay.
    assert_eq!(b.approvals_prune(now + 8).unwrap(), 2);
    assert_eq!(a.approval("ex_a").unwrap(), None);
    assert!(a.approval("ex_c").unwrap().is_some());
}
