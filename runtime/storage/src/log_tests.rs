//! Tests of the embedded audit log: appends, reads, migrations, and every kind of tampering.

use super::*;
use crate::chain::{Claim, GENESIS};
use crate::events::{Actor, AdminAction};
use crate::log_verify::StoredCheckpoint;
use crate::record::canonical;
use crate::schema::UNMIGRATED;
use rusqlite::Connection;

fn temp_db(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cordon-log-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("cordon.db")
}

fn exec(i: i64, tool: &str, outcome: Outcome) -> NewExecution {
    crate::conformance::execution(i, tool, "key-a", outcome)
}

fn fill(log: &ExecutionLog, n: i64) {
    let batch: Vec<_> = (1..=n)
        .map(|i| exec(i, if i % 2 == 0 { "echo" } else { "sha256" }, Outcome::Ok))
        .collect();
    log.append(&batch).unwrap();
}

#[test]
fn append_survives_reopen_and_chain_verifies() {
    let db = temp_db("reopen");
    let log = ExecutionLog::open(&db).unwrap();
    fill(&log, 5);
    drop(log);
    let log = ExecutionLog::open(&db).unwrap();
    let more = log.append(&[exec(6, "echo", Outcome::Timeout)]).unwrap();
    assert_eq!(more[0].seq, 6);
    let report = log.verify(&[]).unwrap();
    assert!(report.intact, "{report:?}");
    assert_eq!(report.records, 6);
    assert_eq!(report.head, more[0].hash);
    let got = log.get("ex-3").unwrap().unwrap();
    assert_eq!(got.execution, exec(3, "sha256", Outcome::Ok));
}

#[test]
fn edits_deletions_and_reordering_are_detected_and_named() {
    let db = temp_db("tamper");
    let log = ExecutionLog::open(&db).unwrap();
    fill(&log, 6);
    let raw = Connection::open(&db).unwrap();

    raw.execute("UPDATE executions SET fuel = 1 WHERE seq = 3", [])
        .unwrap();
    let r = log.verify(&[]).unwrap();
    assert!(!r.intact);
    assert_eq!(
        r.problems,
        ["record 3 (ex-3): field usage.fuel_consumed was edited (contents do not match its hash)"]
    );
    raw.execute("UPDATE executions SET fuel = 103 WHERE seq = 3", [])
        .unwrap();
    assert!(log.verify(&[]).unwrap().intact);

    raw.execute("DELETE FROM executions WHERE seq = 4", [])
        .unwrap();
    let r = log.verify(&[]).unwrap();
    assert_eq!(r.problem_count, 2, "{r:?}");
    assert!(r.problems[0].starts_with("record 5 (ex-5): expected record 4 here"));
    assert!(r.problems[1].starts_with("record 5 (ex-5): does not link"));
}

