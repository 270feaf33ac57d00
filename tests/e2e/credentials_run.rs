//! `[[network.credentials]]` through `cordon run`: the secret comes from the secret store in
//! `--data`, the header goes to exactly the credentialed destination, the hostile guest never
//! reads it, the printed record names it without its value, and a secret the store lacks is
//! named before anything runs.

use crate::common::temp_dir;
use crate::credentials::{
    SECRET, Seen, assert_attached_exactly, assert_echo_redacted, http_server,
};
use crate::harness::{cordon, new_secret_key, set_secret};
use cordon_test_artifacts as guests;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Output;

/// `cordon run` of the credential probe (confined, as by default) under `policy`.
fn run_probe(data: &Path, key: &str, policy: &Path, input: &Value) -> Output {
    cordon()
        .args([
            "run",
            guests::CRED_PROBE,
            "--allow-unsigned",
            "--no-cache",
            "--json",
            "--data",
            data.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
            "--input",
            &input.to_string(),
        ])
        .env("CORDON_SECRET_KEY", key)
        .output()
        .unwrap()
}

/// Binds 127.0.0.2 on the port 127.0.0.1 got: another host, same port.
async fn listeners() -> (tokio::net::TcpListener, tokio::net::TcpListener) {
    for _ in 0..20 {
        let a = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = a.local_addr().unwrap().port();
        if let Ok(b) = tokio::net::TcpListener::bind(("127.0.0.2", port)).await {
            return (a, b);
        }
    }
    panic!("no port free on both 127.0.0.1 and 127.0.0.2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cordon_run_attaches_a_stored_credential_only_where_it_belongs() {
    let seen: Seen = Default::default();
    let (api, other_host) = listeners().await;
    let port = api.local_addr().unwrap().port();
    let other_port_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_port = other_port_listener.local_addr().unwrap().port();
    let elsewhere = format!("http://127.0.0.2:{port}/echo");
    http_server(api, elsewhere.clone(), seen.clone()).await;
    http_server(other_host, elsewhere.clone(), seen.clone()).await;
    http_server(other_port_listener, elsewhere.clone(), seen.clone()).await;

    let data = temp_dir("cred-run");
    let key = new_secret_key();
    set_secret(&data, &key, "api-token", SECRET);
    let policy = data.join("cred.toml");
    std::fs::write(
        &policy,
        format!(
            r#"
[network]
allow = ["http://127.0.0.1:{port}", "http://127.0.0.2:{port}", "http://127.0.0.1:{other_port}"]
allow_private = ["127.0.0.0/8"]

[[network.credentials]]
destination = "http://127.0.0.1:{port}"
header = "Authorization"
value = "Bearer {{secret:api-token}}"
"#
        ),
    )
    .unwrap();
    let api = format!("http://127.0.0.1:{port}");
    let input = json!({
        "files": ["/etc/passwd", "/proc/self/environ", data.join("secrets.json").to_str().unwrap(), "secrets.json"],
        "requests": [
            // 0: the credentialed destination: the header arrives, the echoes are redacted.
            {"url": format!("{api}/echo")},
            // 1: another host on the same port: nothing attached.
            {"url": elsewhere},
            // 2: the guest's own Authorization to the credentialed destination: replaced.
            {"url": format!("{api}/echo"), "headers": [["Authorization", "Bearer the-guest-s-own"]]},
            // 3-4: a redirect from the credentialed destination to another host: nothing there.
            {"url": format!("{api}/redirect"), "follow": true},
            // 5: userinfo naming the destination: refused outright.
            {"url": format!("http://127.0.0.1:{port}@127.0.0.2:{port}/echo")},
            // 6: another port of the same host: no credential.
            {"url": format!("http://127.0.0.1:{other_port}/echo")},
            // 7: https to the same host and port: not allowed at all.
            {"url": format!("https://127.0.0.1:{port}/echo")},
            // 8: the secret echoed split across two chunks.
            {"url": format!("{api}/split")},
            // 9: asking for a compressed or partial echo: the host asks for it whole instead.
            {"url": format!("{api}/echo"), "headers": [["Accept-Encoding", "gzip"], ["Range", "bytes=0-9"]]},
            // 10: a compressed reply to a credentialed request is refused.
            {"url": format!("{api}/gzip")},
        ],
    });
    let out = tokio::task::spawn_blocking({
        let (data, key, policy) = (data.clone(), key.clone(), policy.clone());
        move || run_probe(&data, &key, &policy, &input)
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "the secret was printed: {stdout}\n{stderr}"
    );
    let exec: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(exec["outcome"], "ok", "{exec}");
    let report = &exec["output"];
    assert!(report["env"].as_array().unwrap().is_empty(), "{report}");
    for file in report["files"].as_array().unwrap() {
        assert!(file[1].as_str().unwrap().starts_with("error:"), "{file}");
    }
    let r = |i: usize| &report["responses"][i];
    assert_eq!(r(0)["status"], 200, "{}", r(0));
    assert!(
        r(0)["body"].as_str().unwrap().contains("Bearer [REDACTED]"),
        "{}",
        r(0)
    );
    assert_echo_redacted(r(0));
    assert_eq!(r(1)["status"], 200, "{}", r(1));
    assert_eq!(r(2)["status"], 200, "{}", r(2));
    assert_eq!(r(3)["status"], 302, "{}", r(3));
    assert_eq!(r(4)["url"], elsewhere);
    assert_eq!(r(4)["status"], 200, "{}", r(4));
    for denied in [5, 7] {
        assert!(
            r(denied)["error"].as_str().unwrap().contains("denied"),
            "{}",
            r(denied)
        );
    }
    assert_eq!(r(6)["status"], 200, "{}", r(6));
    assert_eq!(r(8)["body"], "Bearer [REDACTED]", "{}", r(8));
    let sent = r(9)["body"].as_str().unwrap().to_ascii_lowercase();
    assert!(
        sent.contains("accept-encoding: identity") && !sent.contains("range:"),
        "{sent}"
    );
    assert!(r(10)["error"].is_string(), "{}", r(10));

    // On the wire: requests 0, 2, 3, 8, 9 and 10 carried the credential, to the credentialed
    // destination only; 1, 4 and 6 arrived without any Authorization.
    assert_attached_exactly(&seen, port, &format!("127.0.0.1:{port}"), 6, 3);

    // The printed record names the credential and how often, never its value.
    assert_eq!(
        exec["usage"]["credentials"],
        json!([{"destination": api, "header": "authorization",
                "secrets": ["api-token"], "requests": 6}])
    );
    let reasons = exec["usage"]["denials"].to_string();
    for expected in [
        "set the authorization header itself",
        "user information",
        "came compressed or partial",
    ] {
        assert!(reasons.contains(expected), "{expected}: {reasons}");
    }
}

#[test]
fn cordon_run_names_a_credential_secret_the_store_lacks_and_runs_nothing() {
    let data = temp_dir("cred-run-missing");
    let key = new_secret_key();
    set_secret(&data, &key, "present", "a-value");
    let policy = data.join("cred.toml");
    std::fs::write(
        &policy,
        "[network]\nallow = [\"https://api.example.com\"]\n\n\
         [[network.credentials]]\ndestination = \"https://api.example.com\"\n\
         header = \"X-Api-Key\"\nvalue = \"{secret:absent}\"\n",
    )
    .unwrap();
    let out = run_probe(&data, &key, &policy, &json!({"requests": []}));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing ran: {:?}", out.stdout);
    assert!(
        stderr.contains("network.credentials[0].value: secret absent is not in the secret store"),
        "{stderr}"
    );
    // Without the store's key the error says how to open it, and still runs nothing.
    let out = cordon()
        .args([
            "run",
            guests::CRED_PROBE,
            "--allow-unsigned",
            "--no-cache",
            "--data",
            data.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
            "--input",
            "{}",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && out.stdout.is_empty(), "{stderr}");
    assert!(stderr.contains("CORDON_SECRET_KEY"), "{stderr}");
}
