//! Several `cordon serve` nodes on one PostgreSQL (started for each test from the installed
//! binaries, stopped after it): what one node changes, every node applies; one audit chain.

use crate::common::temp_dir;
use crate::harness::{Fixture, Server, fixture};
use cordon_test_postgres::TestPostgres;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A PostgreSQL, the fixture's trust store and signed components, and API keys made straight
/// in the shared store (`cordon keys create --database`, as an operator bootstraps).
pub struct Cluster {
    pub pg: TestPostgres,
    pub url: String,
    pub f: Fixture,
    /// The policies folder every node is started with (as one configuration deployed to all);
    /// a node applies it at publish and on SIGHUP, and the store carries it to the others.
    pub policies: PathBuf,
}

impl Cluster {
    pub fn new(name: &str) -> Cluster {
        let pg = TestPostgres::start().expect("start PostgreSQL");
        let url = pg.url("postgres");
        let mut f = fixture(name);
        let key = |name: &str, role: &str| {
            ok_on_store(&url, &["keys", "create", "--name", name, "--role", role])
        };
        f.admin = key("admin", "admin");
        f.publisher = key("pub", "publisher");
        f.invoker = key("inv", "invoker");
        f.auditor = key("aud", "auditor");
        let policies = f.data.join("policies");
        std::fs::create_dir_all(&policies).unwrap();
        Cluster {
            pg,
            url,
            f,
            policies,
        }
    }

    /// Starts node `name` on its own data directory (its compiled cache and a copy of the
    /// shared log key, once the first node made it), its log in `<data>/server.log`.
    pub fn node(&self, name: &str) -> Server {
        self.node_with(name, &[])
    }

    /// The same, with more `cordon serve` options.
    pub fn node_with(&self, name: &str, extra: &[&str]) -> Server {
        self.start_node(name, extra, &self.url)
    }

    /// Node `name` on the store at `url` (another role's URL, say).
    pub fn node_on(&self, name: &str, url: &str) -> Server {
        self.start_node(name, &[], url)
    }

    /// Node `name` with more variables in its environment (`OTEL_*`, say).
    pub fn node_env(&self, name: &str, env: &[(&str, &str)]) -> Server {
        self.start_node_env(name, &[], &self.url, env)
    }

    fn start_node(&self, name: &str, extra: &[&str], url: &str) -> Server {
        self.start_node_env(name, extra, url, &[])
    }