#[test]
fn an_edit_of_any_column_or_interned_string_is_detected() {
    let db = temp_db("columns");
    let log = ExecutionLog::open(&db).unwrap();
    fill(&log, 4);
    let raw = Connection::open(&db).unwrap();
    let timeout = log_row::outcome_code(Outcome::Timeout);
    // Each edit of a column, and the fields verify must name for it.
    let edits: [(String, &str); 13] = [
        (format!("UPDATE executions SET outcome = {timeout} WHERE seq = 2"), "outcome"),
        ("UPDATE executions SET tool = (SELECT tool FROM executions WHERE seq = 1) WHERE seq = 2".into(), "tool"),
        ("UPDATE executions SET started_at = started_at + 1 WHERE seq = 2".into(), "finished_at_ms, started_at_ms"),
        ("UPDATE executions SET duration_ms = 0 WHERE seq = 2".into(), "finished_at_ms"),
        ("UPDATE executions SET id = 'ex-forged' WHERE seq = 2".into(), "id"),
        ("UPDATE executions SET error = 'x' WHERE seq = 2".into(), "error"),
        ("UPDATE executions SET input_sha256 = zeroblob(32) WHERE seq = 2".into(), "input_sha256"),
        (r#"UPDATE executions SET denials = '[{"kind":"env","target":"X","reason":"y"}]' WHERE seq = 2"#.into(), "usage.denials"),
        ("UPDATE executions SET usage_input_bytes = 9 WHERE seq = 2".into(), "usage.input_bytes"),
        ("UPDATE executions SET caller = (SELECT transport FROM executions WHERE seq = 1) WHERE seq = 2".into(), "caller"),
        ("UPDATE executions SET output_sha256 = zeroblob(32) WHERE seq = 2".into(), "output_sha256"),
        ("UPDATE executions SET policy_hash = tool WHERE seq = 2".into(), "policy_hash"),
        ("UPDATE executions SET wall_time_us = 12345 WHERE seq = 2".into(), "usage.wall_time_us"),
    ];
    for (i, (edit, fields)) in edits.iter().enumerate() {
        let db = temp_db(&format!("columns-{i}"));
        let log = ExecutionLog::open(&db).unwrap();
        fill(&log, 4);
        assert!(log.verify(&[]).unwrap().intact);
        Connection::open(&db).unwrap().execute_batch(edit).unwrap();
        let r = log.verify(&[]).unwrap();
        assert!(!r.intact, "{edit} not detected");
        assert_eq!(
            r.problems,
            [format!(
                "record 2 (ex-{}): field {fields} was edited (contents do not match its hash)",
                if *fields == "id" { "forged" } else { "2" }
            )],
            "{edit}"
        );
    }
    // An interned string shared by several records: every one of them is named.
    raw.execute(
        "UPDATE strings SET value = 'key-b' WHERE value = 'key-a'",
        [],
    )
    .unwrap();
    let r = log.verify(&[]).unwrap();
    assert_eq!(r.problem_count, 4, "{r:?}");
    // The listing and lookup serve what is stored, and the forged value is what verify
    // reports as edited: nothing is served from outside the hashed content.
    let got = log.get("ex-1").unwrap().unwrap();
    assert_eq!(got.execution.caller, "key-b");
    // A column that no longer decodes is named.
    raw.execute("UPDATE executions SET outcome = 77 WHERE seq = 3", [])
        .unwrap();
    let r = log.verify(&[]).unwrap();
    assert!(
        r.problems
            .contains(&"record 3: field outcome is unreadable (the record was edited)".to_owned()),
        "{r:?}"
    );
}

#[test]
fn canonical_ids_and_digests_are_stored_compactly_and_read_back_exactly() {
    let db = temp_db("compact");
    let log = ExecutionLog::open(&db).unwrap();
    let mut e = exec(1, "echo", Outcome::Ok);
    e.id = "ex_00112233445566778899aabb".into();
    e.input_sha256 = "0f".repeat(32);
    e.usage.stdout_truncated = true;
    e.usage.denials = vec![cordon_core::Denial {
        kind: cordon_core::DenialKind::Network,
        target: "http://x".into(),
        reason: "not allowed".into(),
    }];
    e.usage.fuel_consumed = u64::MAX;
    e.usage.input_bytes = 7;
    log.append(std::slice::from_ref(&e)).unwrap();
    let got = log.get(&e.id).unwrap().unwrap();
    assert_eq!(got.execution, e);
    let raw = Connection::open(&db).unwrap();
    let (id_len, sha_len, hash_len): (i64, i64, i64) = raw
        .query_row(
            "SELECT length(id), length(input_sha256), length(hash) FROM executions",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((id_len, sha_len, hash_len), (12, 32, 32));
    assert!(log.verify(&[]).unwrap().intact);
}

/// A version 1 database with three chained records; `damaged` has its body replaced by
/// text that is not JSON (its hash left as it was).
fn v1_db(name: &str, damaged: Option<i64>) -> std::path::PathBuf {
    let db = temp_db(name);
    let raw = Connection::open(&db).unwrap();
    raw.execute_batch(
        "CREATE TABLE executions (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
            started_at INTEGER NOT NULL, body TEXT NOT NULL, prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL, tool TEXT NOT NULL, outcome TEXT NOT NULL, caller TEXT NOT NULL);
         CREATE INDEX executions_tool ON executions (tool, seq);
         CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    )
    .unwrap();
    let mut prev = GENESIS.to_owned();
    for i in 1..=3 {
        let e = exec(i, "echo", Outcome::Ok);
        let body = canonical(&e).unwrap();
        let h = crate::chain::link_hash(&prev, i, &body);
        let stored = if damaged == Some(i) {
            "{not json".to_owned()
        } else {
            body
        };
        raw.execute(
            "INSERT INTO executions VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'echo', 'ok', 'key-a')",
            rusqlite::params![i, e.id, e.started_at_ms, stored, prev, h],
        )
        .unwrap();
        prev = h;
    }
    db
}

#[test]
fn a_version_1_log_is_migrated_and_still_verifies() {
    let db = v1_db("v1", None);
    let log = ExecutionLog::open(&db).unwrap();
    let r = log.verify(&[]).unwrap();
    assert!(r.intact, "{r:?}");
    assert_eq!(r.records, 3);
    assert_eq!(
        log.get("ex-2").unwrap().unwrap().execution,
        exec(2, "echo", Outcome::Ok)
    );
    let more = log.append(&[exec(4, "echo", Outcome::Ok)]).unwrap();
    assert_eq!(more[0].seq, 4);
    assert!(log.verify(&[]).unwrap().intact);
    let version: i64 = Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, schema::SCHEMA_VERSION);
}

