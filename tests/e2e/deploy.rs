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
    fn drop(&mut self) {
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
    let c = Cluster::new("deploy-roles");
    let root = Path::new(cordon_test_artifacts::ROOT).join("deploy");
    let (su, su_password) = c.pg.superuser();
    c.pg.psql(
        su,
        su_password,
        "postgres",
        &[
            "-v",
            "owner_password=owner-pw",
            "-v",
            "app_password=app-pw",
            "-v",
            "auditor_password=auditor-pw",
            "-f",
            root.join("postgres-roles.sql").to_str().unwrap(),
        ],
    )
    .unwrap();
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
    // The owner makes it (with the first admin key), then grants.
    let admin = crate::cluster::ok_on_store(
        &owner,
        &["keys", "create", "--name", "ops", "--role", "admin"],
    );
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
    // The auditor's role verifies the log, and can do nothing else.
    let out = crate::cluster::on_store(
        &auditor,
        &[
            "audit",
            "verify",
            "--checkpoint",
            c.checkpoints("a").to_str().unwrap(),
            "--key",
            &key,
        ],
    );
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
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
