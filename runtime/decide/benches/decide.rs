//! What one decision costs: the bench bundle (`policies/decisions/bench`, about twenty rules)
//! deciding a typical call, p50 and p90 over many decisions, on one thread and on two at once
//! (the server's workers share one decider). Run: `cargo bench -p cordon-decide --bench decide`.

use cordon_decide::document::{Caller, Document, Request, Tool};
use cordon_decide::{Bundle, Decider};
use std::time::Instant;

fn document(i: usize) -> Document {
    Document {
        action: "invoke",
        caller: Caller {
            id: "a1b2c3d4e5f6".into(),
            name: format!("agent-{}", i % 7),
            kind: "key",
            roles: vec!["invoker".into()],
            issuer: None,
            subject: None,
            claims: None,
            certificate: None,
        },
        tool: Some(Tool {
            name: if i.is_multiple_of(2) { "echo" } else { "notes" }.into(),
            version: "1.0.0".into(),
            publisher: "dev".into(),
            digest: "ab".repeat(32),
            read_only: i.is_multiple_of(2),
            open_world: false,
            hosts: Vec::new(),
            mounts: Vec::new(),
            source: None,
            annotations: None,
        }),
        arguments: Some(
            serde_json::json!({"text": "hello there, how are you", "paths": ["/tmp/a"]}),
        ),
        request: Request::at(
            1_800_000_000_000 + i as i64 * 1000,
            "127.0.0.1".into(),
            "rest",
        ),
    }
}

fn percentiles(mut us: Vec<f64>) -> (f64, f64) {
    us.sort_by(f64::total_cmp);
    (us[us.len() / 2], us[us.len() * 9 / 10])
}

/// A regular expression a rule matches on every call: regorus 0.14 hands each match a copy of
/// its cached expression with an empty matching cache, so every match builds its automaton
/// again (about 10 us).
const WITH_REGEX: &str = "package cordon\nimport rego.v1\ndeny contains \"a password\" if regex.match(`(?i)password\\s*[:=]`, object.get(input.arguments, \"text\", \"\"))\n";

fn main() {
    // Another bundle's directory may be named (to compare bundles): CORDON_BENCH_BUNDLE.
    let dir = std::env::var("CORDON_BENCH_BUNDLE").map_or_else(
        |_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/decisions/bench"),
        std::path::PathBuf::from,
    );
    let bundle = Bundle::from_dir(&dir).expect("the bench bundle");
    measure("the bench bundle", &bundle);
    let mut modules = bundle.modules.clone();
    modules.push(cordon_decide::Module {
        path: "regex.rego".into(),
        text: WITH_REGEX.into(),
    });
    measure(
        "with one regular expression more",
        &Bundle::new(modules, &bundle.package).expect("a bundle"),
    );
}

fn measure(label: &str, bundle: &Bundle) {
    let decider = std::sync::Arc::new(Decider::new(bundle).expect("compiles"));
    assert!(
        decider.compiled(),
        "the bundle runs on regorus' virtual machine"
    );
    let docs: Vec<Document> = (0..64).map(document).collect();
    for d in &docs {
        decider.decide_document(d).expect("decides");
    }
    const N: usize = 20_000;
    let mut us = Vec::with_capacity(N);
    for i in 0..N {
        let started = Instant::now();
        let decision = decider
            .decide_document(&docs[i % docs.len()])
            .expect("decides");
        us.push(started.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(decision);
    }
    let (p50, p90) = percentiles(us);
    // Rules: heads, and the constants a policy names.
    let rules: usize = bundle
        .modules
        .iter()
        .map(|m| {
            m.text
                .lines()
                .filter(|l| l.contains(" if ") || l.ends_with(" if {") || l.contains(" := "))
                .count()
        })
        .sum();
    println!(
        "{label} ({rules} rules): one thread p50 {p50:.1} us, p90 {p90:.1} us ({N} decisions)"
    );
    let both: Vec<Vec<f64>> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..2)
            .map(|_| {
                let (decider, docs) = (decider.clone(), &docs);
                s.spawn(move || {
                    (0..N / 2)
                        .map(|i| {
                            let started = Instant::now();
                            std::hint::black_box(
                                decider.decide_document(&docs[i % docs.len()]).ok(),
                            );
                            started.elapsed().as_secs_f64() * 1e6
                        })
                        .collect::<Vec<f64>>()
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let (p50, p90) = percentiles(both.concat());
    println!("{label}: two threads at once p50 {p50:.1} us, p90 {p90:.1} us");
}
