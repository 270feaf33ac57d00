//! Policies as stored resources: `PUT/GET /v1/tools/{name}/policy`, `cordon policy apply DIR`
//! and `cordon policy show`, on one node (the cluster tests show the change reaching others).

use crate::harness::{Server, cordon, fixture};
use cordon_server::clock::sha256_hex;
use serde_json::Value;

fn put(s: &Server, key: &str, tool: &str, text: &str) -> (u16, Value) {
    s.json(
        "PUT",
        &format!("/v1/tools/{tool}/policy"),
        Some(key),
        text.as_bytes(),
    )
}

/// The error of a call of the infinite loop, which names the fuel it ran out of.
fn fuel_error(s: &Server, key: &str) -> (String, String) {
    let (status, answer) = s.json("POST", "/v1/tools/infinite-loop/invoke", Some(key), b"{}");
    assert_eq!(status, 502, "{answer}");
    (
        answer["error"].as_str().unwrap().to_owned(),
        answer["execution_id"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn a_policy_set_over_the_api_is_checked_recorded_and_in_force() {
    let f = fixture("policy-api");
    let none = f.data.join("no-policies");
    std::fs::create_dir_all(&none).unwrap();
    let s = Server::start_with(&f.data, &["--policies", none.to_str().unwrap()]);
    assert_eq!(
        s.publish(&f.publisher, &f.signed.join("infinite_loop.wasm"))
            .0,
        201
    );

    // Only an admin changes what a tool may do; an invoker cannot even read it.
    let narrow = "[limits]\nfuel = 2_000_000\n";
    assert_eq!(put(&s, &f.publisher, "infinite-loop", narrow).0, 403);
    assert_eq!(
        s.json(
            "GET",
            "/v1/tools/infinite-loop/policy",
            Some(&f.invoker),
            b""
        )
        .0,
        403
    );
    // Refused with the key path, as `cordon policy check` names it; nothing changes.
    let (status, err) = put(&s, &f.admin, "infinite-loop", "[limits]\nfuel_units = 5\n");
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["code"], "invalid_policy");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("limits.fuel_units") && message.contains("unknown field"),
        "{message}"
    );
    let (status, err) = put(
        &s,
        &f.admin,
        "infinite-loop",
        "[limits]\ntimeout_ms = 3_600_000\n",
    );
    assert_eq!(status, 422, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("timeout_ms"),
        "{err}"
    );
    let (status, err) = put(&s, &f.admin, "no-such-tool", narrow);
    assert_eq!(status, 404);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("publish it first"),
        "{err}"
    );
    assert_eq!(s.count(&f.auditor, "policy.set"), 0);
    let (default_error, _) = fuel_error(&s, &f.invoker);

    // Set: in force at once, and the execution records the policy it ran under.
    let (status, set) = put(&s, &f.admin, "infinite-loop", narrow);
    assert_eq!(status, 200, "{set}");
    assert_eq!(set["versions_changed"], 1);
    assert_eq!(set["policy_hash"], sha256_hex(narrow.as_bytes()));
    let (error, id) = fuel_error(&s, &f.invoker);
    assert_eq!(error, "fuel exhausted after 2000000 units");
    assert_ne!(error, default_error);
    let (_, record) = s.json(
        "GET",
        &format!("/v1/executions/{id}"),
        Some(&f.auditor),
        b"",
    );
    assert_eq!(record["policy_hash"], sha256_hex(narrow.as_bytes()));
    // The same text again changes nothing and records nothing.
    let (status, again) = put(&s, &f.admin, "infinite-loop", narrow);
    assert_eq!((status, again["versions_changed"].as_u64()), (200, Some(0)));
    assert_eq!(s.count(&f.auditor, "policy.set"), 1);

    // Its history: who, when, from which hash to which.
    let (status, shown) = s.json(
        "GET",
        "/v1/tools/infinite-loop/policy",
        Some(&f.auditor),
        b"",
    );
    assert_eq!(status, 200);
    assert_eq!(shown["policy"], narrow);
    assert_eq!(shown["default"], false);
    let history = shown["history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "{shown}");
    assert_eq!(history[0]["by_name"], "admin");
    assert_eq!(history[0]["source"], "api");
    assert_eq!(history[0]["policy_hash"], sha256_hex(narrow.as_bytes()));
    assert_eq!(history[0]["previous_hashes"][0], sha256_hex(b""));
    assert!(history[0]["at_ms"].as_i64().unwrap() > 0);

    // `cordon policy apply DIR`: a folder (from git, say) with a policy for the tool, one for a
    // tool not published here, and one that does not parse.
    let dir = f.data.join("from-git");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("infinite-loop.toml"),
        "[limits]\nfuel = 3_000_000\n",
    )
    .unwrap();
    std::fs::write(dir.join("echo.toml"), "[limits]\nfuel = 1_000_000\n").unwrap();
    std::fs::write(dir.join("broken.toml"), "[limits\n").unwrap();
    let apply = || {
        cordon()
            .env("CORDON_API_KEY", &f.admin)
            .args([
                "policy",
                "apply",
                dir.to_str().unwrap(),
                "--server",
                &format!("http://{}", s.addr),
            ])
            .output()
            .unwrap()
    };
    let out = apply();
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("infinite-loop: set (1 versions now run under it)"),
        "{said}"
    );
    assert!(
        said.contains("echo: skipped, not published on this server"),
        "{said}"
    );
    assert!(
        said.contains("broken: refused:") && said.contains("broken.toml"),
        "{said}"
    );
    assert!(
        said.contains("1 of 3 policies refused; the others are in force"),
        "{said}"
    );
    assert_eq!(
        fuel_error(&s, &f.invoker).0,
        "fuel exhausted after 3000000 units"
    );
    std::fs::remove_file(dir.join("broken.toml")).unwrap();
    let out = apply();
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{said}");
    assert!(said.contains("infinite-loop: unchanged"), "{said}");
    assert_eq!(s.count(&f.auditor, "policy.set"), 2);

    // A SIGHUP reload of the server's folder, which has no file for this tool, leaves the
    // policy set over the API alone.
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &s.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let mut reloads = 0;
    for _ in 0..50 {
        reloads = s.count(&f.auditor, "policy.reload");
        if reloads == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(reloads, 1, "the reload never happened");
    assert_eq!(s.count(&f.auditor, "policy.set"), 2);
    assert_eq!(
        fuel_error(&s, &f.invoker).0,
        "fuel exhausted after 3000000 units"
    );

    // `cordon policy show` prints the same as GET.
    let out = cordon()
        .env("CORDON_API_KEY", &f.auditor)
        .args([
            "policy",
            "show",
            "infinite-loop",
            "--server",
            &format!("http://{}", s.addr),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["history"].as_array().unwrap().len(), 2);
    assert_eq!(
        shown["history"][0]["policy_hash"],
        sha256_hex(b"[limits]\nfuel = 3_000_000\n")
    );
}

#[test]
fn a_policy_naming_a_secret_the_store_lacks_is_refused_and_env_secrets_are_warned_about() {
    let f = fixture("policy-secrets");
    let credential = "[network]\nallow = [\"https://api.github.com\"]\n\n\
        [[network.credentials]]\ndestination = \"https://api.github.com\"\n\
        header = \"Authorization\"\nvalue = \"Bearer {secret:github-token}\"\n";
    // A server without a secret store: the policy cannot be loaded, and the error says how to
    // fix it.
    let s = Server::start(&f.data);
    let (status, body) = s.publish(&f.publisher, &f.signed.join("echo.wasm"));
    assert_eq!(status, 201, "{body}");
    let (status, body) = put(&s, &f.admin, "echo", credential);
    assert_eq!(status, 422, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("secret github-token") && message.contains("CORDON_SECRET_KEY"),
        "{message}"
    );
    drop(s);
    // With a store that lacks it: refused, naming the secret and the command that adds it.
    let key = crate::harness::new_secret_key();
    let s = Server::start_env(&f.data, &[], &[("CORDON_SECRET_KEY", &key)]);
    let (status, body) = put(&s, &f.admin, "echo", credential);
    assert_eq!(status, 422, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("secret github-token is not in the secret store")
            && message.contains("cordon secret set github-token"),
        "{message}"
    );
    // A destination the tool may not call cannot carry a credential (checked before secrets).
    let (status, body) = put(
        &s,
        &f.admin,
        "echo",
        &credential.replace(
            "allow = [\"https://api.github.com\"]",
            "allow = [\"https://example.com\"]",
        ),
    );
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains(
            "network.credentials[0].destination: https://api.github.com:443 is not in network.allow"
        ),
        "{body}"
    );

    // `cordon policy check` warns that an [env] secret is readable by the tool, and shows a
    // credential by its destination and secret names.
    let file = f.data.join("check.toml");
    std::fs::write(
        &file,
        format!("{credential}\n[env]\nTOKEN = {{ secret = \"api-token\" }}\n"),
    )
    .unwrap();
    let out = cordon()
        .args(["policy", "check", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning:") && err.contains("env.TOKEN: the tool can read secret api-token"),
        "{err}"
    );
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["warnings"].as_array().unwrap().len(), 1);
    assert_eq!(
        shown["policy"]["network"]["credentials"][0],
        serde_json::json!({"destination": "https://api.github.com:443", "header": "authorization", "secrets": ["github-token"]})
    );
}
