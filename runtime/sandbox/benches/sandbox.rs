//! Sandbox benchmarks (`cargo bench -p cordon-sandbox`); results in `docs/benchmarks.md`.
//!
//! - `echo_warm_call`: one call of the echo tool in process (fresh instance from the `InstancePre`,
//!   call, drop), plus a percentile pass printed before criterion's own report.
//! - `sha256_16MiB/{sandboxed,native}`: sha2's portable code hashing 16 MiB, in the sandbox under
//!   fuel and epoch limits, and compiled natively (`sha2_portable`: 0.9 with `force-soft`).
//! - `load/{compile,cache_hit}`: turning component bytes into a runnable tool, with and without
//!   the compiled-component cache.

use cordon_core::{Grants, Limits};
use cordon_sandbox::{Sandbox, SandboxConfig};
use criterion::{Criterion, criterion_group, criterion_main};
use sha2_portable::{Digest, Sha256};
use std::time::{Duration, Instant};

const TEXT_KIB: usize = 1024;
const REPEAT: u64 = 16 * 1024;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn sandbox(cache: Option<std::path::PathBuf>) -> Sandbox {
    Sandbox::new(SandboxConfig {
        cache_dir: cache,
        ..SandboxConfig::default()
    })
    .expect("sandbox")
}

fn echo_warm_call(c: &mut Criterion) {
    let rt = runtime();
    let sandbox = sandbox(None);
    let tool = sandbox
        .load(&cordon_test_artifacts::bytes(cordon_test_artifacts::ECHO))
        .expect("load echo");
    let limits = Grants::default();
    let input = r#"{"message":"hello"}"#;

    // Percentiles over individual calls, which criterion's mean does not show.
    let mut samples: Vec<Duration> = (0..20_000)
        .map(|_| {
            let start = Instant::now();
            let exec = rt.block_on(sandbox.call(&tool, input, &limits));
            let took = start.elapsed();
            assert_eq!(exec.outcome, cordon_core::Outcome::Ok);
            took
        })
        .collect();
    samples.sort();
    let pct = |p: usize| samples[samples.len() * p / 100].as_secs_f64() * 1e6;
    println!(
        "echo_warm_call percentiles over {} calls: p50 {:.1} us, p90 {:.1} us, p99 {:.1} us",
        samples.len(),
        pct(50),
        pct(90),
        pct(99)
    );

    c.bench_function("echo_warm_call", |b| {
        b.to_async(&rt)
            .iter(|| async { sandbox.call(&tool, input, &limits).await })
    });
}

fn sha256_16mib(c: &mut Criterion) {
    let rt = runtime();
    let sandbox = sandbox(None);
    let tool = sandbox
        .load(&cordon_test_artifacts::bytes(cordon_test_artifacts::SHA256))
        .expect("load sha256");
    let limits = Grants::with_limits(Limits {
        fuel: Limits::server_caps().fuel,
        timeout_ms: 30_000,
        ..Limits::default()
    });
    let text = "a".repeat(TEXT_KIB);
    let input = serde_json::json!({ "text": text, "repeat": REPEAT }).to_string();

    // Both sides must compute the same digest, or the comparison means nothing.
    let native = native_sha256(&text, REPEAT);
    let exec = rt.block_on(sandbox.call(&tool, &input, &limits));
    assert_eq!(exec.output.as_ref().expect("output")["sha256"], native);
    println!("sha256_16MiB fuel consumed: {}", exec.usage.fuel_consumed);

    let mut group = c.benchmark_group("sha256_16MiB");
    group.sample_size(10);
    group.bench_function("sandboxed", |b| {
        b.to_async(&rt)
            .iter(|| async { sandbox.call(&tool, &input, &limits).await })
    });
    group.bench_function("native", |b| b.iter(|| native_sha256(&text, REPEAT)));
    group.finish();
}

fn native_sha256(text: &str, repeat: u64) -> String {
    let mut h = Sha256::new();
    for _ in 0..repeat {
        h.update(std::hint::black_box(text.as_bytes()));
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn load(c: &mut Criterion) {
    let bytes = cordon_test_artifacts::bytes(cordon_test_artifacts::WORD_COUNT);
    let dir = std::env::temp_dir().join(format!("cordon-bench-cache-{}", std::process::id()));
    let cached = sandbox(Some(dir.clone()));
    cached.load(&bytes).expect("fill the cache");
    let uncached = sandbox(None);

    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    group.bench_function("compile", |b| {
        b.iter(|| uncached.load(&bytes).expect("load"))
    });
    group.bench_function("cache_hit", |b| {
        b.iter(|| cached.load(&bytes).expect("load"))
    });
    group.finish();
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, echo_warm_call, sha256_16mib, load);
criterion_main!(benches);
