//! API keys over the API (`/v1/keys`) and `cordon keys ... --server`: admin only, the secret
//! shown once and nowhere else, expiry, revocation in force at once.

use crate::harness::{Server, cordon, fixture};
use serde_json::Value;

fn now_ms() -> i64 {
    cordon_server::clock::now_ms()
}

#[test]
fn admins_make_list_and_revoke_keys_and_a_secret_is_shown_once() {
    let f = fixture("keys-api");
    let s = Server::start(&f.data);
    let make = |key: &str, body: &str| s.json("POST", "/v1/keys", Some(key), body.as_bytes());
    let tools = |key: &str| s.json("GET", "/v1/tools", Some(key), b"").0;

    // Only an admin.
    for key in [&f.publisher, &f.invoker, &f.auditor] {
        assert_eq!(make(key, r#"{"name":"x","role":"invoker"}"#).0, 403);
        assert_eq!(s.json("GET", "/v1/keys", Some(key), b"").0, 403);
        assert_eq!(s.request("DELETE", "/v1/keys/inv", Some(key), b"").0, 403);
    }

    // A lifetime in seconds; the key is listed with the time it ends.
    let before = now_ms();
    let (status, made) = make(
        &f.admin,
        r#"{"name":"ci-deploy","role":"publisher","description":"deploys from main","expires_in_secs":3600}"#,
    );
    assert_eq!(status, 201, "{made}");
    let expires = made["expires_at_ms"].as_i64().unwrap();
    assert!(
        (before + 3_600_000..=now_ms() + 3_600_000).contains(&expires),
        "{made}"
    );
    let secret = made["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with(&format!("cordon_{}_", made["id"].as_str().unwrap())));
    assert_eq!(
        (made["role"].as_str(), made["state"].as_str()),
        (Some("publisher"), Some("active"))
    );
    assert_eq!(tools(&secret), 200, "in force on this node at once");

    // Listed with what it is for and until when; the secret appears nowhere again: not in the
    // list, not in the audit log.
    let (status, list) = s.json("GET", "/v1/keys", Some(&f.admin), b"");
    assert_eq!(status, 200);
    let listed = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "ci-deploy")
        .unwrap();
    assert_eq!(listed["description"], "deploys from main");
    assert_eq!(listed["expires_at_ms"], expires);
    // Everything after `cordon_<id>_` (the secret itself may hold `_`).
    let hidden = secret.splitn(3, '_').nth(2).unwrap();
    assert!(hidden.len() >= 32, "{secret}");
    assert!(!list.to_string().contains(hidden));
    let (_, events) = s.json(
        "GET",
        "/v1/audit/events?kind=key.create",
        Some(&f.auditor),
        b"",
    );
    let created: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["action"]["name"] == "ci-deploy")
        .collect();
    assert_eq!(created.len(), 1, "{events}");
    assert_eq!(created[0]["event"]["action"]["expires_at_ms"], expires);
    assert!(!events.to_string().contains(hidden));

    // Refused with what is wrong, nothing made.
    let refused = |body: &str, status: u16, code: &str| {
        let (got, answer) = make(&f.admin, body);
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {answer}"
        );
    };
    refused(
        r#"{"name":"ci-deploy","role":"invoker"}"#,
        409,
        "name_taken",
    );
    refused(r#"{"name":"x","role":"root"}"#, 400, "invalid_body");
    refused(
        r#"{"name":"two words","role":"invoker"}"#,
        422,
        "invalid_key",
    );
    // A lifetime out of the documented range; what the schema allows is accepted (below).
    for lifetime in ["0", "-1", "1.5", "3155760001"] {
        refused(
            &format!(r#"{{"name":"old","role":"invoker","expires_in_secs":{lifetime}}}"#),
            422,
            "invalid_key",
        );
    }
    // An expiry is given as a lifetime: a time is not taken, whatever it is.
    refused(
        r#"{"name":"old","role":"invoker","expires_at_ms":0}"#,
        400,
        "invalid_body",
    );
    refused(
        r#"{"name":"x","role":"invoker","secret":"mine"}"#,
        400,
        "invalid_body",
    );
    let (_, list) = s.json("GET", "/v1/keys", Some(&f.admin), b"");
    assert_eq!(list["keys"].as_array().unwrap().len(), 5);

    // A key that expires stops working then, and is listed as expired.
    let (status, brief) = make(
        &f.admin,
        r#"{"name":"brief","role":"invoker","expires_in_secs":1}"#,
    );
    assert_eq!(status, 201);
    let brief_secret = brief["secret"].as_str().unwrap();
    assert_eq!(tools(brief_secret), 200);
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    assert_eq!(tools(brief_secret), 401);
    let (_, list) = s.json("GET", "/v1/keys", Some(&f.admin), b"");
    assert!(
        list["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["name"] == "brief" && k["state"] == "expired")
    );

    // Revoked by id: refused at once; again: nothing to revoke.
    let id = made["id"].as_str().unwrap();
    assert_eq!(
        s.request("DELETE", &format!("/v1/keys/{id}"), Some(&f.admin), b"")
            .0,
        204
    );
    assert_eq!(tools(&secret), 401);
    let (status, again) = s.json("DELETE", &format!("/v1/keys/{id}"), Some(&f.admin), b"");
    assert_eq!(status, 404, "{again}");
    assert_eq!(s.count(&f.auditor, "key.revoke"), 1);
}

#[test]
fn cordon_keys_works_through_the_api_with_server() {
    let f = fixture("keys-cli-api");
    let s = Server::start(&f.data);
    let url = format!("http://{}", s.addr);
    let keys = |args: &[&str]| {
        cordon()
            .env("CORDON_API_KEY", &f.admin)
            // A node's environment naming its database does not get in the way of --server.
            .env("CORDON_DATABASE", "postgres://nobody@127.0.0.1:1/none")
            .arg("keys")
            .args(args)
            .args(["--server", &url])
            .output()
            .unwrap()
    };
    let out = keys(&[
        "create",
        "--name",
        "nightly",
        "--role",
        "auditor",
        "--description",
        "the nightly audit export",
        "--expires",
        "30d",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secret = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(String::from_utf8_lossy(&out.stderr).contains("it is shown only now"));
    assert_eq!(s.json("GET", "/v1/audit/key", Some(&secret), b"").0, 200);

    let out = keys(&["list", "--json"]);
    assert!(out.status.success());
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let nightly = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "nightly")
        .unwrap();
    assert_eq!(nightly["description"], "the nightly audit export");
    assert_eq!(nightly["state"], "active");
    let in_30_days = now_ms() + 30 * 86_400_000;
    let expires = nightly["expires_at_ms"].as_i64().unwrap();
    assert!(
        (in_30_days - 60_000..=in_30_days + 1_000).contains(&expires),
        "{expires}"
    );

    let out = keys(&["revoke", "nightly"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(s.json("GET", "/v1/audit/key", Some(&secret), b"").0, 401);
    // A refusal says why, and fails.
    let out = keys(&["create", "--name", "nightly", "--role", "auditor"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("409 name_taken"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without an admin key, nothing.
    let out = cordon()
        .env("CORDON_API_KEY", &f.invoker)
        .args(["keys", "list", "--server", &url])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("403 forbidden"));
}
