//! Every hostile guest ends with the right outcome, within its limit plus a margin, with usage
//! figures that make sense, and the next call succeeds.

use crate::common::{SANDBOX, assert_healthy, call, limits, tool, wall_ms};
use cordon_core::{Limits, Outcome};
use cordon_sandbox::DescribeError;
use cordon_test_artifacts as guests;

/// Slack allowed past a wall-clock limit: the epoch tick is 2 ms, the rest is scheduling noise
/// on a loaded 2-core CI machine.
const MARGIN_MS: u64 = 1_000;

#[tokio::test]
async fn infinite_loop_runs_out_of_fuel() {
    let l = limits(|l| l.fuel = 50_000_000);
    let exec = call(guests::INFINITE_LOOP, "{}", &l).await;
    assert_eq!(exec.outcome, Outcome::FuelExhausted, "{exec:?}");
    assert_eq!(exec.usage.fuel_consumed, 50_000_000);
    assert_eq!(
        exec.error.as_deref(),
        Some("fuel exhausted after 50000000 units")
    );
    assert!(wall_ms(&exec) < l.timeout_ms);
    assert_healthy().await;
}

#[tokio::test]
async fn infinite_loop_with_plenty_of_fuel_hits_the_deadline() {
    let l = limits(|l| {
        l.fuel = Limits::server_caps().fuel;
        l.timeout_ms = 300;
    });
    let exec = call(guests::INFINITE_LOOP, "{}", &l).await;
    assert_eq!(exec.outcome, Outcome::Timeout, "{exec:?}");
    assert_eq!(exec.error.as_deref(), Some("timeout after 300 ms"));
    assert!(wall_ms(&exec) >= 300, "{}", wall_ms(&exec));
    assert!(wall_ms(&exec) < 300 + MARGIN_MS, "{}", wall_ms(&exec));
    // Fuel is measured whichever way the deadline ended the call (the epoch check trapping,
    // or the tokio deadline dropping a suspended guest): 300 ms of spinning burns far more than
    // ten million units (about a billion a second on this machine; round 1 reported 3,682).
    assert!(
        exec.usage.fuel_consumed > 10_000_000 && exec.usage.fuel_consumed < l.fuel,
        "{}",
        exec.usage.fuel_consumed
    );
    assert!(exec.usage.peak_memory_bytes > 0);
    assert_healthy().await;
}

#[tokio::test]
async fn sleeping_in_a_host_call_is_cut_at_the_deadline() {
    let l = limits(|l| l.timeout_ms = 300);
    let exec = call(guests::SLEEP, "{}", &l).await;
    assert_eq!(exec.outcome, Outcome::Timeout, "{exec:?}");
    assert!(wall_ms(&exec) >= 300, "{}", wall_ms(&exec));
    assert!(wall_ms(&exec) < 300 + MARGIN_MS, "{}", wall_ms(&exec));
    assert_healthy().await;
}

#[tokio::test]
async fn memory_growth_is_refused_at_the_limit() {
    let l = limits(|l| l.memory_bytes = 32 << 20);
    let exec = call(guests::MEMORY_GROWTH, "{}", &l).await;
    assert_eq!(exec.outcome, Outcome::MemoryExceeded, "{exec:?}");
    assert_eq!(
        exec.error.as_deref(),
        Some("memory limit of 33554432 bytes exceeded")
    );
    let peak = exec.usage.peak_memory_bytes;
    assert!(peak <= 32 << 20 && peak > 16 << 20, "peak {peak}");
    assert_healthy().await;
}

#[tokio::test]
async fn one_huge_allocation_is_refused() {
    let exec = call(guests::HUGE_ALLOCATION, "{}", &Limits::default()).await;
    assert_eq!(exec.outcome, Outcome::MemoryExceeded, "{exec:?}");
    assert!(exec.usage.peak_memory_bytes < 8 << 20, "{:?}", exec.usage);
    // A small allocation by the same tool is fine: the limit is on size, not on the tool.
    let exec = call(
        guests::HUGE_ALLOCATION,
        r#"{"bytes": 1048576}"#,
        &Limits::default(),
    )
    .await;
    assert_eq!(exec.outcome, Outcome::Ok, "{exec:?}");
    assert_eq!(exec.output, Some(serde_json::json!(1048576)));
    assert_healthy().await;
}

#[tokio::test]
async fn deep_recursion_traps() {
    let exec = call(guests::DEEP_RECURSION, "{}", &Limits::default()).await;
    assert_eq!(exec.outcome, Outcome::Trap, "{exec:?}");
    assert!(
        exec.error.as_deref().unwrap().starts_with("wasm trap:"),
        "{exec:?}"
    );
    assert!(exec.usage.fuel_consumed > 0);
    assert_healthy().await;
}