#[test]
fn a_version_1_row_that_does_not_carry_over_is_kept_and_reported() {
    // Record 2's body was damaged before the upgrade.
    let db = v1_db("v1-bad", Some(2));
    let log = ExecutionLog::open(&db).unwrap();
    let r = log.verify(&[]).unwrap();
    assert!(!r.intact);
    assert!(
        r.problems
            .iter()
            .any(|p| p.starts_with("record 2:") && p.contains(UNMIGRATED)),
        "{r:?}"
    );
    let kept: String = Connection::open(&db)
        .unwrap()
        .query_row(
            &format!("SELECT body FROM {UNMIGRATED} WHERE seq = 2"),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kept, "{not json");
    assert!(log.get("ex-3").unwrap().is_some());
}

#[test]
fn a_newer_schema_is_refused_with_a_clear_message() {
    let db = temp_db("newer");
    Connection::open(&db)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let err = ExecutionLog::open(&db).unwrap_err().to_string();
    assert!(err.contains("schema version 99"), "{err}");
}

#[test]
fn swapped_records_are_detected() {
    let db = temp_db("swap");
    let log = ExecutionLog::open(&db).unwrap();
    fill(&log, 4);
    let raw = Connection::open(&db).unwrap();
    raw.execute_batch(
        "UPDATE executions SET seq = -2 WHERE seq = 2;
         UPDATE executions SET seq = 2 WHERE seq = 3;
         UPDATE executions SET seq = 3 WHERE seq = -2;",
    )
    .unwrap();
    let r = log.verify(&[]).unwrap();
    assert!(!r.intact);
    assert!(
        r.problems.iter().any(|p| p.starts_with("record 2 (ex-3)")),
        "{r:?}"
    );
}

/// Keeps a checkpoint of the log as it is now (unsigned: the store does not check signatures).
fn checkpoint(log: &ExecutionLog, label: &str) -> StoredCheckpoint {
    let (size, head) = log.head().unwrap();
    let cp = StoredCheckpoint {
        size,
        head,
        at_ms: size * 1_000,
        signed: label.into(),
    };
    log.put_checkpoint(&cp).unwrap();
    cp
}

fn claim(cp: &StoredCheckpoint) -> Claim {
    Claim {
        size: cp.size,
        head: cp.head.clone(),
        label: cp.signed.clone(),
    }
}

#[test]
fn retention_prunes_up_to_a_checkpoint_and_keeps_the_chain_verifiable() {
    let db = temp_db("prune");
    let log = ExecutionLog::open(&db).unwrap();
    fill(&log, 3);
    let cp3 = checkpoint(&log, "cp3");
    log.append(&[exec(4, "echo", Outcome::Ok)]).unwrap();
    let cp4 = checkpoint(&log, "cp4");
    fill_from(&log, 5, 10);
    // Records 1..=4 started before 4.5 s; the newest checkpoint among them is at 4.
    assert_eq!(log.prune_before(4_500).unwrap(), 4);
    assert_eq!(log.anchor_checkpoint().unwrap().as_deref(), Some("cp4"));
    let r = log.verify(&[claim(&cp4)]).unwrap();
    assert!(r.intact, "{r:?}");
    // The outside copy and the one the log kept as its anchor.
    assert_eq!((r.records, r.checkpoints_checked), (6, 2));
    // A checkpoint of a pruned range can no longer be proven either way, and says so.
    let r = log.verify(&[claim(&cp3)]).unwrap();
    assert!(r.intact, "{r:?}");
    assert_eq!(r.unprovable.len(), 1, "{r:?}");
    // Appending after pruning and reopening still links up.
    drop(log);
    let log = ExecutionLog::open(&db).unwrap();
    log.append(&[exec(11, "echo", Outcome::Ok)]).unwrap();
    assert!(log.verify(&[]).unwrap().intact);
    // Deleting the new oldest record is still caught.
    Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM executions WHERE seq = 5", [])
        .unwrap();
    assert!(!log.verify(&[]).unwrap().intact);
}

