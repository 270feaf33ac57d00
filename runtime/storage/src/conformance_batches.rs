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