#[tokio::test]
async fn huge_output_is_refused() {
    let l = limits(|l| l.max_output_bytes = 1 << 20);
    let exec = call(guests::HUGE_OUTPUT, r#"{"bytes": 2097152}"#, &l).await;
    assert_eq!(exec.outcome, Outcome::OutputTooLarge, "{exec:?}");
    assert_eq!(exec.output, None);
    // The JSON string adds two quotes.
    assert_eq!(exec.usage.output_bytes, 2_097_154);
    assert_eq!(
        exec.error.as_deref(),
        Some("output of 2097154 bytes exceeds the limit of 1048576")
    );
    // Just under the limit passes.
    let exec = call(guests::HUGE_OUTPUT, r#"{"bytes": 1048574}"#, &l).await;
    assert_eq!(exec.outcome, Outcome::Ok);
    assert_eq!(exec.usage.output_bytes, 1 << 20);
    assert_healthy().await;
}

#[tokio::test]
async fn stdout_flood_is_truncated_and_flagged_not_buffered() {
    let l = limits(|l| l.max_log_bytes = 64 << 10);
    let exec = call(guests::STDOUT_FLOOD, r#"{"bytes": 4194304}"#, &l).await;
    assert_eq!(exec.outcome, Outcome::Ok, "{:?}", exec.error);
    assert_eq!(exec.usage.stdout_bytes, 4 << 20);
    assert_eq!(exec.usage.stderr_bytes, 4 << 20);
    assert!(exec.usage.stdout_truncated && exec.usage.stderr_truncated);
    assert_eq!(exec.stdout.len(), 64 << 10);
    assert_eq!(exec.stderr.len(), 64 << 10);
    // Below the cap nothing is flagged.
    let exec = call(guests::STDOUT_FLOOD, r#"{"bytes": 1000}"#, &l).await;
    assert_eq!(exec.usage.stdout_bytes, 1000);
    assert!(!exec.usage.stdout_truncated);
    assert_eq!(exec.stdout, "y".repeat(1000));
    assert_healthy().await;
}

#[tokio::test]
async fn panic_is_a_trap_carrying_the_panic_message() {
    let exec = call(guests::PANIC, "{}", &Limits::default()).await;
    assert_eq!(exec.outcome, Outcome::Trap, "{exec:?}");
    let error = exec.error.unwrap();
    assert!(error.contains("unreachable"), "{error}");
    assert!(
        error.ends_with("stderr: hostile guest panicked on purpose"),
        "{error}"
    );
    assert_healthy().await;
}

#[tokio::test]
async fn process_exit_is_a_trap() {
    let exec = call(guests::EXIT, "{}", &Limits::default()).await;
    assert_eq!(exec.outcome, Outcome::Trap, "{exec:?}");
    assert_eq!(exec.error.as_deref(), Some("tool exited with status 1"));
    assert_healthy().await;
}

#[tokio::test]
async fn looping_describe_is_stopped_and_call_still_works() {
    let l = limits(|l| l.timeout_ms = 300);
    let err = SANDBOX
        .describe(&tool(guests::DESCRIBE_LOOP), &l)
        .await
        .unwrap_err();
    let DescribeError::Failed(exec) = err else {
        panic!("expected a failed describe, got {err}");
    };
    assert!(
        matches!(exec.outcome, Outcome::Timeout | Outcome::FuelExhausted),
        "{exec:?}"
    );
    assert!(wall_ms(&exec) < 300 + MARGIN_MS);
    let exec = call(guests::DESCRIBE_LOOP, r#"{"x":1}"#, &l).await;
    assert_eq!(exec.outcome, Outcome::Ok, "{exec:?}");
    assert_healthy().await;
}

#[tokio::test]
async fn output_that_is_not_json_is_a_tool_error() {
    let exec = call(guests::NOT_JSON, "{}", &Limits::default()).await;
    assert_eq!(exec.outcome, Outcome::ToolError, "{exec:?}");
    assert!(
        exec.error
            .unwrap()
            .starts_with("tool returned output that is not valid JSON")
    );
    let exec = call(
        guests::NOT_JSON,
        r#"{"mode":"invalid"}"#,
        &Limits::default(),
    )
    .await;
    assert_eq!(exec.outcome, Outcome::InvalidInput);
    assert_eq!(exec.error.as_deref(), Some("mode invalid chosen"));
    let exec = call(guests::NOT_JSON, r#"{"mode":"failed"}"#, &Limits::default()).await;
    assert_eq!(exec.outcome, Outcome::ToolError);
    assert_eq!(exec.error.as_deref(), Some("mode failed chosen"));
}

#[tokio::test]
async fn nothing_is_shared_between_calls() {
    for _ in 0..3 {
        let exec = call(guests::COUNTER, "{}", &Limits::default()).await;
        assert_eq!(exec.output, Some(serde_json::json!(1)), "{exec:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_calls_in_parallel_do_not_disturb_a_healthy_one() {
    let spin = limits(|l| {
        l.fuel = Limits::server_caps().fuel;
        l.timeout_ms = 500;
    });
    let mut handles = Vec::new();
    for _ in 0..4 {
        let spin = spin.clone();
        handles.push(tokio::spawn(async move {
            call(guests::INFINITE_LOOP, "{}", &spin).await.outcome
        }));
    }
    // CPU-bound guests yield at every epoch tick, so this call is not starved.
    let exec = call(guests::ECHO, r#"{"a":1}"#, &Limits::default()).await;
    assert_eq!(exec.outcome, Outcome::Ok);
    for h in handles {
        assert_eq!(h.await.unwrap(), Outcome::Timeout);
    }
}

#[test]
fn every_hostile_guest_has_a_test() {
    let source = [
        include_str!("hostile.rs"),
        include_str!("filesystem.rs"),
        include_str!("network.rs"),
        include_str!("env.rs"),
        include_str!("credentials.rs"),
        include_str!("server.rs"),
        include_str!("server_ops.rs"),
        include_str!("harness.rs"),
        include_str!("progress.rs"),
        include_str!("contract_v2.rs"),
        include_str!("detection.rs"),
    ]
    .concat();
    for (name, _) in guests::HOSTILE {
        let constant = format!("guests::{}", name.to_uppercase());
        assert!(source.contains(&constant), "no test uses {constant}");
    }
}
