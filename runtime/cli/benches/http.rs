//! HTTP benchmarks of the real `cordon serve` process (results and how to read them:
//! docs/benchmarks.md). Run with `cargo bench -p cordon --bench http`.
//!
//! 1. Throughput and latency of invoking the echo tool with auth, policy and the durable log on,
//!    side by side with a bare axum handler that echoes the same JSON, and with the log's fsync
//!    off. The three servers run as separate processes and are measured in alternating rounds by
//!    the same load generator, so the ratios compare like with like on this machine.
//! 2. 1000 concurrent invocations of a tool that sleeps 100 ms, with the in-flight bound at 1000:
//!    every call must succeed; the server's peak RSS is reported.
//! 3. Restart with 100 published tools: time from process start to "listening", all from the
//!    compiled cache.
//! 4. Traces: the durable server against the same with every call's spans exported, as fast
//!    as each goes and at one offered load below both (`traces.rs`).
//! 5. HTTPS with a new connection per call (a full handshake, or a resumed session) against
//!    plain HTTP with the same, and keep-alive connections of both (`handshakes.rs`).
//! 6. Soak: after a warm-up, a long run of invokes with mixed outcomes (ok, invalid input, a
//!    fuel kill); reports resident memory growth per million invokes after the warm-up, and the
//!    execution log's bytes on disk per record.
//!
//! Sections can be picked by name: `cargo bench -p cordon --bench http -- soak` (all run when
//! none is named); `CORDON_SOAK_INVOKES` sets the soak's length (default 1,000,000).
//! `CORDON_BENCH_BASELINE=/path/to/an/older/cordon` adds that binary's server to the throughput
//! rounds (same load, alternating), for a before/after comparison of a change in one run;
//! `CORDON_BENCH_ROUNDS` sets how many rounds (default 3).
//!
//! The bench re-executes itself with `bare-echo` to run the bare axum server in its own process.

#[path = "http/handshakes.rs"]
mod handshakes;
#[path = "http/traces.rs"]
mod traces;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CORDON: &str = env!("CARGO_BIN_EXE_cordon");
const CONNECTIONS: usize = 16;
const ROUND: Duration = Duration::from_secs(5);
/// Throughput rounds unless `CORDON_BENCH_ROUNDS` says otherwise.
const ROUNDS: usize = 3;
const ECHO_INPUT: &[u8] = br#"{"message":"hello from the benchmark"}"#;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("bare-echo") {
        bare_echo();
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let picked: Vec<&str> = args[1..]
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let run = |name: &str| picked.is_empty() || picked.contains(&name);
    let setup = Setup::new();
    if run("throughput") {
        throughput(&rt, &setup);
    }
    if run("content") {
        content(&rt, &setup);
    }
    if run("decisions") {
        decisions(&rt, &setup);
    }
    if run("traces") {
        traces::traces(&rt, &setup);
    }
    if run("handshakes") {
        handshakes::handshakes(&rt, &setup);
    }
    if run("concurrency") {
        concurrency(&rt, &setup);
    }
    if run("restart") {
        restart(&setup);
    }
    if run("soak") {
        soak(&rt, &setup);
    }
}

/// A data directory with a trusted dev key, an admin key and signed components.
struct Setup {
    root: PathBuf,
    key: PathBuf,
    trust: PathBuf,
}

fn cordon(args: &[&str]) -> String {
    cordon_with(CORDON, args)
}

