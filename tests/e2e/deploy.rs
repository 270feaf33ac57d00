//! The deployment docs/deploy.md describes, run: two nodes on one PostgreSQL behind nginx with
//! `deploy/nginx.conf` as shipped (only the node addresses and the listen line replaced).

use crate::cluster::{Cluster, publish, until};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// nginx on a free loopback port with its files in `dir`, stopped on drop.
struct Nginx {
    child: Child,
    addr: String,
}

impl Drop for Nginx {
    /// A fast shutdown (SIGTERM), which stops its worker too: SIGKILL would stop only the
    /// master and leave the worker running.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("nginx is not installed: apt-get install -y nginx-light (the test command does)")
}

impl Nginx {
    fn start(dir: &Path, nodes: [&str; 2]) -> Nginx {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let shipped = std::fs::read_to_string(
            Path::new(cordon_test_artifacts::ROOT).join("deploy/nginx.conf"),
        )
        .unwrap();
        for line in [
            "server 10.0.0.11:7878",
            "server 10.0.0.12:7878",
            "listen 80;",
        ] {
            assert!(shipped.contains(line), "deploy/nginx.conf lost {line:?}");
        }
        let site = shipped
            .replace("server 10.0.0.11:7878", &format!("server {}", nodes[0]))
            .replace("server 10.0.0.12:7878", &format!("server {}", nodes[1]))
            .replace("listen 80;", &format!("listen 127.0.0.1:{port};"));
        std::fs::write(dir.join("cordon.conf"), site).unwrap();
        let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
        let d = dir.display();
        std::fs::write(
            dir.join("nginx.conf"),
            format!(
                "{user}daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
                 events {{ worker_connections 256; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
                 fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
                 include {d}/cordon.conf;\n}}\n",
                user = if root { "user root;\n" } else { "" },
            ),
        )
        .unwrap();
        let child = Command::new(nginx_binary())
            .args(["-p", dir.to_str().unwrap(), "-c"])
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr = format!("127.0.0.1:{port}");
        let up = until(|| std::net::TcpStream::connect(&addr).is_ok());
        assert!(
            up.is_some(),
            "nginx did not start: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
        Nginx { child, addr }
    }
}

/// One request through `addr`: (status, JSON body).
fn http(
    addr: &str,
    method: &str,
    path: &str,
    key: &str,
    headers: &str,
    body: &[u8],
) -> Option<(u16, Value)> {
    crate::cluster::http(addr, method, path, key, headers, body).map(|(s, _, v)| (s, v))
}

/// An echo call through `addr` with input `input`; it must be answered.
fn echo_via(addr: &str, key: &str, input: &str) -> (u16, Value) {
    http(
        addr,
        "POST",
        "/v1/tools/echo/invoke",
        key,
        "",
        input.as_bytes(),
    )
    .expect("an answer")
}

/// How many echo calls `node` answered ok, from its own metrics.
fn served(node: &crate::harness::Server, auditor: &str) -> u64 {
    let (_, _, body) = node.request("GET", "/metrics", Some(auditor), b"");
    String::from_utf8_lossy(&body)
        .lines()
        .find(|l| {
            l.starts_with("cordon_invocations_total")
                && l.contains("tool=\"echo\"")
                && l.contains("outcome=\"ok\"")
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn nginx_in_front_of_two_nodes() {
    let c = Cluster::new("deploy-nginx");
    let trusted = ["--trusted-proxies", "127.0.0.1"];
    let (a, b) = (c.node_with("a", &trusted), c.node_with("b", &trusted));
    let dir = c.f.data.join("nginx");
    std::fs::create_dir_all(&dir).unwrap();
    let lb = Nginx::start(&dir, [&a.addr, &b.addr]);
    let f = &c.f;

    // Published through the balancer (64 MiB bodies pass), invoked through it: both nodes
    // serve, and every answer is a success.
    let component = std::fs::read(f.signed.join("echo.wasm")).unwrap();
    let (status, published) =
        http(&lb.addr, "POST", "/v1/tools", &f.publisher, "", &component).unwrap();
    assert_eq!(status, 201, "{published}");
    // The other node admits it within a second (it compiles it first).
    assert!(
        until(
            || crate::cluster::invoke(&b, &f.invoker, "echo", "{}").0 == 200
                && crate::cluster::invoke(&a, &f.invoker, "echo", "{}").0 == 200
        )
        .is_some()
    );
    let before = served(&a, &f.auditor) + served(&b, &f.auditor);
    for i in 0..20 {
        let (status, answer) = echo_via(&lb.addr, &f.invoker, &format!(r#"{{"i":{i}}}"#));
        assert_eq!(
            (status, &answer["output"]["i"]),
            (200, &Value::from(i)),
            "{answer}"
        );
    }
    let (on_a, on_b) = (served(&a, &f.auditor), served(&b, &f.auditor));
    eprintln!("through nginx: {on_a} on A, {on_b} on B (incl. warm-up)");
    assert_eq!(on_a + on_b - before, 20);
    assert!(
        on_a > 1 && on_b > 1,
        "one node got everything: {on_a} / {on_b}"
    );

    // Per-address budgets count the client nginx names, not nginx: one client guessing keys
    // spends its own budget on each node (its failures then held back); another client behind
    // the same nginx spends nothing of it, and valid keys pass for both.
    let guesser = "X-Forwarded-For: 203.0.113.7\r\n";
    let other = "X-Forwarded-For: 198.51.100.9\r\n";
    let mut refused = Vec::new();
    for i in 0..24 {
        let wrong = format!("cordon_{:012x}_guess", i);
        // Each node keeps its own budget (10 a minute): the balancer spreads the guesses.
        refused.push(
            http(&lb.addr, "GET", "/v1/tools", &wrong, guesser, b"")
                .unwrap()
                .0,
        );
    }
    assert_eq!(refused, [401; 24]);
    let wrong = format!("cordon_{:012x}_other", 99);
    assert_eq!(
        http(&lb.addr, "GET", "/v1/tools", &wrong, other, b"")
            .unwrap()
            .0,
        401
    );
    let tools = |headers: &str| {
        http(&lb.addr, "GET", "/v1/tools", &f.invoker, headers, b"")
            .unwrap()
            .0
    };
    for _ in 0..4 {
        assert_eq!(tools(other), 200, "another client behind the same nginx");
        assert_eq!(
            tools(guesser),
            200,
            "a valid key from the guesser's address"
        );
    }
    let logs = [&a, &b]
        .iter()
        .map(|n| std::fs::read_to_string(n.data.join("server.log")).unwrap())
        .collect::<String>();
    let spent: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("failed-authentication budget spent"))
        .collect();
    assert!(
        !spent.is_empty() && spent.iter().all(|l| l.contains("203.0.113.7")),
        "only the guesser's budget was spent: {spent:?}"
    );

    // An older MCP client that can be asked things keeps a session on the node it started on:
    // nginx sends all of its requests there.
    let init = br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"elicitation":{}},"clientInfo":{"name":"raw","version":"1"}}}"#;
    let accept = "Accept: application/json, text/event-stream\r\n";
    let (status, head, _) =
        crate::cluster::http(&lb.addr, "POST", "/mcp", &f.invoker, accept, init).unwrap();
    assert_eq!(status, 200, "{head}");
    let session = head
        .lines()
        .find_map(|l| l.strip_prefix("mcp-session-id:"))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no session: {head}"));
    let with = format!("{accept}Mcp-Session-Id: {session}\r\nMCP-Protocol-Version: 2025-11-25\r\n");
    let list = br#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}"#;
    for _ in 0..8 {
        let (status, head, _) =
            crate::cluster::http(&lb.addr, "POST", "/mcp", &f.invoker, &with, list).unwrap();
        assert_eq!(status, 200, "the session's own node answers: {head}");
    }

    // A node killed: nginx sends the calls to the other one; nothing fails.
    drop(a.kill9());
    for i in 0..10 {
        let (status, answer) = echo_via(&lb.addr, &f.invoker, &format!(r#"{{"after":{i}}}"#));
        assert_eq!(status, 200, "{answer}");
    }
    assert_eq!(served(&b, &f.auditor) - on_b, 10);
}

/// The roles and grants of `deploy/postgres-*.sql`, as shipped: the nodes run as a role that
/// can append to the log but not rewrite or delete it, an auditor's role only reads it.
#[test]
fn the_nodes_run_with_the_least_privileges_the_deploy_files_grant() {
    use crate::docs_pages::{commands, run_line, stdout};
    let c = Cluster::new("deploy-roles");
    let checkout = Path::new(cordon_test_artifacts::ROOT);
    let root = checkout.join("deploy");
    // docs/deploy.md's commands, run as written with the page's placeholders filled in: the
    // passwords, the database's address, the node's address and directories.
    let page = commands("deploy.md");
    assert_eq!(page.len(), 4, "{page:?}");
    let filled = |line: &str| {
        line.replace("owner_password=...", "owner_password=owner-pw")
            .replace("app_password=...", "app_password=app-pw")
            .replace("auditor_password=...", "auditor_password=auditor-pw")
            .replace("cordon_owner:...@", "cordon_owner:owner-pw@")
            .replace("cordon_app:...@", "cordon_app:app-pw@")
            .replace("cordon_auditor:...@", "cordon_auditor:auditor-pw@")
            .replace("db.internal:5432", &format!("127.0.0.1:{}", c.pg.port()))
    };
    let (su, su_password) = c.pg.superuser();
    // 1. Roles, as the superuser (psql finds the server in its environment).
    let pg_env = vec![
        (
            "PATH".to_owned(),
            format!(
                "{}:{}",
                cordon_test_postgres::bin_dir().unwrap().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        ),
        ("PGHOST".to_owned(), "127.0.0.1".to_owned()),
        ("PGPORT".to_owned(), c.pg.port().to_string()),
        ("PGUSER".to_owned(), su.to_owned()),
        ("PGPASSWORD".to_owned(), su_password.to_owned()),
        ("PGDATABASE".to_owned(), "postgres".to_owned()),
    ];
    assert!(page[0].starts_with("psql "), "{}", page[0]);
    run_line(&filled(&page[0]), checkout, &pg_env);
    let url =
        |user: &str, pw: &str| format!("postgres://{user}:{pw}@127.0.0.1:{}/cordon", c.pg.port());
    let (owner, app, auditor) = (
        url("cordon_owner", "owner-pw"),
        url("cordon_app", "app-pw"),
        url("cordon_auditor", "auditor-pw"),
    );
    // Before the schema exists, the node's role cannot make it, and says what to do.
    let out = crate::cluster::on_store(&app, &["keys", "list"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("run cordon once as the role that owns the database"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 2. The owner makes it (with the first admin key, the page's command), then grants.
    assert!(page[1].contains("cordon keys create"), "{}", page[1]);
    let admin = stdout(&run_line(&filled(&page[1]), checkout, &[]))
        .trim()
        .to_owned();
    assert!(admin.starts_with("cordon_"), "{admin}");
    let _ = &owner;
    c.pg.psql(
        "cordon_owner",
        "owner-pw",
        "cordon",
        &["-f", root.join("postgres-grants.sql").to_str().unwrap()],
    )
    .unwrap();

    // A node as cordon_app does everything an operator and a caller do.
    let node = c.node_on("a", &app);
    publish(&node, &admin, &c.f.signed.join("echo.wasm"));
    let (status, made) = node.json(
        "POST",
        "/v1/keys",
        Some(&admin),
        br#"{"name":"inv","role":"invoker"}"#,
    );
    assert_eq!(status, 201, "{made}");
    let invoker = made["secret"].as_str().unwrap().to_owned();
    assert_eq!(crate::cluster::invoke(&node, &invoker, "echo", "{}").0, 200);
    let (status, set) = node.json(
        "PUT",
        "/v1/tools/echo/policy",
        Some(&admin),
        b"[limits]\nfuel = 5_000_000\n",
    );
    assert_eq!(status, 200, "{set}");
    for (path, body) in [
        ("/v1/tools/echo/quarantine", &br#"{"reason":"check"}"#[..]),
        ("/v1/tools/echo/release", b""),
    ] {
        assert_eq!(
            node.request("POST", path, Some(&admin), body).0,
            204,
            "{path}"
        );
    }
    assert_eq!(
        node.request("DELETE", "/v1/keys/inv", Some(&admin), b"").0,
        204
    );
    assert_eq!(crate::cluster::invoke(&node, &invoker, "echo", "{}").0, 401);
    let (_, key) = node.json("GET", "/v1/audit/key", Some(&admin), b"");
    let key = key["key"].as_str().unwrap().to_owned();
    drop(crate::cluster::stop(node));

    // 5. A node as the page starts one: the log key and trust store copied in (step 4), its
    // address on loopback. It serves what the first node published.
    assert!(page[2].contains("cordon serve"), "{}", page[2]);
    let node_dir = crate::common::temp_dir("deploy-roles-page-node");
    std::fs::copy(c.f.data.join("log.key"), node_dir.join("log.key")).unwrap();
    std::fs::copy(c.f.data.join("trust.toml"), node_dir.join("trust.toml")).unwrap();
    let serve_line = filled(&page[2])
        .replace("10.0.0.11:7878", "127.0.0.1:0")
        .replace("/var/lib/cordon", node_dir.to_str().unwrap());
    let bin = Path::new(env!("CARGO_BIN_EXE_cordon")).parent().unwrap();
    let mut child = std::process::Command::new("bash")
        .args(["-c", &format!("exec env {serve_line}")])
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env_remove("CORDON_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(node_dir.join("server.log")).unwrap())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| {
            panic!(
                "the page's node did not start: {}",
                std::fs::read_to_string(node_dir.join("server.log")).unwrap_or_default()
            )
        })
        .to_owned();
    let served = crate::cluster::try_invoke(&addr, &admin, "echo", r#"{"from":"page"}"#);
    let _ = child.kill();
    let _ = child.wait();
    let (status, _, answer) = served.expect("the page's node answers");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["output"]["from"], "page", "{answer}");

    // What the node's role cannot do: rewrite or delete the log, change the schema.
    for statement in [
        "UPDATE links SET body = body WHERE seq = 1",
        "DELETE FROM links WHERE seq = 1",
        "DELETE FROM checkpoints",
        "DROP TABLE links",
        "CREATE TABLE mine (x int)",
    ] {
        let refused =
            c.pg.psql("cordon_app", "app-pw", "cordon", &["-c", statement]);
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.to_string().contains("permission denied")
                    || e.to_string().contains("must be owner")),
            "{statement}: {refused:?}"
        );
    }
    // The auditor's role verifies the log (the page's command; node A's checkpoints stand for
    // both nodes' files), and can do nothing else.
    assert!(page[3].contains("cordon audit verify"), "{}", page[3]);
    let checkpoints = c.checkpoints("a");
    let verify = filled(&page[3])
        .replace("node-a.jsonl", checkpoints.to_str().unwrap())
        .replace("node-b.jsonl", checkpoints.to_str().unwrap())
        .replace("ed25519:...", &key);
    let verified = stdout(&run_line(&verify, checkout, &[]));
    assert!(!verified.is_empty());
    let _ = &auditor;
    for statement in [
        "INSERT INTO cordon_meta VALUES ('x', 'y')",
        "SELECT * FROM api_keys",
    ] {
        assert!(
            c.pg.psql("cordon_auditor", "auditor-pw", "cordon", &["-c", statement])
                .is_err(),
            "{statement}"
        );
    }
}
