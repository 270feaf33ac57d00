//! What a receipt and a checkpoint cost: signing one (done once per execution, on the request's
//! own task) and verifying one (done by whoever checks it). `cargo bench -p cordon-trust`.

use cordon_trust::{Checkpoint, PrivateKey, Receipt, Signed};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn receipt() -> Receipt {
    Receipt {
        log_id: "0f".repeat(16),
        seq: 123_456,
        execution_id: "ex_00112233445566778899aabb".into(),
        tool: "echo".into(),
        version: "0.1.0".into(),
        digest: "ab".repeat(32),
        policy_hash: "cd".repeat(32),
        input_sha256: "ef".repeat(32),
        output_sha256: Some("01".repeat(32)),
        outcome: "ok".into(),
        usage: serde_json::json!({
            "fuel_consumed": 52_311, "peak_memory_bytes": 1_179_648, "wall_time_us": 41,
            "input_bytes": 38, "output_bytes": 38, "stdout_bytes": 0, "stderr_bytes": 0,
            "stdout_truncated": false, "stderr_truncated": false, "http_requests": 0,
            "denials": []
        }),
        started_at_ms: 1_764_590_400_000,
        finished_at_ms: 1_764_590_400_001,
        hash: "23".repeat(32),
    }
}

fn bench(c: &mut Criterion) {
    let key = PrivateKey::generate().unwrap();
    let r = receipt();
    c.bench_function("receipt: sign", |b| {
        b.iter(|| black_box(&r).sign(&key).unwrap())
    });
    let signed = r.sign(&key).unwrap();
    let id = key.key_id();
    c.bench_function("receipt: verify", |b| {
        b.iter(|| {
            black_box(&signed)
                .verify::<Receipt>(Receipt::KIND, &id)
                .unwrap()
        })
    });
    let cp = Checkpoint {
        log_id: "0f".repeat(16),
        size: 123_456,
        head: "23".repeat(32),
        time_ms: 1_764_590_400_000,
    };
    c.bench_function("checkpoint: sign", |b| {
        b.iter(|| black_box(&cp).sign(&key).unwrap())
    });
    let json = signed.to_json();
    c.bench_function("receipt: parse and verify", |b| {
        b.iter(|| {
            Signed::parse(black_box(&json))
                .unwrap()
                .verify::<Receipt>(Receipt::KIND, &id)
                .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
