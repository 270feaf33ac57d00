//! What exporting every call's spans costs (issue 39's target: at most 10 % more server CPU
//! per call). The durable server and the same with OTLP/HTTP export to a sink in the bench's
//! bare process, every call sampled, measured two ways in alternating rounds:
//! - as fast as each goes (16 connections back to back): a slower server also gathers fewer
//!   calls per group commit, so it pays more commits and signatures per call, which adds to
//!   what the spans cost themselves;
//! - at one offered load, 60 % of the slower one's rate, paced alike: both commit alike, and
//!   the difference is the spans and their export. Each paced round's CPU is read 6 s after it
//!   ends, when the batch processor has sent what it held: a round's export is counted in it,
//!   and does not run during the next server's round (without the wait, runs gave 1.19-1.22
//!   with two servers and 1.10-1.13 with three).
//!
//! The traced servers run with cordon's default batch processor, and the sink counts the spans
//! each sends: the figures only count with every span received (5 a call).
//!
//! `CORDON_BENCH_TRACE_ENV="NAME=VALUE ..."` adds a third server, traced with these variables
//! too (`OTEL_TRACES_SAMPLER=always_off`: spans made but none exported), for finding where the
//! cost goes.

use super::*;

/// How long after a paced round its server's CPU is read: longer than the batch processor's
/// schedule delay, so that a round's spans are exported (and counted) within it.
const SETTLE: Duration = Duration::from_secs(6);

