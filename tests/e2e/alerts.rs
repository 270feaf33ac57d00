//! Alerts that reach people (issue 38): a test alert is delivered to a real receiver that
//! verifies it with the Standard Webhooks library; a receiver that is down gets it after a
//! restart of the server, under the same id; a webhook on a private address without
//! `allow_private` is given up, saying why.

use crate::harness::{Server, fixture, new_secret_key, set_secret, venv_with};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const STANDARDWEBHOOKS: &str = "standardwebhooks==1.3.0";

fn python() -> PathBuf {
    venv_with(STANDARDWEBHOOKS, |venv: &Path| {
        Command::new(venv.join("bin/python"))
            .args(["-c", "import standardwebhooks"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
    .join("bin/python")
}

/// The receiver, listening on `port`, appending what it gets to `out`.
struct Receiver(Child);

impl Receiver {
    fn start(secret: &str, port: u16, out: &Path) -> Receiver {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e/webhook_receiver.py");
        let mut child = Command::new(python())
            .arg(script)
            .args([secret, &port.to_string(), out.to_str().unwrap()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        assert_eq!(crate::harness::first_line(&mut child).trim(), "ready");
        Receiver(child)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn deliveries(s: &Server, key: &str) -> Vec<Value> {
    let (status, list) = s.json("GET", "/v1/alerts", Some(key), b"");
    assert_eq!(status, 200, "{list}");
    list["alerts"][0]["deliveries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Polls until `done` holds of the first alert's deliveries (at most 30 s).
fn until(s: &Server, key: &str, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = deliveries(s, key);
        if done(&d) {
            return d;
        }
        assert!(Instant::now() < deadline, "{what}: {d:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The receivers' signing secret.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwaGVsbG8gdGhlcmU=";

/// A secret store in `data` holding [`SECRET`] as `ops-webhook` (its key returned), and a free
/// port for a receiver.
fn webhook_secret(data: &Path) -> (String, u16) {
    let store_key = new_secret_key();
    set_secret(data, &store_key, "ops-webhook", SECRET);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    (store_key, port)
}

#[test]
fn an_alert_reaches_a_receiver_that_verifies_it_even_across_a_restart() {
    let f = fixture("alerts-webhook");
    let (store_key, port) = webhook_secret(&f.data);
    let config = f.data.join("alerts.toml");
    std::fs::write(
        &config,
        format!(
            "[[alerts.webhook]]\nname = \"ops\"\nurl = \"http://127.0.0.1:{port}/hooks\"\nsecret = \"ops-webhook\"\nallow_private = true\n\n\
             [[alerts.webhook]]\nname = \"private\"\nurl = \"http://127.0.0.1:{port}/never\"\nsecret = \"ops-webhook\"\n"
        ),
    )
    .unwrap();
    let start = || {
        Server::start_env(
            &f.data,
            &["--config", config.to_str().unwrap()],
            &[("CORDON_SECRET_KEY", &store_key)],
        )
    };

    // Raised while the receiver is down: attempted, refused, kept.
    let s = start();
    let (status, alert) = s.json("POST", "/v1/alerts/test", Some(&f.admin), b"");
    assert_eq!(status, 201, "{alert}");
    let id = alert["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("alert_") && id.len() == 30, "{id}");
    let (status, _) = s.json("POST", "/v1/alerts/test", Some(&f.invoker), b"");
    assert_eq!(status, 403);
    let seen = until(&s, &f.auditor, "a first attempt and a refusal", |d| {
        d.len() == 2
            && d[0]["webhook"] == "ops"
            && d[0]["attempts"].as_u64() >= Some(1)
            && d[0]["state"] == "pending"
            && d[1]["state"] == "failed"
    });
    // The private address is refused by the address rules, never sent to.
    let why = seen[1]["last_error"].as_str().unwrap();
    assert!(
        why.contains("127.0.0.1") && why.contains("allow_private"),
        "{why}"
    );
    drop(s);

    // The receiver comes up; the restarted server delivers the same alert, signed.
    let out = f.data.join("received.jsonl");
    let _receiver = Receiver::start(SECRET, port, &out);
    let s = start();
    let done = until(&s, &f.auditor, "delivered after the restart", |d| {
        d.first().is_some_and(|o| o["state"] == "delivered")
    });
    assert!(done[0]["attempts"].as_u64() >= Some(2), "{done:?}");
    let lines: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let got = &lines[0];
    assert_eq!(got["verified"], true, "{got}");
    assert_eq!(got["path"], "/hooks");
    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["payload"]["type"], "alert.raise");
    assert_eq!(got["payload"]["data"]["id"], id.as_str());
    assert_eq!(got["payload"]["data"]["rule"], "test");
    assert_eq!(got["payload"]["data"]["severity"], "info");
    // The raise is in the chain once, and the chain holds.
    assert_eq!(s.count(&f.auditor, "alert.raise"), 1);
    let (_, verified) = s.json("GET", "/v1/audit/verify", Some(&f.auditor), b"");
    assert_eq!(verified["intact"], json!(true), "{verified}");
}

#[test]
fn a_webhook_whose_secret_is_missing_or_not_standard_stops_the_server_with_the_fix() {
    let f = fixture("alerts-config");
    let store_key = new_secret_key();
    set_secret(&f.data, &store_key, "plain", "hunter2");
    for (secret, said) in [("absent", "cordon secret set absent"), ("plain", "base64")] {
        let config = f.data.join("alerts.toml");
        std::fs::write(
            &config,
            format!(
                "[[alerts.webhook]]\nurl = \"https://hooks.example.com/x\"\nsecret = \"{secret}\"\n"
            ),
        )
        .unwrap();
        let out = crate::harness::cordon()
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(&f.data)
            .args(["--config", config.to_str().unwrap()])
            .env("CORDON_SECRET_KEY", &store_key)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert!(
            err.contains("alerts.webhook hooks.example.com") && err.contains(said),
            "{err}"
        );
    }
}

/// A detection rule: five denials of a tool within a minute deliver one signed alert to a real
/// receiver and quarantine the tool, with the rule as the actor and the evidence in the event;
/// an admin releases it with the existing command.
#[test]
fn five_denials_of_a_tool_alert_and_quarantine_it() {
    let f = fixture("alerts-rule");
    let (store_key, port) = webhook_secret(&f.data);
    let out = f.data.join("received.jsonl");
    let _receiver = Receiver::start(SECRET, port, &out);
    let config = f.data.join("detect.toml");
    std::fs::write(
        &config,
        format!(
            "[[alerts.webhook]]\nname = \"ops\"\nurl = \"http://127.0.0.1:{port}/hooks\"\nsecret = \"ops-webhook\"\nallow_private = true\n\n\
             [[detect.rules]]\nname = \"denied-tools\"\non = \"denial\"\nper = \"tool\"\ncount = 5\nwindow = \"1m\"\nthen = [\"alert\", \"quarantine\"]\n"
        ),
    )
    .unwrap();
    let s = Server::start_env(
        &f.data,
        &["--config", config.to_str().unwrap()],
        &[("CORDON_SECRET_KEY", &store_key)],
    );
    assert_eq!(s.publish(&f.publisher, &f.signed.join("echo.wasm")).0, 201);
    let (status, set) = s.json(
        "PUT",
        "/v1/tools/echo/policy",
        Some(&f.admin),
        b"[access]\nroles = [\"admin\"]\n",
    );
    assert_eq!(status, 200, "{set}");
    let invoke = |key: &str| {
        s.json("POST", "/v1/tools/echo/invoke", Some(key), br#"{"m": 1}"#)
            .0
    };
    for _ in 0..4 {
        assert_eq!(invoke(&f.invoker), 403);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(invoke(&f.admin), 200, "four denials are not five");
    assert_eq!(invoke(&f.invoker), 403);

    // Quarantined on this node (and, through the store, on every other).
    let deadline = Instant::now() + Duration::from_secs(10);
    while invoke(&f.admin) != 423 {
        assert!(Instant::now() < deadline, "not quarantined");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, events) = s.json(
        "GET",
        "/v1/audit/events?kind=tool.quarantine",
        Some(&f.auditor),
        b"",
    );
    let event = &events["events"][0]["event"];
    assert_eq!(event["actor"]["key_id"], "rule:denied-tools", "{events}");
    let reason = event["action"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("5 denials of tool echo within 60 s") && reason.contains("\"count\":5"),
        "{reason}"
    );

    // One alert, delivered and verified.
    let delivered = until(&s, &f.auditor, "the rule's alert delivered", |d| {
        d.first().is_some_and(|o| o["state"] == "delivered")
    });
    assert_eq!(delivered.len(), 1);
    let lines: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["verified"], true);
    let data = &lines[0]["payload"]["data"];
    assert_eq!(data["rule"], "denied-tools");
    assert_eq!(data["details"]["key"], "echo");
    assert_eq!(data["details"]["count"], 5);
    assert_eq!(s.count(&f.auditor, "alert.raise"), 1);

    // The existing command lifts it.
    let (status, _, _) = s.request("POST", "/v1/tools/echo/release", Some(&f.admin), b"");
    assert_eq!(status, 204);
    assert_eq!(invoke(&f.admin), 200);
}
