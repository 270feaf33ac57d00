//! The conformance suite's part on tasks written in batches (`tasks_start`, `tasks_finish`):
//! one transaction for many, the same rows as one at a time.

use crate::backend::Storage;
use crate::tasks::{NewTask, TaskEnd};

pub(crate) fn tasks_start_and_end_in_batches(s: &dyn Storage) {
    let ids = ["b1", "b2", "b3"];
    let tasks: Vec<NewTask<'_>> = ids
        .iter()
        .map(|id| NewTask {
            id,
            caller: "k",
            tool: "echo",
            version: "0.1.0",
            node: "n",
            now_ms: 10,
            lease_until_ms: 1_000,
            interrupted: "{}",
            trace: None,
        })
        .collect();
    s.tasks_start(&tasks).unwrap();
    for id in ids {
        assert!(s.task(id).unwrap().unwrap().is_running(), "{id}");
    }
    // A batch with a duplicate stores none of it.
    let again = [
        tasks[0].clone(),
        NewTask {
            id: "b4",
            ..tasks[0].clone()
        },
    ];
    assert!(s.tasks_start(&again).is_err());
    assert!(s.task("b4").unwrap().is_none());
    // Ends: each says whether its task was still running; an unknown one is false.
    let end = |id: &'static str| TaskEnd {
        id,
        outcome: "ok",
        result: "{\"done\":true}",
        progress: None,
        now_ms: 20,
        expires_at_ms: 30,
        waiting: None,
    };
    assert!(s.task_finish("b2", "interrupted", "{}", 15, 30).unwrap());
    // An end with the call's last progress keeps it over what the renewals wrote; one
    // without keeps what they wrote.
    s.task_touch("b1", Some("{\"done\":1}"), 16, 40).unwrap();
    s.task_touch("b3", Some("{\"done\":1}"), 16, 40).unwrap();
    let last = TaskEnd {
        progress: Some("{\"done\":9}"),
        ..end("b1")
    };
    let ended = s
        .tasks_finish(&[last, end("b2"), end("b3"), end("nope")])
        .unwrap();
    assert_eq!(ended, vec![true, false, true, false]);
    let b1 = s.task("b1").unwrap().unwrap();
    assert_eq!(b1.outcome.as_deref(), Some("ok"));
    assert_eq!(b1.result.as_deref(), Some("{\"done\":true}"));
    assert_eq!(b1.progress.as_deref(), Some("{\"done\":9}"));
    assert_eq!(
        s.task("b3").unwrap().unwrap().progress.as_deref(),
        Some("{\"done\":1}")
    );
    assert_eq!(
        s.task("b2").unwrap().unwrap().outcome.as_deref(),
        Some("interrupted"),
        "the first end stands"
    );
    assert_eq!(s.tasks_finish(&[]).unwrap(), Vec::<bool>::new());
}