#[test]
fn retention_without_a_checkpoint_deletes_nothing() {
    let db = temp_db("prune-none");
    let log = ExecutionLog::open(&db).unwrap();
    fill(&log, 5);
    assert_eq!(log.prune_before(i64::MAX).unwrap(), 0);
    assert_eq!(log.verify(&[]).unwrap().records, 5);
}

fn fill_from(log: &ExecutionLog, from: i64, to: i64) {
    let batch: Vec<_> = (from..=to).map(|i| exec(i, "echo", Outcome::Ok)).collect();
    log.append(&batch).unwrap();
}

fn admin(log: &ExecutionLog, at_ms: i64, action: AdminAction) -> Event {
    log.record(AdminEvent::new(at_ms, &Actor::key("k1", "alice"), action))
        .unwrap()
}

#[test]
fn admin_events_share_the_chain_and_are_listed_with_executions() {
    let db = temp_db("events");
    let log = ExecutionLog::open(&db).unwrap();
    fill(&log, 2);
    let q = admin(
        &log,
        2_500,
        AdminAction::ToolQuarantine {
            tool: "echo".into(),
            reason: "odd".into(),
        },
    );
    assert_eq!(q.seq, 3);
    fill_from(&log, 4, 5);
    let k = admin(
        &log,
        6_000,
        AdminAction::KeyRevoke {
            key_id: "k2".into(),
            name: "bob".into(),
            role: "invoker".into(),
        },
    );
    assert_eq!(k.seq, 6);
    let r = log.verify(&[]).unwrap();
    assert!(r.intact, "{r:?}");
    assert_eq!((r.records, r.size), (6, 6));

    let all = |f: EventFilter| {
        log.events(&EventFilter { limit: 100, ..f })
            .unwrap()
            .0
            .iter()
            .map(|e| (e.seq, e.kind.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        all(EventFilter::default()),
        [
            (6, "key.revoke".to_owned()),
            (5, "execution".into()),
            (4, "execution".into()),
            (3, "tool.quarantine".into()),
            (2, "execution".into()),
            (1, "execution".into())
        ]
    );
    assert_eq!(
        all(EventFilter {
            kind: Some("tool.quarantine".into()),
            ..Default::default()
        }),
        [(3, "tool.quarantine".to_owned())]
    );
    assert_eq!(
        all(EventFilter {
            tool: Some("echo".into()),
            ..Default::default()
        }),
        [
            (5, "execution".to_owned()),
            (4, "execution".into()),
            (3, "tool.quarantine".into()),
            (2, "execution".into())
        ]
    );
    assert_eq!(
        all(EventFilter {
            actor: Some("k1".into()),
            ..Default::default()
        }),
        [(6, "key.revoke".to_owned()), (3, "tool.quarantine".into())]
    );
    assert_eq!(
        all(EventFilter {
            after_seq: Some(2),
            until_ms: Some(5_000),
            ..Default::default()
        }),
        [(3, "tool.quarantine".to_owned()), (4, "execution".into())]
    );
    // Pages, newest first, with a cursor.
    let (page, next) = log
        .events(&EventFilter {
            limit: 4,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.len(), 4);
    assert_eq!(next, Some(3));
    let (page, next) = log
        .events(&EventFilter {
            limit: 4,
            before_seq: next,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(next, None);
    // Each listed event carries its hashes, and its hash is recomputable from what it carries.
    let (page, _) = log
        .events(&EventFilter {
            limit: 100,
            ..Default::default()
        })
        .unwrap();
    for e in &page {
        let (body, agrees) = e.canonical().unwrap();
        assert!(agrees);
        assert_eq!(crate::chain::link_hash(&e.prev_hash, e.seq, &body), e.hash);
    }
    assert_eq!(page.last().unwrap().prev_hash, GENESIS);
}

#[test]
fn an_edited_event_is_named_by_column_and_field() {
    let cases = [
        (
            "UPDATE events SET kind = (SELECT ref FROM strings WHERE value = 'echo')",
            "record 3 (tool.quarantine): column kind differs from the hashed event (the column was edited)",
        ),
        (
            "UPDATE events SET at = 1",
            "record 3 (tool.quarantine): column at differs from the hashed event (the column was edited)",
        ),
        (
            "UPDATE events SET body = replace(body, 'odd', 'oops')",
            "record 3 (tool.quarantine): field action.reason was edited (contents do not match its hash)",
        ),
        (
            "UPDATE events SET body = replace(body, 'alice', 'mallory')",
            "record 3 (tool.quarantine): field actor.name was edited (contents do not match its hash)",
        ),
    ];
    for (i, (edit, problem)) in cases.iter().enumerate() {
        let db = temp_db(&format!("event-edit-{i}"));
        let log = ExecutionLog::open(&db).unwrap();
        fill(&log, 2);
        admin(
            &log,
            2_500,
            AdminAction::ToolQuarantine {
                tool: "echo".into(),
                reason: "odd".into(),
            },
        );
        fill_from(&log, 4, 4);
        Connection::open(&db).unwrap().execute_batch(edit).unwrap();
        let r = log.verify(&[]).unwrap();
        assert_eq!(r.problems, [problem.to_string()], "{edit}");
    }
}

#[test]
fn deletions_insertions_and_rewrites_are_caught_with_checkpoints() {
    let fresh = |name: &str| {
        let db = temp_db(name);
        let log = ExecutionLog::open(&db).unwrap();
        fill(&log, 6);
        let cp = checkpoint(&log, "cp6");
        (db, log, cp)
    };
    // The first, a middle and the last record deleted.
    for (seq, expect) in [
        (
            1,
            "record 2 (ex-2): expected record 1 here; records 1..1 are missing",
        ),
        (
            3,
            "record 4 (ex-4): expected record 3 here; records 3..3 are missing",
        ),
        (6, "the log ends at record 5, but checkpoint 6"),
    ] {
        let (db, log, cp) = fresh(&format!("delete-{seq}"));
        // Both the kept checkpoint and an outside copy catch the last one.
        Connection::open(&db)
            .unwrap()
            .execute("DELETE FROM executions WHERE seq = ?1", [seq])
            .unwrap();
        let r = log.verify(&[claim(&cp)]).unwrap();
        assert!(!r.intact);
        assert!(r.problems[0].starts_with(expect), "{seq}: {r:?}");
        // Without any checkpoint only the last deletion goes unseen.
        Connection::open(&db)
            .unwrap()
            .execute("DELETE FROM checkpoints", [])
            .unwrap();
        assert_eq!(log.verify(&[]).unwrap().intact, seq == 6);
        assert!(!log.verify(&[claim(&cp)]).unwrap().intact);
    }
    // An inserted record (a copy of record 2 given a new sequence number at the end).
    let (db, log, cp) = fresh("insert");
    let raw = Connection::open(&db).unwrap();
    raw.execute_batch(
        "CREATE TEMP TABLE t AS SELECT * FROM executions WHERE seq = 2;
         UPDATE t SET seq = 7, id = 'ex-7';
         INSERT INTO executions SELECT * FROM t;",
    )
    .unwrap();
    let r = log.verify(&[claim(&cp)]).unwrap();
    assert!(
        r.problems
            .iter()
            .any(|p| p.starts_with("record 7 (ex-7): field id was edited")),
        "{r:?}"
    );
    // A truncated log: every record after 3 gone, and the kept checkpoints with them.
    let (db, log, cp) = fresh("truncate");
    Connection::open(&db)
        .unwrap()
        .execute_batch("DELETE FROM executions WHERE seq > 3; DELETE FROM checkpoints;")
        .unwrap();
    assert!(
        log.verify(&[]).unwrap().intact,
        "the chain alone cannot tell"
    );
    let r = log.verify(&[claim(&cp)]).unwrap();
    assert_eq!(r.problem_count, 1);
    assert!(r.problems[0].starts_with("the log ends at record 3, but checkpoint 6"));
    // A suffix rewritten with recomputed hashes (by someone with write access and the code).
    let (db, log, cp) = fresh("rewrite");
    drop(log);
    let raw = Connection::open(&db).unwrap();
    raw.execute_batch("DELETE FROM executions WHERE seq > 3; DELETE FROM checkpoints;")
        .unwrap();
    drop(raw);
    let log = ExecutionLog::open(&db).unwrap();
    // Records 4..6 again, now claiming every call timed out, chained and hashed properly.
    let forged: Vec<_> = (4..=6).map(|i| exec(i, "echo", Outcome::Timeout)).collect();
    log.append(&forged).unwrap();
    assert!(
        log.verify(&[]).unwrap().intact,
        "the chain alone cannot tell"
    );
    let r = log.verify(&[claim(&cp)]).unwrap();
    assert!(!r.intact);
    assert_eq!(
        r.problems,
        ["record 6: differs from checkpoint 6 (cp6): the log was rewritten at or before record 6"]
    );
}

#[test]
fn a_second_writer_on_the_same_database_links_to_the_true_head() {
    let db = temp_db("two-writers");
    let server = ExecutionLog::open(&db).unwrap();
    fill(&server, 2);
    // `cordon keys create --data` while the server runs: another connection appends an event.
    let cli = ExecutionLog::open(&db).unwrap();
    let e = admin(
        &cli,
        2_500,
        AdminAction::KeyCreate {
            key_id: "k3".into(),
            name: "ci".into(),
            role: "invoker".into(),
            expires_at_ms: None,
        },
    );
    assert_eq!(e.seq, 3);
    let more = server.append(&[exec(4, "echo", Outcome::Ok)]).unwrap();
    assert_eq!(more[0].seq, 4);
    assert_eq!(more[0].prev_hash, e.hash);
    assert!(server.verify(&[]).unwrap().intact);
}

#[test]
fn a_failed_change_leaves_neither_the_change_nor_its_event() {
    let db = temp_db("failed-change");
    let log = ExecutionLog::open(&db).unwrap();
    fill(&log, 1);
    let err = log.change(|tx| -> Result<((), Vec<AdminEvent>), StorageError> {
        tx.execute(
            "INSERT INTO quarantine (name, reason, at) VALUES ('echo', 'half done', 1)",
            [],
        )?;
        Err(StorageError::Corrupt("refused half way".into()))
    });
    assert!(err.is_err());
    let quarantined: i64 = Connection::open(&db)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM quarantine", [], |r| r.get(0))
        .unwrap();
    assert_eq!(quarantined, 0);
    assert_eq!(log.head().unwrap().0, 1);
    assert_eq!(
        log.events(&EventFilter {
            limit: 10,
            ..Default::default()
        })
        .unwrap()
        .0
        .len(),
        1
    );
}

#[test]
fn list_filters_and_paginates_newest_first() {
    let db = temp_db("list");
    let log = ExecutionLog::open(&db).unwrap();
    fill(&log, 9);
    let (page, next) = log
        .list(&Filter {
            tool: Some("echo".into()),
            limit: 3,
            ..Filter::default()
        })
        .unwrap();
    let ids: Vec<_> = page.iter().map(|r| r.execution.id.as_str()).collect();
    assert_eq!(ids, ["ex-8", "ex-6", "ex-4"]);
    let (page, next2) = log
        .list(&Filter {
            tool: Some("echo".into()),
            limit: 3,
            before_seq: next,
            ..Filter::default()
        })
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].execution.id, "ex-2");
    assert_eq!(next2, None);
    let (page, _) = log
        .list(&Filter {
            since_ms: Some(3_000),
            until_ms: Some(6_000),
            limit: 10,
            ..Filter::default()
        })
        .unwrap();
    assert_eq!(page.len(), 3);
}

#[test]
fn a_version_3_log_gains_the_new_columns_and_keeps_verifying() {
    let db = temp_db("v3");
    let log = ExecutionLog::open(&db).unwrap();
    // Records as version 3 wrote them: no caller name, no output digest.
    let old: Vec<_> = (1..=3)
        .map(|i| NewExecution {
            caller_name: None,
            output_sha256: None,
            exchange: None,
            findings: Vec::new(),
            trace_id: None,
            caller_certificate: None,
            ..exec(i, "echo", Outcome::Ok)
        })
        .collect();
    log.append(&old).unwrap();
    drop(log);
    // Back to the version 3 layout.
    Connection::open(&db)
        .unwrap()
        .execute_batch(
            "ALTER TABLE executions DROP COLUMN caller_name;
             ALTER TABLE executions DROP COLUMN output_sha256;
             ALTER TABLE executions DROP COLUMN checks;
             DROP TABLE events; DROP TABLE checkpoints;
             PRAGMA user_version = 3;",
        )
        .unwrap();
    let log = ExecutionLog::open(&db).unwrap();
    let r = log.verify(&[]).unwrap();
    assert!(r.intact, "{r:?}");
    assert_eq!(r.records, 3);
    assert_eq!(log.get("ex-2").unwrap().unwrap().execution, old[1]);
    // New records and events chain on to the migrated ones.
    log.append(&[exec(4, "echo", Outcome::Ok)]).unwrap();
    admin(
        &log,
        5_000,
        AdminAction::ToolRelease {
            tool: "echo".into(),
        },
    );
    let r = log.verify(&[]).unwrap();
    assert!(r.intact, "{r:?}");
    assert_eq!(r.size, 5);
    let version: i64 = Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, schema::SCHEMA_VERSION);
}

#[test]
fn a_version_6_log_gains_the_credentials_column_and_keeps_verifying() {
    let db = temp_db("v6");
    let log = ExecutionLog::open(&db).unwrap();
    // Records as version 6 wrote them: no credentials.
    let old: Vec<_> = (1..=2)
        .map(|i| {
            let mut e = exec(i, "echo", Outcome::Ok);
            e.usage.credentials.clear();
            e
        })
        .collect();
    log.append(&old).unwrap();
    drop(log);
    Connection::open(&db)
        .unwrap()
        .execute_batch(
            "ALTER TABLE executions DROP COLUMN credentials;
             PRAGMA user_version = 6;",
        )
        .unwrap();
    let log = ExecutionLog::open(&db).unwrap();
    let r = log.verify(&[]).unwrap();
    assert!(r.intact, "{r:?}");
    // A record naming the credential the host attached reads back exactly and chains on.
    let mut with = exec(3, "echo", Outcome::Ok);
    with.usage.credentials = vec![cordon_core::CredentialUse {
        destination: "https://api.github.com:443".into(),
        header: "authorization".into(),
        secrets: vec!["github-token".into()],
        requests: 2,
    }];
    log.append(std::slice::from_ref(&with)).unwrap();
    assert_eq!(log.get("ex-3").unwrap().unwrap().execution, with);
    assert_eq!(log.get("ex-1").unwrap().unwrap().execution, old[0]);
    let r = log.verify(&[]).unwrap();
    assert!(r.intact, "{r:?}");
    assert_eq!(r.size, 3);
}

#[test]
fn a_version_10_log_gains_seals_and_is_claimed_over_its_links() {
    let db = temp_db("v10");
    let log = ExecutionLog::open(&db).unwrap();
    log.append(&[exec(1, "echo", Outcome::Ok), exec(2, "echo", Outcome::Ok)])
        .unwrap();
    drop(log);
    // As version 10 left it: no seals.
    Connection::open(&db)
        .unwrap()
        .execute_batch("DROP TABLE seals; PRAGMA user_version = 10;")
        .unwrap();
    let log = ExecutionLog::open(&db).unwrap();
    assert_eq!(log.seals(0, i64::MAX).unwrap(), vec![]);
    assert_eq!(log.log_claim().unwrap(), None);
    // The first claim signs over the links written so far; a second keeps the first.
    let holder = log
        .claim_log_key("ed25519:a", &|head| Ok(format!("claimed after {head}")))
        .unwrap();
    assert_eq!(holder, "ed25519:a");
    let holder = log
        .claim_log_key("ed25519:b", &|_| Err("not asked".into()))
        .unwrap();
    assert_eq!(holder, "ed25519:a");
    assert_eq!(log.log_claim().unwrap().as_deref(), Some("claimed after 2"));
    assert!(log.verify(&[]).unwrap().intact);
}
