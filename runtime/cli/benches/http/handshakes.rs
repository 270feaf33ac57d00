//! HTTPS when clients do not keep connections open: the server's CPU per call with a new
//! connection for every call, over plain HTTP and over TLS 1.3 with a full handshake or a
//! resumed session, beside keep-alive connections of both. Measured in alternating rounds by
//! the same load generator, as the throughput section is.

use super::*;
use std::sync::Arc;

/// How one kind of load connects: keep-alive connections, or a new connection per call (over
/// TLS with this client configuration, or plain).
enum Connecting {
    KeepAlive,
    PerCall(Option<Arc<rustls::ClientConfig>>),
}

/// What is measured, in the order it runs in each round.
const KINDS: [&str; 5] = [
    "plain HTTP, keep-alive",
    "plain HTTP, a connection per call",
    "HTTPS, keep-alive",
    "HTTPS, a connection per call (full handshake)",
    "HTTPS, a connection per call (session resumed)",
];

pub(crate) fn handshakes(rt: &tokio::runtime::Runtime, setup: &Setup) {
    let rounds = std::env::var("CORDON_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(ROUNDS)
        .max(1);
    println!(
        "== HTTPS handshakes: {CONNECTIONS} clients, {rounds} rounds of {} s each, alternating",
        ROUND.as_secs()
    );
    let echo = setup.sign(Path::new(cordon_test_artifacts::ECHO), "echo");
    let (plain_dir, plain_key) = setup.data_dir("hs-plain");
    let plain = Process::cordon(&plain_dir, &["--durable-log", "true"]);
    publish(rt, &plain.addr, &plain_key, &echo);
    let (tls_dir, tls_key) = setup.data_dir("hs-https");
    let (cert, key_file, resumed) = test_certificate(&tls_dir);
    let https = Process::cordon(
        &tls_dir,
        &[
            "--durable-log",
            "true",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key_file.to_str().unwrap(),
        ],
    );
    trust(&https.addr, resumed.clone());
    publish(rt, &https.addr, &tls_key, &echo);
    // The same trust, with no session kept between connections: each one a full handshake.
    let full = {
        let mut config = (*resumed).clone();
        config.resumption = rustls::client::Resumption::disabled();
        Arc::new(config)
    };
    let runs: [(&Process, &str, Connecting); 5] = [
        (&plain, &plain_key, Connecting::KeepAlive),
        (&plain, &plain_key, Connecting::PerCall(None)),
        (&https, &tls_key, Connecting::KeepAlive),
        (&https, &tls_key, Connecting::PerCall(Some(full))),
        (&https, &tls_key, Connecting::PerCall(Some(resumed))),
    ];
    // Per kind: server CPU seconds, calls answered, failures; the rates of each round.
    let mut cpu = [(0.0f64, 0u64, 0u64); 5];
    let mut rates: [Vec<f64>; 5] = Default::default();
    for round in 0..=rounds {
        for (i, (p, key, fresh)) in runs.iter().enumerate() {
            let before = p.cpu_seconds();
            // Round 0 warms up (connections, caches, page faults) and is not counted.
            let duration = if round == 0 {
                Duration::from_secs(1)
            } else {
                ROUND
            };
            let l = match fresh {
                Connecting::KeepAlive => rt.block_on(load(
                    &p.addr,
                    "/v1/tools/echo/invoke",
                    Some(key),
                    ECHO_INPUT,
                    CONNECTIONS,
                    duration,
                )),
                Connecting::PerCall(tls) => {
                    rt.block_on(fresh_load(&p.addr, key, tls.clone(), duration))
                }
            };
            let used = p.cpu_seconds() - before;
            if round > 0 {
                cpu[i].0 += used;
                cpu[i].1 += l.latencies.len() as u64;
                cpu[i].2 += l.failures;
                rates[i].push(l.rate());
            }
        }
    }
    let per_call = |i: usize| cpu[i].0 / cpu[i].1.max(1) as f64 * 1e6;
    for (i, kind) in KINDS.iter().enumerate() {
        println!(
            "{kind:<48} median {:>7.0} req/s  server CPU per call {:>6.0} us  failures {}",
            median(rates[i].clone()),
            per_call(i),
            cpu[i].2
        );
    }
    println!(
        "ratio server CPU per call, HTTPS full handshake per call / plain HTTP connection per call: {:.2}; {:.0} vs {:.0} us",
        per_call(3) / per_call(1),
        per_call(3),
        per_call(1)
    );
    println!(
        "ratio server CPU per call, HTTPS resumed session per call / plain HTTP connection per call: {:.2}; {:.0} vs {:.0} us",
        per_call(4) / per_call(1),
        per_call(4),
        per_call(1)
    );
    println!(
        "ratio server CPU per call, HTTPS keep-alive / plain HTTP keep-alive: {:.2}; {:.0} vs {:.0} us",
        per_call(2) / per_call(0),
        per_call(2),
        per_call(0)
    );
    plain.stop();
    https.stop();
}

/// `CONNECTIONS` clients calling echo on `addr` for `duration`, each call on a connection of
/// its own (TLS with `tls`, plain TCP without), closed after its answer.
async fn fresh_load(
    addr: &str,
    key: &str,
    tls: Option<Arc<rustls::ClientConfig>>,
    duration: Duration,
) -> Load {
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (addr, key, tls) = (addr.to_owned(), key.to_owned(), tls.clone());
            tokio::spawn(async move {
                let mut load = Load::default();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let sent = match connect_with(&addr, tls.clone()).await {
                        Ok(mut sender) => send(
                            &mut sender,
                            &addr,
                            "/v1/tools/echo/invoke",
                            Some(&key),
                            Bytes::from_static(ECHO_INPUT),
                        )
                        .await
                        .ok(),
                        Err(_) => None,
                    };
                    match sent {
                        Some(status) => {
                            load.latencies.push(t.elapsed());
                            *load.statuses.entry(status).or_default() += 1;
                        }
                        None => load.failures += 1,
                    }
                }
                load
            })
        })
        .collect();
    let mut total = Load::default();
    for w in workers {
        let part = w.await.expect("worker");
        total.latencies.extend(part.latencies);
        total.failures += part.failures;
        for (status, n) in part.statuses {
            *total.statuses.entry(status).or_default() += n;
        }
    }
    total.elapsed = started.elapsed();
    total
}