fn cordon_with(binary: &str, args: &[&str]) -> String {
    let out = Command::new(binary)
        .args(args)
        .env_remove("CORDON_LOG")
        .output()
        .expect("run cordon");
    assert!(
        out.status.success(),
        "cordon {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Setup {
    fn new() -> Setup {
        let root = std::env::temp_dir().join(format!("cordon-bench-http-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("bench dir");
        let key = root.join("dev.pem");
        let out = cordon(&["keygen", "--out", key.to_str().unwrap()]);
        let key_id = out
            .lines()
            .find_map(|l| l.strip_prefix("key id:"))
            .expect("key id")
            .trim()
            .to_owned();
        let trust = root.join("trust.toml");
        std::fs::write(&trust, format!("[publishers]\ndev = [\"{key_id}\"]\n")).unwrap();
        Setup { root, key, trust }
    }

    /// Signs `component` (a path) into the bench directory.
    fn sign(&self, component: &Path, name: &str) -> PathBuf {
        let out = self.root.join(format!("{name}.signed.wasm"));
        cordon(&[
            "sign",
            component.to_str().unwrap(),
            "--key",
            self.key.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        out
    }

    /// A fresh data directory with an admin key; returns (dir, key).
    fn data_dir(&self, name: &str) -> (PathBuf, String) {
        self.data_dir_with(CORDON, name)
    }

    /// The same, made by another `cordon` binary (its own schema version).
    fn data_dir_with(&self, binary: &str, name: &str) -> (PathBuf, String) {
        let dir = self.root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(&self.trust, dir.join("trust.toml")).unwrap();
        let key = cordon_with(
            binary,
            &[
                "keys",
                "create",
                "--name",
                "bench",
                "--role",
                "admin",
                "--data",
                dir.to_str().unwrap(),
            ],
        );
        (dir, key.trim().to_owned())
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A server process and the address it listens on.
struct Process {
    child: Child,
    addr: String,
}

impl Process {
    /// Starts a process that prints `... http://ADDR ...` (or `https://`) on its first line.
    fn start(mut cmd: Command) -> Process {
        let mut child = cmd
            .env_remove("CORDON_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        Process { child, addr }
    }

    fn cordon(data: &Path, extra: &[&str]) -> Process {
        Self::cordon_with(CORDON, data, extra)
    }

    fn cordon_with(binary: &str, data: &Path, extra: &[&str]) -> Process {
        let mut cmd = Command::new(binary);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            // The load comes from one key and one address; lift the per-key and per-address
            // limits (the limiter still runs on every request).
            .args(["--rate-per-key", "10000000", "--rate-per-ip", "10000000"])
            .args(extra);
        Process::start(cmd)
    }

    /// Peak resident set size so far (VmHWM), in bytes.
    fn peak_rss(&self) -> u64 {
        self.status_kb("VmHWM:") * 1024
    }

    /// Resident set size now (VmRSS), in bytes.
    fn rss(&self) -> u64 {
        self.status_kb("VmRSS:") * 1024
    }

    fn status_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
    }

    /// CPU time (user + system) the process has used, in seconds.
    fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name (which may hold spaces) end with ')'.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        (ticks(11) + ticks(12)) / clock_ticks_per_second()
    }

    fn stop(mut self) {
        // SIGTERM, so the server shuts down as it would in production.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// The baseline: a bare axum handler that parses and re-serializes the same JSON.
fn bare_echo() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        use axum::serve::ListenerExt;
        // Also the OTLP sink of the traced servers: every export answered as a collector does
        // (an empty response is a valid protobuf one), its spans counted by service name and
        // dropped (`GET /spans`: how many arrived, which tells spans dropped by a full queue).
        let received = std::sync::Arc::new(std::sync::Mutex::new(BTreeMap::<String, u64>::new()));
        let counts = received.clone();
        let spans = move |body: Bytes| {
            let counts = counts.clone();
            async move {
                use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
                if let Ok(request) = <ExportTraceServiceRequest as prost::Message>::decode(body) {
                    let mut counts = counts.lock().unwrap();
                    for resource in request.resource_spans {
                        let service = resource
                            .resource
                            .iter()
                            .flat_map(|r| &r.attributes)
                            .find(|kv| kv.key == "service.name")
                            .and_then(|kv| kv.value.as_ref())
                            .and_then(|v| match &v.value {
                                Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) => Some(s.clone()),
                                _ => None,
                            })
                            .unwrap_or_default();
                        let n: usize = resource.scope_spans.iter().map(|s| s.spans.len()).sum();
                        *counts.entry(service).or_default() += n as u64;
                    }
                }
                (
                    [(axum::http::header::CONTENT_TYPE, "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }
        };
        let metrics = || async {
            (
                [(axum::http::header::CONTENT_TYPE, "application/x-protobuf")],
                Vec::<u8>::new(),
            )
        };
        let app = axum::Router::new()
            .route(
                "/echo",
                axum::routing::post(|axum::Json(v): axum::Json<serde_json::Value>| async move {
                    axum::Json(v)
                }),
            )
            .route("/v1/traces", axum::routing::post(spans))
            .route("/v1/metrics", axum::routing::post(metrics))
            .route(
                "/spans",
                axum::routing::get(move || async move {
                    axum::Json(received.lock().unwrap().clone())
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("bare echo on http://{}", listener.local_addr().unwrap());
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).await.unwrap();
    });
}

/// What one load run measured.
#[derive(Debug, Default)]
struct Load {
    elapsed: Duration,
    latencies: Vec<Duration>,
    statuses: BTreeMap<u16, u64>,
    failures: u64,
}

impl Load {
    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        sorted
            .get(((sorted.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or_default()
    }
}

/// One request on an open connection; returns the status.
async fn send(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    addr: &str,
    path: &str,
    key: Option<&str>,
    body: Bytes,
) -> Result<u16, hyper::Error> {
    let mut req = hyper::Request::post(path)
        .header("host", addr)
        .header("content-type", "application/json");
    if path == "/mcp" {
        // The streamable HTTP transport asks for both.
        req = req.header("accept", "application/json, text/event-stream");
    }
    if let Some(key) = key {
        req = req.header("authorization", format!("Bearer {key}"));
    }
    let req = req.body(Full::new(body)).expect("request");
    let response = sender.send_request(req).await?;
    let status = response.status().as_u16();
    response.into_body().collect().await?;
    Ok(status)
}

/// The servers spoken to over HTTPS, each with the client configuration that trusts its test CA.
static TLS: std::sync::Mutex<BTreeMap<String, std::sync::Arc<rustls::ClientConfig>>> =
    std::sync::Mutex::new(BTreeMap::new());

/// Speaks HTTPS to `addr` from now on, trusting what `config` trusts.
fn trust(addr: &str, config: std::sync::Arc<rustls::ClientConfig>) {
    TLS.lock().unwrap().insert(addr.to_owned(), config);
}

/// A connection to `addr`: HTTPS for a server `trust` named, else plain HTTP.
async fn connect(
    addr: &str,
) -> std::io::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let tls = TLS.lock().unwrap().get(addr).cloned();
    connect_with(addr, tls).await
}

/// A connection to `addr`, over TLS with `tls`, else plain.
async fn connect_with(
    addr: &str,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
) -> std::io::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    if let Some(config) = tls {
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("an IP name");
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(connection);
        return Ok(sender);
    }
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(connection);
    Ok(sender)
}

/// A CA and a certificate for 127.0.0.1 in `dir/tls/` ((cert, key) paths), and the client
/// configuration that trusts the CA.
fn test_certificate(dir: &Path) -> (PathBuf, PathBuf, std::sync::Arc<rustls::ClientConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    std::fs::write(tls.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(tls.join("key.pem"), key.serialize_pem()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    (
        tls.join("cert.pem"),
        tls.join("key.pem"),
        std::sync::Arc::new(config),
    )
}

/// `connections` keep-alive connections sending `body` to `path` back to back for `duration`.
async fn load(
    addr: &str,
    path: &str,
    key: Option<&str>,
    body: impl Into<Bytes>,
    connections: usize,
    duration: Duration,
) -> Load {
    let body: Bytes = body.into();
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (addr, path, key, body) = (
                addr.to_owned(),
                path.to_owned(),
                key.map(str::to_owned),
                body.clone(),
            );
            tokio::spawn(async move {
                let mut load = Load::default();
                let Ok(mut sender) = connect(&addr).await else {
                    load.failures += 1;
                    return load;
                };
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match send(&mut sender, &addr, &path, key.as_deref(), body.clone()).await {
                        Ok(status) => {
                            load.latencies.push(t.elapsed());
                            *load.statuses.entry(status).or_default() += 1;
                        }
                        Err(_) => {
                            load.failures += 1;
                            match connect(&addr).await {
                                Ok(s) => sender = s,
                                Err(_) => break,
                            }
                        }
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

/// `connections` keep-alive connections invoking echo at `rate` calls a second in all (each
/// on its own schedule, never catching up on missed slots) for `duration`.
async fn paced_load(
    addr: &str,
    key: &str,
    connections: usize,
    rate: f64,
    duration: Duration,
) -> Load {
    let started = Instant::now();
    let deadline = started + duration;
    let every = Duration::from_secs_f64(connections as f64 / rate.max(1.0));
    let workers: Vec<_> = (0..connections)
        .map(|i| {
            let (addr, key) = (addr.to_owned(), key.to_owned());
            tokio::spawn(async move {
                let mut load = Load::default();
                let Ok(mut sender) = connect(&addr).await else {
                    load.failures += 1;
                    return load;
                };
                // Spread over one interval, so that the calls do not arrive in bursts.
                let mut next = started + every.mul_f64(i as f64 / connections as f64);
                while next < deadline {
                    tokio::time::sleep_until(next.into()).await;
                    let t = Instant::now();
                    let body = Bytes::from_static(ECHO_INPUT);
                    match send(
                        &mut sender,
                        &addr,
                        "/v1/tools/echo/invoke",
                        Some(&key),
                        body,
                    )
                    .await
                    {
                        Ok(status) => {
                            load.latencies.push(t.elapsed());
                            *load.statuses.entry(status).or_default() += 1;
                        }
                        Err(_) => {
                            load.failures += 1;
                            break;
                        }
                    }
                    next += every;
                    let now = Instant::now();
                    if next < now {
                        next = now;
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
    }
    total.elapsed = started.elapsed();
    total
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as f64 } else { 100.0 }
}

/// (commits, statements, statements touching api_keys or tools) so far in the database.
fn pg_counters(pg: &cordon_test_postgres::TestPostgres) -> (i64, i64, i64) {
    let num = |q: &str| -> i64 {
        pg.sql("postgres", q)
            .expect("query PostgreSQL")
            .trim()
            .parse()
            .unwrap_or(0)
    };
    (
        num("SELECT xact_commit FROM pg_stat_database WHERE datname = 'postgres'"),
        num("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements"),
        num(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query ILIKE '%api_keys%' OR query ILIKE '%FROM tools%'",
        ),
    )
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn throughput(rt: &tokio::runtime::Runtime, setup: &Setup) {
    let rounds = std::env::var("CORDON_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(ROUNDS)
        .max(1);
    println!(
        "== invoke throughput: {CONNECTIONS} keep-alive connections, {rounds} rounds of {} s each, alternating",
        ROUND.as_secs()
    );
    let echo = setup.sign(Path::new(cordon_test_artifacts::ECHO), "echo");
    let bare = Process::start({
        let mut c = Command::new(std::env::current_exe().unwrap());
        c.arg("bare-echo");
        c
    });
    let mut servers = Vec::new();
    for (label, durable) in [
        ("cordon, durable log", "true"),
        ("cordon, log fsync off", "false"),
    ] {
        let (dir, key) = setup.data_dir(&format!("tp-{durable}"));
        let p = Process::cordon(&dir, &["--durable-log", durable]);
        publish(rt, &p.addr, &key, &echo);
        servers.push((label.to_owned(), p, key));
    }
    // The same server on a shared PostgreSQL store (started here, statements counted).
    let pg = cordon_test_postgres::TestPostgres::start_with(&[
        "shared_preload_libraries=pg_stat_statements",
    ])
    .expect("start PostgreSQL");
    pg.sql("postgres", "CREATE EXTENSION pg_stat_statements")
        .expect("pg_stat_statements");
    let url = pg.url("postgres");
    let pg_dir = setup.root.join("tp-postgres");
    std::fs::create_dir_all(&pg_dir).unwrap();
    let pg_key = {
        let out = Command::new(CORDON)
            .env("CORDON_DATABASE", &url)
            .args(["keys", "create", "--name", "bench", "--role", "admin"])
            .output()
            .expect("keys create");
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let pg_server = {
        let mut cmd = Command::new(CORDON);
        cmd.env("CORDON_DATABASE", &url)
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(&pg_dir)
            .arg("--trust")
            .arg(&setup.trust)
            .args(["--rate-per-key", "10000000", "--rate-per-ip", "10000000"]);
        Process::start(cmd)
    };
    publish(rt, &pg_server.addr, &pg_key, &echo);
    servers.push(("cordon, PostgreSQL".to_owned(), pg_server, pg_key));
    let pg_index = servers.len();

    let baseline = std::env::var("CORDON_BENCH_BASELINE").ok();
    if let Some(bin) = &baseline {
        let (dir, key) = setup.data_dir_with(bin, "tp-baseline");
        let p = Process::cordon_with(bin, &dir, &["--durable-log", "true"]);
        // The echo as the SDK of contract 0.1.0 built it (what a baseline of that time ran):
        // the comparison is this server with today's SDK against that one with its own.
        let old_echo = setup.sign(Path::new(cordon_test_artifacts::ECHO_0_1_0), "echo-0.1.0");
        publish(rt, &p.addr, &key, &old_echo);
        servers.push(("baseline, durable log".to_owned(), p, key));
    }

    // The same echo under a policy that lets it reach the network (it never does): each call
    // is stored as a task before it runs, so a crash under it is still recorded.
    let outside_index = {
        let (dir, key) = setup.data_dir("tp-outside");
        let policies = dir.join("policies");
        std::fs::create_dir_all(&policies).unwrap();
        std::fs::write(
            policies.join("echo.toml"),
            "[network]\nallow = [\"https://example.com\"]\n",
        )
        .unwrap();
        let p = Process::cordon(
            &dir,
            &[
                "--durable-log",
                "true",
                "--policies",
                policies.to_str().unwrap(),
            ],
        );
        publish(rt, &p.addr, &key, &echo);
        servers.push(("cordon, echo may act outside".to_owned(), p, key));
        servers.len()
    };

    // The durable server with every call's spans exported over OTLP/HTTP (to the bare
    // process, which drops them): what tracing costs with export on and nothing sampled out.
    let traced_index = {
        let (dir, key) = setup.data_dir("tp-traced");
        let mut cmd = Command::new(CORDON);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(&dir)
            .args(["--rate-per-key", "10000000", "--rate-per-ip", "10000000"])
            .args(["--durable-log", "true"])
            .env(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://{}", bare.addr),
            )
            .env("OTEL_TRACES_SAMPLER", "always_on")
            // A queue that holds a few seconds of spans, sent five times a second: what is
            // measured is export, not spans dropped for a full queue.
            .env("OTEL_BSP_MAX_QUEUE_SIZE", "262144")
            .env("OTEL_BSP_SCHEDULE_DELAY", "200");
        let p = Process::start(cmd);
        publish(rt, &p.addr, &key, &echo);
        servers.push(("cordon, durable, traces exported".to_owned(), p, key));
        servers.len()
    };
    // The durable server over HTTPS (TLS 1.3, keep-alive connections): what encryption costs
    // a call once its connection is open.
    let https_index = {
        let (dir, key) = setup.data_dir("tp-https");
        let (cert, tls_key, client) = test_certificate(&dir);
        let p = Process::cordon(
            &dir,
            &[
                "--durable-log",
                "true",
                "--tls-cert",
                cert.to_str().unwrap(),
                "--tls-key",
                tls_key.to_str().unwrap(),
            ],
        );
        trust(&p.addr, client);
        publish(rt, &p.addr, &key, &echo);
        servers.push(("cordon, durable, HTTPS".to_owned(), p, key));
        servers.len()
    };
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); servers.len() + 1];
    // Per server: CPU seconds it used during its rounds, and the calls it answered.
    let mut cpu: Vec<(f64, u64)> = vec![(0.0, 0); servers.len()];
    let mut last: Vec<Load> = Vec::new();
    // Warm-up: connections, caches, page faults.
    rt.block_on(load(
        &bare.addr,
        "/echo",
        None,
        ECHO_INPUT,
        CONNECTIONS,
        Duration::from_secs(1),
    ));
    for (_, p, key) in &servers {
        rt.block_on(load(
            &p.addr,
            "/v1/tools/echo/invoke",
            Some(key),
            ECHO_INPUT,
            CONNECTIONS,
            Duration::from_secs(1),
        ));
    }
    let pg_before = pg_counters(&pg);
    let mut bare_cpu: (f64, u64) = (0.0, 0);
    for _ in 0..rounds {
        last.clear();
        let (seconds, l) = measured(rt, &bare, "/echo", None, ECHO_INPUT, CONNECTIONS, ROUND);
        bare_cpu.0 += seconds;
        bare_cpu.1 += l.latencies.len() as u64;
        rates[0].push(l.rate());
        last.push(l);
        for (i, (_, p, key)) in servers.iter().enumerate() {
            let (seconds, l) = measured(
                rt,
                p,
                "/v1/tools/echo/invoke",
                Some(key),
                ECHO_INPUT,
                CONNECTIONS,
                ROUND,
            );
            cpu[i].0 += seconds;
            cpu[i].1 += l.latencies.len() as u64;
            rates[i + 1].push(l.rate());
            last.push(l);
        }
    }
    let pg_after = pg_counters(&pg);
    let mut labels = vec!["bare axum echo"];
    labels.extend(servers.iter().map(|(l, _, _)| l.as_str()));
    for (i, label) in labels.iter().enumerate() {
        let l = &last[i];
        println!(
            "{label:<24} median {:>9.0} req/s  (rounds: {})  last round p50 {:>7.0} us  p99 {:>7.0} us  statuses {:?}  failures {}",
            median(rates[i].clone()),
            rates[i]
                .iter()
                .map(|r| format!("{r:.0}"))
                .collect::<Vec<_>>()
                .join(", "),
            l.percentile(0.5).as_secs_f64() * 1e6,
            l.percentile(0.99).as_secs_f64() * 1e6,
            l.statuses,
            l.failures,
        );
    }
    let us_per_call = |(seconds, calls): (f64, u64)| seconds / calls.max(1) as f64 * 1e6;
    println!(
        "{:<24} server CPU per call {:>6.0} us",
        "bare axum echo",
        us_per_call(bare_cpu)
    );
    for (i, (label, _, _)) in servers.iter().enumerate() {
        println!(
            "{label:<24} server CPU per call {:>6.0} us",
            us_per_call(cpu[i])
        );
    }
    println!(
        "ratio server CPU per call, cordon (durable) / bare axum: {:.1}  (target <= 4)",
        us_per_call(cpu[0]) / us_per_call(bare_cpu)
    );
    let (b, d, n) = (
        median(rates[0].clone()),
        median(rates[1].clone()),
        median(rates[2].clone()),
    );
    let calls = cpu[pg_index - 1].1.max(1) as f64;
    println!(
        "PostgreSQL per invoke: {:.3} commits, {:.2} statements (round trips), {:.3} statements reading api_keys or tools (all rounds: {} calls)",
        (pg_after.0 - pg_before.0) as f64 / calls,
        (pg_after.1 - pg_before.1) as f64 / calls,
        (pg_after.2 - pg_before.2) as f64 / calls,
        calls
    );
    println!(
        "ratio PostgreSQL / embedded (durable): {:.2}  (target >= 0.8)",
        median(rates[pg_index].clone()) / d
    );
    println!(
        "ratio cordon (durable) / bare axum: {:.2}  (target >= 0.35)",
        d / b
    );
    println!(
        "ratio durable / fsync off:          {:.2}  (target >= 0.8)",
        d / n
    );
    if let Some(bin) = &baseline {
        println!(
            "ratio durable / baseline ({bin}): {:.2}",
            d / median(rates[pg_index + 1].clone())
        );
    }
    println!(
        "ratio echo that may act outside / durable: {:.2}  (a task stored before each call, ended after); server CPU per call {:.0} vs {:.0} us",
        median(rates[outside_index].clone()) / d,
        us_per_call(cpu[outside_index - 1]),
        us_per_call(cpu[0])
    );
    println!(
        "ratio server CPU per call, traces exported (every call sampled) / durable: {:.2}  (target <= 1.10); {:.0} vs {:.0} us, {:.0} vs {:.0} req/s",
        us_per_call(cpu[traced_index - 1]) / us_per_call(cpu[0]),
        us_per_call(cpu[traced_index - 1]),
        us_per_call(cpu[0]),
        median(rates[traced_index].clone()),
        d
    );
    println!(
        "ratio server CPU per call, HTTPS (TLS 1.3, keep-alive) / plain HTTP (durable): {:.2}; {:.0} vs {:.0} us, {:.0} vs {:.0} req/s",
        us_per_call(cpu[https_index - 1]) / us_per_call(cpu[0]),
        us_per_call(cpu[https_index - 1]),
        us_per_call(cpu[0]),
        median(rates[https_index].clone()),
        d
    );
    cost_per_call(rt, &bare, &servers[0].1, &servers[0].2);
    bare.stop();
    for (_, p, _) in servers {
        p.stop();
    }
}

/// One load run against `p`: the CPU seconds the server used during it, and the load.
fn measured(
    rt: &tokio::runtime::Runtime,
    p: &Process,
    path: &str,
    key: Option<&str>,
    body: impl Into<Bytes>,
    connections: usize,
    duration: Duration,
) -> (f64, Load) {
    let before = p.cpu_seconds();
    let l = rt.block_on(load(&p.addr, path, key, body, connections, duration));
    (p.cpu_seconds() - before, l)
}

/// [`measured`], as server CPU per answered call in microseconds.
fn per_call(
    rt: &tokio::runtime::Runtime,
    p: &Process,
    path: &str,
    key: Option<&str>,
    body: impl Into<Bytes>,
    connections: usize,
    duration: Duration,
) -> (f64, Load) {
    let (seconds, l) = measured(rt, p, path, key, body, connections, duration);
    (seconds / l.latencies.len().max(1) as f64 * 1e6, l)
}

/// What a result of content blocks and a round that asks for input cost, against the plain
/// echo on the same server (contract 0.2.0): the conformance toolbox's 70-byte PNG, and the
/// first round of its elicitation tool (the requests, and the state sealed into the answer).
fn content(rt: &tokio::runtime::Runtime, setup: &Setup) {
    const SHORT: Duration = Duration::from_secs(3);
    let (dir, key) = setup.data_dir("content");
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(
        policies.join("conformance.toml"),
        "[ask]\nelicit = [\"form\"]\n",
    )
    .unwrap();
    let p = Process::cordon(
        &dir,
        &[
            "--durable-log",
            "true",
            "--policies",
            policies.to_str().unwrap(),
        ],
    );
    publish(
        rt,
        &p.addr,
        &key,
        &setup.sign(Path::new(cordon_test_artifacts::ECHO), "echo"),
    );
    let toolbox = setup.sign(Path::new(cordon_test_artifacts::CONFORMANCE), "conformance");
    publish(rt, &p.addr, &key, &toolbox);
    println!(
        "== content and asking: server CPU per answered call, {CONNECTIONS} connections, {} s runs, alternating",
        SHORT.as_secs()
    );
    let calls: [(&str, &str, &'static [u8]); 3] = [
        ("plain echo (JSON)", "/v1/tools/echo/invoke", ECHO_INPUT),
        ("image result", "/v1/tools/test_image_content/invoke", b"{}"),
        (
            "input round (asks, state sealed)",
            "/v1/tools/test_input_required_result_elicitation/invoke",
            b"{}",
        ),
    ];
    let mut cpu = vec![Vec::new(); calls.len()];
    let mut statuses = vec![BTreeMap::new(); calls.len()];
    for _ in 0..3 {
        for (i, (_, path, body)) in calls.iter().enumerate() {
            let (us, l) = per_call(rt, &p, path, Some(&key), *body, CONNECTIONS, SHORT);
            cpu[i].push(us);
            statuses[i] = l.statuses;
        }
    }
    let echo = median(cpu[0].clone());
    for (i, (label, _, _)) in calls.iter().enumerate() {
        let us = median(cpu[i].clone());
        println!(
            "{label}: {us:.0} us, {:.2}x the plain echo, statuses {:?}",
            us / echo,
            statuses[i]
        );
    }
    p.stop();
}

/// What the operator's decisions add to a call: the same server calling echo with no bundle
/// and with the bench bundle (`policies/decisions/bench`, about twenty rules) in force,
/// alternating, as an invoker (whose calls take the most rules); one connection's p50 latency
/// and the server's CPU per call under load.
fn decisions(rt: &tokio::runtime::Runtime, setup: &Setup) {
    const SHORT: Duration = Duration::from_secs(3);
    let (dir, admin) = setup.data_dir("decisions");
    let invoker = cordon(&[
        "keys",
        "create",
        "--name",
        "agent",
        "--role",
        "invoker",
        "--data",
        dir.to_str().unwrap(),
    ])
    .trim()
    .to_owned();
    let p = Process::cordon(&dir, &["--durable-log", "true"]);
    publish(
        rt,
        &p.addr,
        &admin,
        &setup.sign(Path::new(cordon_test_artifacts::ECHO), "echo"),
    );
    // Another bundle's one module may be named (to compare bundles): CORDON_BENCH_DECISIONS.
    let module = std::env::var("CORDON_BENCH_DECISIONS").map_or_else(
        |_| Path::new(cordon_test_artifacts::ROOT).join("policies/decisions/bench/policy.rego"),
        PathBuf::from,
    );
    let text = std::fs::read_to_string(&module).expect("the bench bundle");
    let bundle =
        serde_json::json!({"modules": [{"path": "policy.rego", "text": text}]}).to_string();
    let set = |with: bool| {
        let (method, body) = if with {
            ("PUT", bundle.as_str())
        } else {
            ("DELETE", "")
        };
        let status = rt.block_on(async {
            let mut sender = connect(&p.addr).await.expect("connect");
            let req = hyper::Request::builder()
                .method(method)
                .uri("/v1/decisions")
                .header("host", p.addr.as_str())
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {admin}"))
                .body(Full::new(Bytes::from(body.to_owned())))
                .unwrap();
            let response = sender.send_request(req).await.expect("decisions");
            let status = response.status();
            let _ = response.into_body().collect().await;
            status
        });
        assert!(status.is_success(), "{method} /v1/decisions: {status}");
    };
    println!(
        "== decisions: echo as an invoker, no bundle against the bench bundle, {} s runs, alternating",
        SHORT.as_secs()
    );
    let (mut latency, mut cpu) = ([Vec::new(), Vec::new()], [Vec::new(), Vec::new()]);
    for _ in 0..3 {
        for (i, with) in [false, true].into_iter().enumerate() {
            set(with);
            let (_, one) = per_call(
                rt,
                &p,
                "/v1/tools/echo/invoke",
                Some(&invoker),
                ECHO_INPUT,
                1,
                SHORT,
            );
            assert_eq!(
                one.statuses.keys().copied().collect::<Vec<_>>(),
                [200],
                "{:?}",
                one.statuses
            );
            latency[i].push(one.percentile(0.5).as_secs_f64() * 1e6);
            let (us, _) = per_call(
                rt,
                &p,
                "/v1/tools/echo/invoke",
                Some(&invoker),
                ECHO_INPUT,
                CONNECTIONS,
                SHORT,
            );
            cpu[i].push(us);
        }
    }
    // The server's own measure of each decision (`cordon_decision_seconds`).
    let metrics = rt.block_on(async {
        let mut sender = connect(&p.addr).await.expect("connect");
        let req = hyper::Request::get("/metrics")
            .header("host", p.addr.as_str())
            .header("authorization", format!("Bearer {admin}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = sender.send_request(req).await.expect("metrics");
        String::from_utf8_lossy(&response.into_body().collect().await.unwrap().to_bytes())
            .into_owned()
    });
    let value = |name: &str| {
        metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|v| v.trim().parse::<f64>().ok())
            })
            .unwrap_or(0.0)
    };
    let (sum, count) = (
        value("cordon_decision_seconds_sum "),
        value("cordon_decision_seconds_count "),
    );
    println!(
        "each decision in the server (its metric): {:.1} us on average over {count:.0}",
        sum / count.max(1.0) * 1e6
    );
    let [l0, l1] = latency.map(median);
    let [c0, c1] = cpu.map(median);
    println!(
        "one connection, p50: {l0:.0} us without, {l1:.0} us with: +{:.1} us",
        l1 - l0
    );
    println!(
        "{CONNECTIONS} connections, server CPU per call: {c0:.0} us without, {c1:.0} us with: +{:.1} us",
        c1 - c0
    );
    p.stop();
}

/// What one call costs the server in other shapes of load, side by side: one connection calling
/// back to back (an agent calling tools one after another), MCP `tools/call` against REST, and
/// how the cost grows with the input's size and the number of connections.
fn cost_per_call(rt: &tokio::runtime::Runtime, bare: &Process, cordon: &Process, key: &str) {
    const SHORT: Duration = Duration::from_secs(3);
    println!(
        "== cost per call: server CPU per answered call, {} s runs",
        SHORT.as_secs()
    );
    // One connection, calls back to back.
    let (bare_cpu, bare_load) = per_call(rt, bare, "/echo", None, ECHO_INPUT, 1, SHORT);
    let (cpu, l) = per_call(
        rt,
        cordon,
        "/v1/tools/echo/invoke",
        Some(key),
        ECHO_INPUT,
        1,
        SHORT,
    );
    println!(
        "one connection: bare axum {bare_cpu:.0} us, p50 {:.0} us; cordon {cpu:.0} us (target <= 150), p50 {:.0} us (target <= 350), p99 {:.0} us, {:.0} calls/s, statuses {:?}",
        bare_load.percentile(0.5).as_secs_f64() * 1e6,
        l.percentile(0.5).as_secs_f64() * 1e6,
        l.percentile(0.99).as_secs_f64() * 1e6,
        l.rate(),
        l.statuses,
    );
    // MCP tools/call of the same tool, alternating with REST.
    let mcp_body: &'static [u8] = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello from the benchmark"}}}"#;
    let (mut rest, mut mcp) = (Vec::new(), Vec::new());
    let mut mcp_statuses = BTreeMap::new();
    for _ in 0..2 {
        let (cpu, _) = per_call(
            rt,
            cordon,
            "/v1/tools/echo/invoke",
            Some(key),
            ECHO_INPUT,
            CONNECTIONS,
            SHORT,
        );
        rest.push(cpu);
        let (cpu, l) = per_call(rt, cordon, "/mcp", Some(key), mcp_body, CONNECTIONS, SHORT);
        mcp.push(cpu);
        mcp_statuses = l.statuses;
    }
    let (rest, mcp) = (median(rest), median(mcp));
    println!(
        "MCP tools/call {mcp:.0} us vs REST invoke {rest:.0} us: ratio {:.2} (target <= 1.2), MCP statuses {mcp_statuses:?}",
        mcp / rest
    );
    // Growth: input size at 16 connections, then connections at the small input.
    let sized = |n: usize| -> Bytes {
        let pad = n.saturating_sub(r#"{"message":""}"#.len());
        Bytes::from(format!(r#"{{"message":"{}"}}"#, "x".repeat(pad)))
    };
    let mut row = Vec::new();
    for (label, size) in [("16 B", 16), ("1 KB", 1024), ("64 KB", 65_536)] {
        let (cpu, l) = per_call(
            rt,
            cordon,
            "/v1/tools/echo/invoke",
            Some(key),
            sized(size),
            CONNECTIONS,
            SHORT,
        );
        row.push(format!("{label} {cpu:.0} us ({:?})", l.statuses));
    }
    println!("input size, {CONNECTIONS} connections: {}", row.join(", "));
    let mut row = Vec::new();
    for connections in [1, 16, 64] {
        let (cpu, l) = per_call(
            rt,
            cordon,
            "/v1/tools/echo/invoke",
            Some(key),
            sized(16),
            connections,
            SHORT,
        );
        row.push(format!(
            "{connections}: {cpu:.0} us, p50 {:.0} us",
            l.percentile(0.5).as_secs_f64() * 1e6
        ));
    }
    println!("connections, 16 B input: {}", row.join(", "));
}

fn publish(rt: &tokio::runtime::Runtime, addr: &str, key: &str, component: &Path) {
    let bytes = std::fs::read(component).unwrap();
    rt.block_on(async {
        let mut sender = connect(addr).await.expect("connect");
        let req = hyper::Request::post("/v1/tools")
            .header("host", addr)
            .header("content-type", "application/wasm")
            .header("authorization", format!("Bearer {key}"))
            .body(Full::new(Bytes::from(bytes)))
            .unwrap();
        let response = sender.send_request(req).await.expect("publish");
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(status, 201, "publish: {}", String::from_utf8_lossy(&body));
    });
}

fn concurrency(rt: &tokio::runtime::Runtime, setup: &Setup) {
    const CALLS: usize = 1000;
    println!(
        "== {CALLS} concurrent invocations of a tool that sleeps 100 ms, max_in_flight {CALLS}"
    );
    let nap = setup.sign(Path::new(cordon_test_artifacts::NAP), "nap");
    let (dir, key) = setup.data_dir("concurrency");
    let server = Process::cordon(&dir, &["--max-in-flight", "1000"]);
    publish(rt, &server.addr, &key, &nap);
    let idle_rss = server.peak_rss();
    for wave in 1..=3 {
        let result = rt.block_on(async {
            // Open every connection first, then fire all calls at once.
            let mut senders = Vec::with_capacity(CALLS);
            for _ in 0..CALLS {
                senders.push(connect(&server.addr).await.expect("connect"));
            }
            let started = Instant::now();
            let calls: Vec<_> = senders
                .into_iter()
                .map(|mut sender| {
                    let (addr, key) = (server.addr.clone(), key.clone());
                    tokio::spawn(async move {
                        send(
                            &mut sender,
                            &addr,
                            "/v1/tools/nap-0000/invoke",
                            Some(&key),
                            Bytes::from_static(br#"{"ms":100}"#),
                        )
                        .await
                    })
                })
                .collect();
            let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
            let mut failures = 0;
            for c in calls {
                match c.await.expect("task") {
                    Ok(s) => *statuses.entry(s).or_default() += 1,
                    Err(_) => failures += 1,
                }
            }
            (started.elapsed(), statuses, failures)
        });
        let (elapsed, statuses, failures) = result;
        println!(
            "wave {wave}: {CALLS} calls in {:.0} ms, statuses {statuses:?}, transport failures {failures}, server peak RSS {:.0} MiB (idle {:.0} MiB)",
            elapsed.as_secs_f64() * 1e3,
            server.peak_rss() as f64 / 1048576.0,
            idle_rss as f64 / 1048576.0,
        );
    }
    server.stop();
}

fn restart(setup: &Setup) {
    const TOOLS: usize = 100;
    println!("== restart with {TOOLS} published tools");
    let original = std::fs::read(cordon_test_artifacts::NAP).unwrap();
    let placeholder = b"nap-0000";
    let at: Vec<usize> = original
        .windows(placeholder.len())
        .enumerate()
        .filter_map(|(i, w)| (w == placeholder).then_some(i))
        .collect();
    assert!(
        !at.is_empty(),
        "the nap guest's name placeholder is missing"
    );
    let (dir, key) = setup.data_dir("restart");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let server = Process::cordon(&dir, &[]);
    let first_start = started.elapsed();
    let publish_started = Instant::now();
    for n in 0..TOOLS {
        // Rewrite the name in place: same length, so the component stays valid, and every
        // tool has its own digest (compiled and cached separately).
        let mut bytes = original.clone();
        let name = format!("nap-{n:04}");
        for &i in &at {
            bytes[i..i + placeholder.len()].copy_from_slice(name.as_bytes());
        }
        let unsigned = setup.root.join(format!("{name}.wasm"));
        std::fs::write(&unsigned, &bytes).unwrap();
        let signed = setup.sign(&unsigned, &name);
        publish(&rt, &server.addr, &key, &signed);
    }
    let publish_time = publish_started.elapsed();
    server.stop();
    let mut restarts = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let server = Process::cordon(&dir, &[]);
        // The address is printed after every stored tool is loaded and the server is ready.
        restarts.push(started.elapsed());
        server.stop();
    }
    println!(
        "empty start {:.0} ms; publishing {TOOLS} tools (sign + verify + compile + describe) {:.1} s",
        first_start.as_secs_f64() * 1e3,
        publish_time.as_secs_f64(),
    );
    println!(
        "restart to ready with {TOOLS} tools: {} ms (target <= 1000 ms)",
        restarts
            .iter()
            .map(|d| format!("{:.0}", d.as_secs_f64() * 1e3))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// One request of the soak's mix, by its number: 1 in 100 a fuel kill, 10 in 100 invalid input
/// (not JSON, refused before any instance is made), the rest an ok echo.
fn soak_request(n: u64) -> (&'static str, &'static [u8]) {
    match n % 100 {
        0 => ("/v1/tools/infinite-loop/invoke", b"{}"),
        1..=10 => ("/v1/tools/echo/invoke", b"not json"),
        _ => ("/v1/tools/echo/invoke", ECHO_INPUT),
    }
}

/// `connections` keep-alive connections sending `total` requests of the soak mix between them.
async fn soak_load(addr: &str, key: &str, total: u64, connections: u64) -> BTreeMap<u16, u64> {
    let workers: Vec<_> = (0..connections)
        .map(|w| {
            let (addr, key) = (addr.to_owned(), key.to_owned());
            tokio::spawn(async move {
                let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
                let mut sender = connect(&addr).await.expect("connect");
                let mut n = w;
                while n < total {
                    let (path, body) = soak_request(n);
                    match send(
                        &mut sender,
                        &addr,
                        path,
                        Some(&key),
                        Bytes::from_static(body),
                    )
                    .await
                    {
                        Ok(status) => *statuses.entry(status).or_default() += 1,
                        Err(_) => {
                            *statuses.entry(0).or_default() += 1;
                            sender = connect(&addr).await.expect("reconnect");
                        }
                    }
                    n += connections;
                }
                statuses
            })
        })
        .collect();
    let mut all = BTreeMap::new();
    for w in workers {
        for (status, n) in w.await.expect("worker") {
            *all.entry(status).or_default() += n;
        }
    }
    all
}

/// The database's size with its WAL folded in, in bytes (the server must be stopped).
fn database_bytes(dir: &Path) -> u64 {
    let db = dir.join("cordon.db");
    let conn = rusqlite::Connection::open(&db).expect("open the database");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
    drop(conn);
    std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0)
}

fn record_count(dir: &Path) -> u64 {
    let conn = rusqlite::Connection::open(dir.join("cordon.db")).expect("open the database");
    conn.query_row("SELECT COUNT(*) FROM executions", [], |r| {
        r.get::<_, i64>(0)
    })
    .expect("count") as u64
}

fn soak(rt: &tokio::runtime::Runtime, setup: &Setup) {
    let total: u64 = std::env::var("CORDON_SOAK_INVOKES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let warmup = (total / 5).max(10_000);
    println!(
        "== soak: {warmup} warm-up invokes, then {total} more (89% ok echo, 10% invalid input, 1% fuel kill), {CONNECTIONS} connections"
    );
    let echo = setup.sign(Path::new(cordon_test_artifacts::ECHO), "echo");
    let spin = setup.sign(
        Path::new(cordon_test_artifacts::INFINITE_LOOP),
        "infinite-loop",
    );
    let (dir, key) = setup.data_dir("soak");
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    // A small fuel budget: each kill costs about a millisecond of CPU.
    std::fs::write(
        policies.join("infinite-loop.toml"),
        "[limits]\nfuel = 2_000_000\n",
    )
    .unwrap();
    let args = ["--policies", policies.to_str().unwrap()];
    let server = Process::cordon(&dir, &args);
    publish(rt, &server.addr, &key, &echo);
    publish(rt, &server.addr, &key, &spin);
    server.stop();
    let empty = database_bytes(&dir);

    let server = Process::cordon(&dir, &args);
    let started = Instant::now();
    let warm = rt.block_on(soak_load(&server.addr, &key, warmup, CONNECTIONS as u64));
    let before = server.rss();
    let measured = Instant::now();
    let statuses = rt.block_on(soak_load(&server.addr, &key, total, CONNECTIONS as u64));
    let elapsed = measured.elapsed();
    // Let the server settle (metrics upkeep runs every second) before reading its memory.
    std::thread::sleep(Duration::from_secs(3));
    let after = server.rss();
    let peak = server.peak_rss();
    server.stop();
    let bytes = database_bytes(&dir);
    let records = record_count(&dir);
    let growth = after as f64 - before as f64;
    println!(
        "warm-up statuses {warm:?}; measured statuses {statuses:?} in {:.1} s ({:.0} req/s; {:.0} s in all)",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );
    println!(
        "RSS after warm-up {:.1} MiB, after the soak {:.1} MiB, peak {:.1} MiB: growth {:.3} MiB per million invokes (target < 1)",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        peak as f64 / 1048576.0,
        growth / 1048576.0 / (total as f64 / 1e6),
    );
    println!(
        "execution log: {records} records, database {:.1} MiB ({:.1} MiB before any call): {:.0} bytes per record (target <= 400)",
        bytes as f64 / 1048576.0,
        empty as f64 / 1048576.0,
        (bytes - empty) as f64 / records as f64,
    );
}
