//! What receipts and checkpoints cost. The server signs one batch statement per group commit
//! (on the journal's thread) and makes each record's receipt from it (on the request's own
//! task); whoever checks a receipt verifies one. `cargo bench -p cordon-trust`.

use cordon_core::link::{GENESIS, link_hash};
use cordon_trust::{Checkpoint, PrivateKey, Receipt, Signed, SignedBatch};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

/// A record body the size of an echo call's.
fn body(seq: i64) -> String {
    format!(
        r#"{{"id":"ex_{seq:024}","started_at_ms":1764590400000,"finished_at_ms":1764590400001,"caller":"0123456789ab","transport":"http","tool":"echo","version":"0.1.0","digest":"{d}","publisher":"dev","signer":"ed25519:{d}","policy_hash":"{d}","input_bytes":38,"input_sha256":"{d}","input":null,"outcome":"ok","error":null,"usage":{{"fuel_consumed":52311,"peak_memory_bytes":1179648,"wall_time_us":41,"input_bytes":38,"output_bytes":38,"stdout_bytes":0,"stderr_bytes":0,"http_requests":0,"denials":[]}},"caller_name":"bench","output_sha256":"{d}"}}"#,
        d = "ab".repeat(32)
    )
}

/// `n` chained links from seq 1: (prev, hash, body).
fn links(n: i64) -> Vec<(String, String, String)> {
    let mut prev = GENESIS.to_owned();
    (1..=n)
        .map(|seq| {
            let b = body(seq);
            let h = link_hash(&prev, seq, &b);
            (std::mem::replace(&mut prev, h.clone()), h, b)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let key = PrivateKey::generate().unwrap();
    let id = key.key_id();
    for n in [1, 16, 512] {
        let l = links(n);
        let hashes: Vec<&str> = l.iter().map(|(_, h, _)| h.as_str()).collect();
        c.bench_function(&format!("batch of {n}: sign"), |b| {
            b.iter(|| SignedBatch::sign(&key, "log", 1, black_box(&hashes), 0).unwrap())
        });
        let batch = SignedBatch::sign(&key, "log", 1, &hashes, 0).unwrap();
        let (prev, h, rec) = &l[l.len() / 2];
        let seq = n / 2 + 1;
        c.bench_function(&format!("batch of {n}: one receipt"), |b| {
            b.iter(|| {
                batch
                    .receipt("log", seq, prev, h, black_box(rec).clone())
                    .unwrap()
            })
        });
        let receipt = batch.receipt("log", seq, prev, h, rec.clone()).unwrap();
        let json = serde_json::to_string(&receipt).unwrap();
        c.bench_function(&format!("batch of {n}: parse and verify a receipt"), |b| {
            b.iter(|| {
                Receipt::parse(serde_json::from_str(black_box(&json)).unwrap())
                    .unwrap()
                    .verify(&id)
                    .unwrap()
            })
        });
    }
    let cp = Checkpoint {
        log_id: "0f".repeat(16),
        size: 123_456,
        head: "23".repeat(32),
        time_ms: 1_764_590_400_000,
    };
    c.bench_function("checkpoint: sign", |b| {
        b.iter(|| black_box(&cp).sign(&key).unwrap())
    });
    let signed = cp.sign(&key).unwrap().to_json();
    c.bench_function("checkpoint: parse and verify", |b| {
        b.iter(|| {
            Signed::parse(black_box(&signed))
                .unwrap()
                .verify::<Checkpoint>(Checkpoint::KIND, &id)
                .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