/// A task whose round ended asking for input (`crate::task_input`): answers gather across
/// handles (two nodes), only asked keys count, one handle claims the next round, and a task
/// cancelled while it waits takes no answer.
pub(crate) fn tasks_wait_for_input(a: &dyn Storage, b: &dyn Storage) {
    let start = |id: &'static str| NewTask {
        id,
        caller: "k",
        tool: "ask",
        version: "0.2.0",
        node: "n",
        now_ms: 10,
        lease_until_ms: 1_000,
        interrupted: "{}",
        trace: None,
    };
    let waiting = crate::Waiting {
        input: "{\"file\":\"a\"}".into(),
        keys: vec!["x".into(), "y".into()],
        answers: serde_json::Map::new(),
    };
    let text = serde_json::to_string(&waiting).unwrap();
    let ask = |id: &'static str| TaskEnd {
        id,
        outcome: "input_required",
        result: "{\"input_requests\":{}}",
        progress: None,
        now_ms: 20,
        expires_at_ms: 5_000,
        waiting: Some(&text),
    };
    let answers = |v: serde_json::Value| v.as_object().unwrap().clone();
    a.tasks_start(&[start("w1"), start("w2"), start("w3")])
        .unwrap();
    assert_eq!(
        a.tasks_finish(&[ask("w1"), ask("w2")]).unwrap(),
        [true, true]
    );
    // Still running: nothing to answer.
    assert!(
        a.task_answer("w3", &answers(serde_json::json!({"x": 1})), 21)
            .unwrap()
            .is_none()
    );
    assert!(
        a.task_answer("nope", &answers(serde_json::json!({"x": 1})), 21)
            .unwrap()
            .is_none()
    );
    let row = b.task("w1").unwrap().unwrap();
    assert_eq!(row.waiting.as_ref(), Some(&waiting));
    assert_eq!(row.next, None);
    // Not answered yet: no next round.
    assert!(!a.task_proceed("w1", "r2", 22).unwrap());
    // One answer through each handle; keys not asked are dropped.
    let one = a
        .task_answer(
            "w1",
            &answers(serde_json::json!({"x": {"v": 1}, "z": 0})),
            23,
        )
        .unwrap()
        .unwrap();
    assert_eq!(one.pending(), ["y"]);
    let both = b
        .task_answer(
            "w1",
            &answers(serde_json::json!({"y": {"v": 2}, "x": "late"})),
            24,
        )
        .unwrap()
        .unwrap();
    assert!(both.complete());
    assert_eq!(both.answers["x"], serde_json::json!({"v": 1}));
    assert_eq!(both.input, waiting.input);
    // One claim wins; the row names the next round and takes no more answers.
    assert!(b.task_proceed("w1", "r2", 25).unwrap());
    assert!(!a.task_proceed("w1", "r3", 26).unwrap());
    let row = a.task("w1").unwrap().unwrap();
    assert_eq!(row.next.as_deref(), Some("r2"));
    // The answers left with the claim; the round is kept while the task goes on.
    assert_eq!(row.waiting, None);
    assert_eq!(row.expires_at_ms, None);
    assert!(
        a.task_answer("w1", &answers(serde_json::json!({"x": 9})), 27)
            .unwrap()
            .is_none()
    );
    // Cancelled while waiting: marked, and no answer or claim is taken after.
    let cancelled = a.task_cancel("w2", "k", 30).unwrap().unwrap();
    assert_eq!(cancelled.cancel_by.as_deref(), Some("k"));
    assert_eq!(cancelled.outcome.as_deref(), Some("input_required"));
    assert_eq!(cancelled.waiting, None);
    assert!(
        b.task_answer("w2", &answers(serde_json::json!({"x": 1, "y": 2})), 31)
            .unwrap()
            .is_none()
    );
    assert!(!b.task_proceed("w2", "r4", 32).unwrap());
    // A finished task that did not ask is not cancelled after its end.
    a.task_finish("w3", "ok", "{}", 40, 5_000).unwrap();
    assert_eq!(
        a.task_cancel("w3", "k", 41).unwrap().unwrap().cancel_by,
        None
    );
    // Pruning: answers expire as always; a continued round stays while its next round is
    // stored, and goes a grace after it is gone.
    let grace = crate::tasks::CHAIN_GRACE_MS;
    assert_eq!(a.tasks_prune(6_000).unwrap(), 2, "w2 and w3 expired");
    assert!(
        b.task("w1").unwrap().is_some(),
        "continued, within the grace"
    );
    a.task_start(&start("r2")).unwrap();
    assert_eq!(
        a.tasks_prune(grace + 100).unwrap(),
        0,
        "r2 is stored: w1 stays"
    );
    assert!(a.task_finish("r2", "ok", "{}", 40, 50).unwrap());
    // r2 expires, and w1 goes with it gone.
    assert_eq!(a.tasks_prune(grace + 100).unwrap(), 2);
    assert!(b.task("w1").unwrap().is_none());
}