pub(crate) fn traces(rt: &tokio::runtime::Runtime, setup: &Setup) {
    let rounds = std::env::var("CORDON_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(ROUNDS)
        .max(1);
    println!(
        "== traces exported: {CONNECTIONS} keep-alive connections, {rounds} rounds of {} s each, alternating",
        ROUND.as_secs()
    );
    let echo = setup.sign(Path::new(cordon_test_artifacts::ECHO), "echo");
    let sink = Process::start({
        let mut c = Command::new(std::env::current_exe().unwrap());
        c.arg("bare-echo");
        c
    });
    let traced = |name: &str, extra: &[(String, String)]| {
        let (dir, key) = setup.data_dir(name);
        let mut cmd = Command::new(CORDON);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(&dir)
            .args(["--rate-per-key", "10000000", "--rate-per-ip", "10000000"])
            .args(["--durable-log", "true"])
            .env(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://{}", sink.addr),
            )
            .env("OTEL_TRACES_SAMPLER", "always_on")
            // The sink counts each server's spans by this name: none may be dropped for the
            // figures to count. The batch processor as cordon sets it by default.
            .env("OTEL_SERVICE_NAME", name)
            .envs(extra.iter().map(|(k, v)| (k, v)));
        let p = Process::start(cmd);
        publish(rt, &p.addr, &key, &echo);
        (p, key)
    };
    let mut servers: Vec<(String, Process, String)> = Vec::new();
    {
        let (dir, key) = setup.data_dir("tr-durable");
        let p = Process::cordon(&dir, &["--durable-log", "true"]);
        publish(rt, &p.addr, &key, &echo);
        servers.push(("durable".to_owned(), p, key));
    }
    let (p, key) = traced("tr-traced", &[]);
    servers.push(("traces exported".to_owned(), p, key));
    if let Ok(extra) = std::env::var("CORDON_BENCH_TRACE_ENV") {
        let vars: Vec<(String, String)> = extra
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let (p, key) = traced("tr-experiment", &vars);
        servers.push((format!("traced, {extra}"), p, key));
    }
    let body = || Bytes::from_static(ECHO_INPUT);
    // Every call each server answered, to set against the spans the sink got.
    let mut calls = vec![0u64; servers.len()];
    for (i, (_, p, key)) in servers.iter().enumerate() {
        let warm = rt.block_on(load(
            &p.addr,
            "/v1/tools/echo/invoke",
            Some(key),
            body(),
            CONNECTIONS,
            Duration::from_secs(1),
        ));
        calls[i] += warm.latencies.len() as u64;
    }
    let n = servers.len();
    let mut fast = vec![(0.0f64, 0u64); n];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); n];
    for _ in 0..rounds {
        for (i, (_, p, key)) in servers.iter().enumerate() {
            let (seconds, l) = measured(
                rt,
                p,
                "/v1/tools/echo/invoke",
                Some(key),
                body(),
                CONNECTIONS,
                ROUND,
            );
            fast[i].0 += seconds;
            fast[i].1 += l.latencies.len() as u64;
            calls[i] += l.latencies.len() as u64;
            rates[i].push(l.rate());
        }
    }
    let slowest = rates
        .iter()
        .map(|r| median(r.clone()))
        .fold(f64::INFINITY, f64::min);
    let paced_rate = 0.6 * slowest;
    let mut paced = vec![(0.0f64, 0u64); n];
    // The same rounds' CPU read as the load stops, without what comes after it.
    let mut paced_round = vec![(0.0f64, 0u64); n];
    for _ in 0..rounds {
        for (i, (_, p, key)) in servers.iter().enumerate() {
            let before = p.cpu_seconds();
            let l = rt.block_on(paced_load(&p.addr, key, CONNECTIONS, paced_rate, ROUND));
            paced_round[i].0 += p.cpu_seconds() - before;
            paced_round[i].1 += l.latencies.len() as u64;
            // What the batch processor still holds is exported within its schedule delay (5 s):
            // in this server's own window, not during the next server's round.
            std::thread::sleep(SETTLE);
            paced[i].0 += p.cpu_seconds() - before;
            paced[i].1 += l.latencies.len() as u64;
            calls[i] += l.latencies.len() as u64;
        }
    }
    let us = |(seconds, calls): (f64, u64)| seconds / calls.max(1) as f64 * 1e6;
    for (i, (label, _, _)) in servers.iter().enumerate() {
        println!(
            "{label:<40} as fast as it goes: median {:>7.0} req/s, server CPU per call {:>5.0} us; at {paced_rate:.0} req/s: {:>5.0} us",
            median(rates[i].clone()),
            us(fast[i]),
            us(paced[i]),
        );
    }
    for (i, (label, _, _)) in servers.iter().enumerate().skip(1) {
        println!(
            "ratio server CPU per call, {label} / durable: as fast as each goes {:.2}, at one offered load {:.2}  (target <= 1.10); the load's rounds alone {:.2} ({:.0} vs {:.0} us)",
            us(fast[i]) / us(fast[0]),
            us(paced[i]) / us(paced[0]),
            us(paced_round[i]) / us(paced_round[0]),
            us(paced_round[i]),
            us(paced_round[0]),
        );
    }
    // Spans a call made that reached the sink (5 for a REST invoke: the request, authenticate,
    // admit, execute_tool, record), once the last batches are in: fewer means the queue was
    // full and spans were dropped, which would flatter the figures above.
    let received = received_spans(&sink.addr);
    for (i, (label, _, _)) in servers.iter().enumerate().skip(1) {
        let service = if i == 1 { "tr-traced" } else { "tr-experiment" };
        let spans = received.get(service).copied().unwrap_or(0);
        println!(
            "{label:<40} spans received per call: {:.2} ({spans} for {} calls)",
            spans as f64 / calls[i].max(1) as f64,
            calls[i]
        );
    }
    sink.stop();
    for (_, p, _) in servers {
        p.stop();
    }
}

/// The sink's span counts by service, once they have not grown for longer than the servers'
/// schedule delay (5 s: they send what they hold at least that often).
fn received_spans(sink: &str) -> BTreeMap<String, u64> {
    let read = || -> BTreeMap<String, u64> {
        ureq::get(format!("http://{sink}/spans"))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    };
    let mut last = read();
    let mut unchanged = 0;
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = read();
        if now == last {
            unchanged += 1;
            if unchanged > 6 {
                return now;
            }
        } else {
            unchanged = 0;
            last = now;
        }
    }
}