    fn start_node_env(
        &self,
        name: &str,
        extra: &[&str],
        url: &str,
        env: &[(&str, &str)],
    ) -> Server {
        let data = temp_dir(&format!(
            "{}-{name}",
            self.f.data.file_name().unwrap().to_str().unwrap()
        ));
        let key = self.f.data.join("log.key");
        if key.exists() {
            std::fs::copy(&key, data.join("log.key")).unwrap();
        }
        let trust = self.f.data.join("trust.toml");
        let log = std::fs::File::create(data.join("server.log")).unwrap();
        let checkpoints = self.checkpoints(name);
        let mut args = vec![
            "--trust",
            trust.to_str().unwrap(),
            "--policies",
            self.policies.to_str().unwrap(),
            "--checkpoint-file",
            checkpoints.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let mut vars = vec![("CORDON_DATABASE", url)];
        vars.extend_from_slice(env);
        let s = Server::start_full(&data, &args, &vars, log.into());
        if !key.exists() {
            std::fs::copy(data.join("log.key"), &key).unwrap();
        }
        s
    }
}

/// `cordon ARGS` with the shared store named in the environment (never in argv: the URL holds
/// a password).
pub fn on_store(url: &str, args: &[&str]) -> std::process::Output {
    crate::harness::cordon()
        .env("CORDON_DATABASE", url)
        .args(args)
        .output()
        .unwrap()
}

/// The same, which must succeed; its standard output, trimmed.
pub fn ok_on_store(url: &str, args: &[&str]) -> String {
    let out = on_store(url, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `cordon serve` on the shared store from a fresh data directory holding `log_key` (if any),
/// expected to refuse to start; its standard error.
fn refused_start(url: &str, name: &str, log_key: Option<&cordon_trust::PrivateKey>) -> String {
    let data = temp_dir(name);
    if let Some(key) = log_key {
        key.write_new(&data.join("log.key")).unwrap();
    }
    let out = on_store(
        url,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data",
            data.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    if log_key.is_none() {
        assert!(!data.join("log.key").exists(), "a key of its own was made");
    }
    String::from_utf8_lossy(&out.stderr).into_owned()
}

impl Cluster {
    /// `cordon keys create` straight in the shared store once nodes sign its log: with the log
    /// key, to seal the event it writes (without it the store refuses, as checked here).
    pub fn key_on_store(&self, name: &str, role: &str) -> String {
        let args = ["keys", "create", "--name", name, "--role", role];
        let refused = on_store(&self.url, &args);
        assert!(!refused.status.success());
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains("--log-key"),
            "{}",
            String::from_utf8_lossy(&refused.stderr)
        );
        let out = crate::harness::cordon()
            .env("CORDON_DATABASE", &self.url)
            .env("CORDON_LOG_KEY", self.f.data.join("log.key"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// The file node `name` copies each checkpoint it signs to (as an auditor would keep).
    pub fn checkpoints(&self, name: &str) -> PathBuf {
        self.f.data.join(format!("checkpoints-{name}.jsonl"))
    }
}

/// Polls `f` every 20 ms until it holds (at most 10 s); how long it took.
pub fn until(mut f: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if f() {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

pub fn invoke(s: &Server, key: &str, tool: &str, input: &str) -> (u16, Value) {
    s.json(
        "POST",
        &format!("/v1/tools/{tool}/invoke"),
        Some(key),
        input.as_bytes(),
    )
}

fn hup(s: &Server) {
    let ok = Command::new("kill")
        .args(["-HUP", &s.child.id().to_string()])
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// The longest a change made on one node may take to be in force on another (the mechanism
/// itself, an announcement at commit, takes milliseconds).
const PROPAGATION: Duration = Duration::from_secs(1);

pub fn within(what: &str, took: Option<Duration>) {
    within_plus(what, took, Duration::ZERO);
}

/// Within [`PROPAGATION`] plus `work` the receiving node must do first: a version new to a
/// node is verified and compiled there before it serves it (compiled code is a per-node
/// cache), which takes as long as the publish itself took on the first node.
pub fn within_plus(what: &str, took: Option<Duration>, work: Duration) {
    let took = took.unwrap_or_else(|| panic!("{what}: never"));
    eprintln!("{what}: {took:?} (allowed {:?})", PROPAGATION + work);
    assert!(took <= PROPAGATION + work, "{what} took {took:?}");
}

/// Publishes on `s`; how long the publish took.
pub fn publish(s: &Server, key: &str, component: &std::path::Path) -> Duration {
    let started = Instant::now();
    let (status, answer) = s.publish(key, component);
    assert_eq!(status, 201, "{answer}");
    started.elapsed()
}

#[test]
fn what_one_node_changes_every_node_applies_within_a_second() {
    let c = Cluster::new("cluster-changes");
    let (a, b) = (c.node("a"), c.node("b"));
    let f = &c.f;

    // Published on A, invocable on B.
    let compile = publish(&a, &f.publisher, &f.signed.join("echo.wasm"));
    within_plus(
        "publish on A -> invoke on B",
        until(|| invoke(&b, &f.invoker, "echo", r#"{"x":1}"#).0 == 200),
        compile,
    );
    // Quarantined on B, refused on A; released on A, served on B again.
    let (status, _, _) = b.request(
        "POST",
        "/v1/tools/echo/quarantine",
        Some(&f.admin),
        br#"{"reason":"under review"}"#,
    );
    assert_eq!(status, 204);
    within(
        "quarantine on B -> refused on A",
        until(|| invoke(&a, &f.invoker, "echo", "{}").0 == 423),
    );
    assert_eq!(
        invoke(&a, &f.invoker, "echo", "{}").1["error"]["message"],
        "echo is quarantined: under review"
    );
    assert_eq!(
        a.request("POST", "/v1/tools/echo/release", Some(&f.admin), b"")
            .0,
        204
    );
    within(
        "release on A -> served on B",
        until(|| invoke(&b, &f.invoker, "echo", "{}").0 == 200),
    );

    // A policy changed through A (its folder, then SIGHUP) is in force on B: a narrowed time
    // limit kills a call on B that ran to the end before.
    let compile = publish(&a, &f.publisher, &f.signed.join("nap.wasm"));
    within_plus(
        "publish nap on A -> invoke on B",
        until(|| invoke(&b, &f.invoker, "nap-0000", r#"{"ms":1}"#).0 == 200),
        compile,
    );
    assert_eq!(invoke(&b, &f.invoker, "nap-0000", r#"{"ms":600}"#).0, 200);
    std::fs::write(
        c.policies.join("nap-0000.toml"),
        "[limits]\ntimeout_ms = 300\n",
    )
    .unwrap();
    hup(&a);
    let killed = || invoke(&b, &f.invoker, "nap-0000", r#"{"ms":600}"#);
    // The reload's re-admission on A comes first (SIGHUP is asynchronous); then B follows.
    assert!(
        until(|| killed().0 == 504).is_some(),
        "the narrowed limit never reached B"
    );
    let (status, answer) = killed();
    assert_eq!(status, 504, "{answer}");
    assert_eq!(answer["outcome"], "timeout", "{answer}");
    // Widened again through A's API: B serves the long call.
    let widened = "[limits]\ntimeout_ms = 1000\n";
    let (status, set) = a.json(
        "PUT",
        "/v1/tools/nap-0000/policy",
        Some(&f.admin),
        widened.as_bytes(),
    );
    assert_eq!(status, 200, "{set}");
    within_plus(
        "policy PUT on A -> in force on B",
        until(|| killed().0 == 200),
        Duration::from_millis(600),
    );

    // A key made in the store (as `cordon keys create --database` bootstraps) is accepted on
    // both; one made through A's API too; revoked through A's API, refused on B within a second.
    let late = c.key_on_store("late", "invoker");
    let lists = |s: &Server, key: &str| s.json("GET", "/v1/tools", Some(key), b"").0;
    within(
        "key made in the store -> accepted on B",
        until(|| lists(&b, &late) == 200),
    );
    // Each node reloads its keys on its own clock: A may be a moment behind B.
    within(
        "key made in the store -> accepted on A",
        until(|| lists(&a, &late) == 200),
    );
    let (status, made) = a.json(
        "POST",
        "/v1/keys",
        Some(&f.admin),
        br#"{"name":"via-a","role":"invoker"}"#,
    );
    assert_eq!(status, 201, "{made}");
    let via_a = made["secret"].as_str().unwrap().to_owned();
    assert_eq!(lists(&a, &via_a), 200, "in force on A at once");
    within(
        "key made on A -> accepted on B",
        until(|| lists(&b, &via_a) == 200),
    );
    for key in ["late", made["id"].as_str().unwrap()] {
        assert_eq!(
            a.request("DELETE", &format!("/v1/keys/{key}"), Some(&f.admin), b"")
                .0,
            204
        );
    }
    assert_eq!(lists(&a, &late), 401, "refused on A at once");
    within(
        "key revoked on A -> refused on B",
        until(|| lists(&b, &late) == 401 && lists(&b, &via_a) == 401),
    );

    // Deleted on B, gone on A.
    assert_eq!(
        b.request("DELETE", "/v1/tools/echo", Some(&f.admin), b"").0,
        204
    );
    within(
        "delete on B -> gone on A",
        until(|| invoke(&a, &f.invoker, "echo", "{}").0 == 404),
    );

    // A node joining later serves every tool from its first answer, under the stored policy.
    let late_node = c.node("c");
    let (status, tools) = late_node.json("GET", "/v1/tools", Some(&f.invoker), b"");
    assert_eq!(status, 200);
    let names: Vec<&str> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["nap-0000"]);
    let (_, policy) = late_node.json("GET", "/v1/tools/nap-0000/policy", Some(&f.auditor), b"");
    assert_eq!(policy["policy"], widened);
    assert_eq!(policy["history"].as_array().unwrap().len(), 2);
    assert_eq!(
        invoke(&late_node, &f.invoker, "nap-0000", r#"{"ms":600}"#).0,
        200
    );
    let (status, answer) = invoke(&late_node, &f.invoker, "nap-0000", r#"{"ms":1200}"#);
    assert_eq!(status, 504, "{answer}");

    // One chain, whichever node is asked; every change is in it once.
    for s in [&a, &b, &late_node] {
        let (status, report) = s.json("GET", "/v1/audit/verify", Some(&f.auditor), b"");
        assert_eq!(status, 200);
        assert_eq!(report["intact"], true, "{report}");
    }
    assert_eq!(a.count(&f.auditor, "tool.publish"), 2);
    assert_eq!(b.count(&f.auditor, "tool.quarantine"), 1);
    assert_eq!(late_node.count(&f.auditor, "key.revoke"), 2);
    assert_eq!(a.count(&f.auditor, "policy.set"), 2);
    assert_eq!(b.count(&f.auditor, "server.start"), 3);
}

/// A node given another log key than the one the shared log is signed with does not start, and
/// says what to do.
#[test]
fn a_node_with_another_log_key_is_refused() {
    let c = Cluster::new("cluster-key");
    let a = c.node("a");
    assert_eq!(a.json("GET", "/v1/tools", Some(&c.f.invoker), b"").0, 200);
    // A checkpoint exists once the first events are in (the interval is at most 10 s; the
    // stop signs a final one).
    drop(stop(a));
    let other = cordon_trust::PrivateKey::generate().unwrap();
    let err = refused_start(&c.url, "cluster-key-intruder", Some(&other));
    assert!(
        err.contains("but this store's audit log is signed by ed25519:")
            && err.contains("every node sharing a store must hold the key that signed it"),
        "{err}"
    );
    // The password in the URL is never printed.
    assert!(!err.contains(&c.url), "{err}");
    // Nor does a node with no key at all make one of its own.
    let err = refused_start(&c.url, "cluster-key-none", None);
    assert!(err.contains("no log key at"), "{err}");
}

/// Two fresh nodes, each with a data directory of its own and no log key, started at the same
/// moment on a fresh store: the store is claimed by exactly one key, the other node refuses to
/// start naming both keys and makes no key file, and the winner serves and restarts.
#[test]
fn two_fresh_nodes_at_once_leave_one_log_key() {
    use std::io::{BufRead, BufReader};
    let pg = cordon_test_postgres::TestPostgres::start().expect("start PostgreSQL");
    let url = pg.url("postgres");
    let dirs = [temp_dir("cluster-race-a"), temp_dir("cluster-race-b")];
    let mut nodes: Vec<std::process::Child> = dirs
        .iter()
        .map(|data| {
            crate::harness::cordon()
                .env("CORDON_DATABASE", &url)
                .args(["serve", "--listen", "127.0.0.1:0", "--data"])
                .arg(data)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Each prints its address once serving, or exits having printed nothing.
    let firsts: Vec<String> = nodes
        .iter_mut()
        .map(|n| {
            let mut line = String::new();
            BufReader::new(n.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            line
        })
        .collect();
    let serving: Vec<usize> = (0..2).filter(|i| firsts[*i].contains("http://")).collect();
    assert_eq!(serving.len(), 1, "exactly one node serves: {firsts:?}");
    let (won, lost) = (serving[0], 1 - serving[0]);
    let out = nodes.remove(lost).wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let winner = cordon_trust::PrivateKey::read(&dirs[won].join("log.key"))
        .unwrap()
        .key_id()
        .to_string();
    // Refused naming the store's key, and the one it made if it got as far as the claim (a
    // loser that starts after the winner's first checkpoint is refused before making one).
    assert!(
        err.contains(&format!("signed by {winner}"))
            && (err.contains("this node would have made ed25519:")
                || err.contains("a new key would make checkpoints no auditor can verify")),
        "{err}"
    );
    assert!(!dirs[lost].join("log.key").exists(), "the loser kept a key");
    let mut winner_node = nodes.remove(0);
    let _ = Command::new("kill")
        .args(["-TERM", &winner_node.id().to_string()])
        .status();
    let _ = winner_node.wait();
    // The loser, given the winner's key, starts; the winner restarts with its own.
    std::fs::copy(dirs[won].join("log.key"), dirs[lost].join("log.key")).unwrap();
    for dir in &dirs {
        let s = Server::start_full(
            dir,
            &[],
            &[("CORDON_DATABASE", url.as_str())],
            std::process::Stdio::null(),
        );
        drop(stop(s));
    }
}

/// SIGTERM, and wait for the exit (the final checkpoint is signed on the way out).
pub fn stop(mut s: Server) -> PathBuf {
    let _ = Command::new("kill")
        .args(["-TERM", &s.child.id().to_string()])
        .status();
    let _ = s.child.wait();
    s.data.clone()
}

/// One request on a connection of its own, with `headers` (each ending in CRLF) added:
/// (status, headers lower-cased, JSON body or null), or `None` when the server cannot be
/// reached or cut the connection (no answer: nothing acknowledged).
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    key: &str,
    headers: &str,
    body: &[u8],
) -> Option<(u16, String, Value)> {
    use std::io::{Read, Write};
    let addr: std::net::SocketAddr = addr.parse().ok()?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let kind = if body.starts_with(b"\0asm") {
        "application/wasm"
    } else {
        "application/json"
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n{headers}Content-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .ok()?;
    s.write_all(body).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let json = serde_json::from_slice(&raw[split + 4..]).unwrap_or(Value::Null);
    Some((status, head, json))
}

/// One invoke of `tool` (see [`http`]).
pub fn try_invoke(addr: &str, key: &str, tool: &str, body: &str) -> Option<(u16, String, Value)> {
    http(
        addr,
        "POST",
        &format!("/v1/tools/{tool}/invoke"),
        key,
        "",
        body.as_bytes(),
    )
}

/// What a load run got: per answer, the node's index, status, headers and body.
type Answers = Vec<(usize, u16, String, Value)>;

/// Spreads echo invokes from `clients` threads over `addrs` until `stop` is set, while `during`
/// runs on this thread; returns every answer.
fn under_load(
    addrs: &[String],
    key: &str,
    clients: usize,
    during: impl FnOnce(&std::sync::atomic::AtomicBool),
) -> Answers {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = AtomicBool::new(false);
    let answers = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for t in 0..clients {
            let (stop, answers) = (&stop, &answers);
            scope.spawn(move || {
                let mut i = t;
                while !stop.load(Ordering::Acquire) {
                    let node = i % addrs.len();
                    i += 1;
                    let body = format!(r#"{{"client":{t},"i":{i}}}"#);
                    match try_invoke(&addrs[node], key, "echo", &body) {
                        Some((status, head, value)) => {
                            answers.lock().unwrap().push((node, status, head, value))
                        }
                        None => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            });
        }
        during(&stop);
        stop.store(true, Ordering::Release);
    });
    answers.into_inner().unwrap()
}

/// Every acknowledged execution is in the shared log (asked of `s`), and its receipt verifies
/// with the log key on its own; returns how many there were.
fn all_acknowledged_are_recorded(s: &Server, auditor: &str, answers: &Answers) -> usize {
    let (status, key) = s.json("GET", "/v1/audit/key", Some(auditor), b"");
    assert_eq!(status, 200);
    let key = cordon_trust::KeyId::parse(key["key"].as_str().unwrap()).unwrap();
    let mut acked = 0;
    for (_, status, _, answer) in answers.iter().filter(|a| a.1 == 200) {
        assert_eq!(*status, 200);
        let id = answer["execution_id"].as_str().unwrap();
        // Reading hundreds of records back to back may meet the key's rate limit: wait, as a
        // client told `rate_limited` does, and ask again.
        let (found, record) = loop {
            let (found, record) =
                s.json("GET", &format!("/v1/executions/{id}"), Some(auditor), b"");
            if found != 429 {
                break (found, record);
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        };
        assert_eq!(
            found, 200,
            "acknowledged execution {id} is not in the log: {record}"
        );
        assert_eq!(record["outcome"], "ok");
        let receipt = cordon_trust::Receipt::parse(answer["receipt"].clone()).unwrap();
        receipt
            .verify(&key)
            .unwrap_or_else(|e| panic!("the receipt of {id} does not verify: {e}"));
        assert_eq!(receipt.record_json().unwrap()["id"], id);
        acked += 1;
    }
    acked
}

/// Saves the first acknowledged answer from node `node` as a receipt file and checks it with
/// `cordon receipt verify --server` against the shared log through `s`.
fn receipt_checks_against_the_log(
    s: &Server,
    auditor: &str,
    answers: &Answers,
    node: usize,
    dir: &std::path::Path,
) {
    let (_, _, _, answer) = answers
        .iter()
        .find(|a| a.0 == node && a.1 == 200)
        .unwrap_or_else(|| panic!("no acknowledged answer from node {node}"));
    let (_, key) = s.json("GET", "/v1/audit/key", Some(auditor), b"");
    let file = dir.join(format!("receipt-{node}.json"));
    std::fs::write(&file, answer.to_string()).unwrap();
    let out = crate::harness::cordon()
        .env("CORDON_API_KEY", auditor)
        .args([
            "receipt",
            "verify",
            file.to_str().unwrap(),
            "--key",
            key["key"].as_str().unwrap(),
            "--server",
            &format!("http://{}", s.addr),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Nodes A and B, echo published on A and served by B.
fn two_nodes_serving_echo(c: &Cluster) -> (Server, Server) {
    let (a, b) = (c.node("a"), c.node("b"));
    publish(&a, &c.f.publisher, &c.f.signed.join("echo.wasm"));
    assert!(until(|| invoke(&b, &c.f.invoker, "echo", "{}").0 == 200).is_some());
    (a, b)
}

#[test]
fn a_node_killed_under_load_loses_nothing_it_acknowledged() {
    let c = Cluster::new("cluster-kill");
    let (a, b) = two_nodes_serving_echo(&c);
    let f = &c.f;
    let addrs = [a.addr.clone(), b.addr.clone()];
    let mut a = Some(a);
    let answers = under_load(&addrs, &f.invoker, 4, |_| {
        std::thread::sleep(Duration::from_millis(1500));
        a.take().unwrap().kill9();
        std::thread::sleep(Duration::from_millis(1500));
    });
    let from = |node| answers.iter().filter(|x| x.0 == node && x.1 == 200).count();
    eprintln!("acknowledged: {} by A (killed), {} by B", from(0), from(1));
    assert!(
        from(0) > 10 && from(1) > 10,
        "too little load to show anything"
    );
    // Nothing but success was answered: the invokes A never answered were not acknowledged.
    assert!(
        answers.iter().all(|x| x.1 == 200),
        "{:?}",
        answers.iter().find(|x| x.1 != 200)
    );
    let acked = all_acknowledged_are_recorded(&b, &f.auditor, &answers);
    let (status, report) = b.json("GET", "/v1/audit/verify", Some(&f.auditor), b"");
    assert_eq!(status, 200);
    assert_eq!(report["intact"], true, "{report}");
    // More than was acknowledged under load: the warm-up call on B too, and any call A
    // recorded but could not answer before it died.
    assert!(b.count(&f.auditor, "execution") > acked);
    receipt_checks_against_the_log(&b, &f.auditor, &answers, 0, &c.f.data);
    receipt_checks_against_the_log(&b, &f.auditor, &answers, 1, &c.f.data);

    // An auditor checks the shared log itself, against the checkpoints the nodes copied out
    // (B's final one covers everything) and the log key they kept.
    let (_, key) = b.json("GET", "/v1/audit/key", Some(&f.auditor), b"");
    let key = key["key"].as_str().unwrap().to_owned();
    drop(stop(b));
    let audit = || {
        on_store(
            &c.url,
            &[
                "audit",
                "verify",
                "--checkpoint",
                c.checkpoints("a").to_str().unwrap(),
                "--checkpoint",
                c.checkpoints("b").to_str().unwrap(),
                "--key",
                &key,
            ],
        )
    };
    let out = audit();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One record edited in the database: named.
    let seq =
        c.pg.sql(
            "postgres",
            "SELECT min(seq) FROM links WHERE kind = 'execution'",
        )
        .unwrap();
    c.pg.sql(
        "postgres",
        &format!(
            "UPDATE links SET body = replace(body, '\"outcome\":\"ok\"', '\"outcome\":\"timeout\"') WHERE seq = {}",
            seq.trim()
        ),
    )
    .unwrap();
    let out = audit();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&format!("record {} (ex_", seq.trim()))
            && report.contains("field outcome was edited"),
        "{report}"
    );
}

#[test]
fn postgresql_restarted_under_load_answers_503_then_recovers_losing_nothing() {
    let c = Cluster::new("cluster-pg-restart");
    let (a, b) = two_nodes_serving_echo(&c);
    let f = &c.f;
    let addrs = [a.addr.clone(), b.addr.clone()];
    let mut unready = (0, 0);
    let answers = under_load(&addrs, &f.invoker, 4, |_| {
        std::thread::sleep(Duration::from_millis(1000));
        c.pg.stop().unwrap();
        // While it is down, both nodes say they are not ready.
        unready.0 = a.request("GET", "/readyz", None, b"").0;
        unready.1 = b.request("GET", "/readyz", None, b"").0;
        std::thread::sleep(Duration::from_millis(2500));
        c.pg.restart().unwrap();
        // Back: the nodes recover by themselves.
        assert!(
            until(|| a.request("GET", "/readyz", None, b"").0 == 200
                && b.request("GET", "/readyz", None, b"").0 == 200)
            .is_some()
        );
        std::thread::sleep(Duration::from_millis(1500));
    });
    assert_eq!(unready, (503, 503));
    let count = |st: u16| answers.iter().filter(|x| x.1 == st).count();
    eprintln!("answers: {} ok, {} unavailable", count(200), count(503));
    // Only two kinds of answer: recorded and acknowledged, or refused with when to retry.
    for (_, status, head, body) in &answers {
        match status {
            200 => {}
            503 => {
                assert!(head.contains("retry-after: 2"), "{head}");
                assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(count(503) > 0, "the outage was never seen");
    // Calls succeed on both nodes after it (the last answers of the run).
    for node in [0, 1] {
        assert_eq!(
            answers.iter().rev().find(|x| x.0 == node).map(|x| x.1),
            Some(200)
        );
    }
    all_acknowledged_are_recorded(&a, &f.auditor, &answers);
    let (status, report) = a.json("GET", "/v1/audit/verify", Some(&f.auditor), b"");
    assert_eq!(status, 200);
    assert_eq!(report["intact"], true, "{report}");
}
