//! What scanning costs: 1 KB of a tool's typical JSON output (a search result: titles, URLs,
//! snippets, an e-mail address and a card number among them) scanned by all three detector
//! families, flagged and redacted; the same kilobyte with nothing to find; and 64 KB. p50 and
//! p90 over many scans. The target (issue 38): at most 20 us for 1 KB.
//! Run: `cargo bench -p cordon-scan --bench scan`.

use cordon_core::output::Detector;
use cordon_scan::Scan;
use serde_json::{Value, json};
use std::time::Instant;

const ALL: [Detector; 3] = [Detector::Secrets, Detector::Pii, Detector::Injection];

/// About `kb` kilobytes of search results; with `findings`, one result carries an e-mail
/// address and a card number.
fn output(kb: usize, findings: bool) -> Value {
    let mut results = Vec::new();
    let mut size = 0;
    let mut i = 0;
    while size < kb * 1024 {
        let snippet = if findings && i == 1 {
            "Contact billing@example.org; the card on file is 4111 1111 1111 1111.".to_owned()
        } else {
            format!(
                "Result {i}: the component model lets tools written in any language run in a sandbox, with capabilities granted one by one and nothing else reachable."
            )
        };
        let item = json!({
            "title": format!("Sandboxing tools, part {i}"),
            "url": format!("https://docs.example.com/guide/{i}?ref=search"),
            "snippet": snippet,
            "score": 0.5 + i as f64 / 100.0,
        });
        size += item.to_string().len();
        results.push(item);
        i += 1;
    }
    json!({"query": "sandboxing", "results": results})
}

fn percentiles(mut us: Vec<f64>) -> (f64, f64) {
    us.sort_by(f64::total_cmp);
    (us[us.len() / 2], us[us.len() * 9 / 10])
}

fn run(label: &str, value: &Value, redact: bool, rounds: usize) {
    let reachable = |host: &str| host == "docs.example.com";
    let bytes = value.to_string().len();
    let mut times = Vec::with_capacity(rounds);
    let mut found = 0;
    for _ in 0..rounds {
        let mut v = value.clone();
        let started = Instant::now();
        let mut scan = Scan::new(&ALL, &reachable, redact);
        scan.value(&mut v, "$.output");
        let findings = scan.findings();
        times.push(started.elapsed().as_secs_f64() * 1e6);
        found = findings.len();
        std::hint::black_box(&v);
    }
    let (p50, p90) = percentiles(times);
    println!(
        "{label:<44} {bytes:>6} bytes: p50 {p50:>8.1} us, p90 {p90:>8.1} us ({found} findings)"
    );
}

fn main() {
    let clean = output(1, false);
    let dirty = output(1, true);
    let big = output(64, true);
    // Warm the compiled detectors (built once per process).
    run("warm-up", &dirty, true, 50);
    run("1 KB, nothing to find", &clean, false, 20_000);
    run("1 KB, an e-mail and a card: flag", &dirty, false, 20_000);
    run("1 KB, an e-mail and a card: redact", &dirty, true, 20_000);
    run("64 KB, an e-mail and a card: redact", &big, true, 500);
}
