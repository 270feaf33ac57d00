//! Callers from an identity provider: JWT bearer tokens from a configured issuer (a local JWKS
//! endpoint over HTTPS, RSA and Ed25519 keys made for the test), accepted through REST and
//! through `/mcp` with the official MCP Python SDK, refused for every way a token can be wrong
//! (401, a security event, nothing run), 403 without a mapped role; subjects and groups in a
//! policy's `[access]`; the protected resource metadata (RFC 9728) and the challenge naming it.

use crate::harness::{Fixture, Server, fixture};
use crate::idp::{ISS, Idp, claims, sign, tampered, unsigned};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use std::process::Stdio;

/// A server trusting `idp`, with echo and word-count published; its log in `<data>/server.log`.
/// Room for every refusal a test makes from one address.
fn server(name: &str, idp: &Idp, extra_config: &str) -> (Fixture, Server) {
    server_with(
        name,
        idp,
        extra_config,
        &["--auth-failures-per-minute", "100"],
    )
}

/// [`server`] with other arguments for `cordon serve`.
fn server_with(name: &str, idp: &Idp, extra_config: &str, args: &[&str]) -> (Fixture, Server) {
    let f = fixture(name);
    let config = idp.config(extra_config);
    let log = std::fs::File::create(f.data.join("server.log")).unwrap();
    let mut all = vec!["--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    let s = Server::start_full(&f.data, &all, &[], Stdio::from(log));
    for tool in ["echo", "word_count"] {
        let (status, body) = s.publish(&f.publisher, &f.signed.join(format!("{tool}.wasm")));
        assert_eq!(status, 201, "{body}");
    }
    (f, s)
}

fn log(f: &Fixture) -> String {
    std::fs::read_to_string(f.data.join("server.log")).unwrap()
}

fn invoke(s: &Server, token: &str) -> (u16, Value) {
    s.json(
        "POST",
        "/v1/tools/echo/invoke",
        Some(token),
        br#"{"message":"hi"}"#,
    )
}

#[test]
fn tokens_from_the_configured_issuer_are_accepted_and_every_bad_one_is_refused() {
    let idp = Idp::start("tokens");
    let (f, s) = server("identity-tokens", &idp, "");
    let fetched_at_start = idp.fetches();
    assert_eq!(fetched_at_start, 1, "the keys are fetched once at start");

    // Accepted: RS256 and EdDSA tokens with a mapped role.
    let alice = sign(
        &idp.rsa,
        Algorithm::RS256,
        "rsa-1",
        &claims("alice", &["tool-users"]),
    );
    let (status, answer) = invoke(&s, &alice);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["output"]["message"], "hi");
    let bob = sign(
        &idp.ed,
        Algorithm::EdDSA,
        "ed-1",
        &claims("bob", &["engineering", "tool-users"]),
    );
    let (status, _) = invoke(&s, &bob);
    assert_eq!(status, 200);
    // The record names the caller by issuer and subject, with the token's display name.
    let (_, record) = s.json(
        "GET",
        &format!(
            "/v1/executions/{}",
            answer["execution_id"].as_str().unwrap()
        ),
        Some(&f.auditor),
        b"",
    );
    assert_eq!(record["caller"], format!("{ISS}#alice"));
    assert_eq!(record["caller_name"], "alice@cordon.test");
    // ... and the executions listing filters on it.
    let (_, page) = s.json(
        "GET",
        &format!(
            "/v1/executions?caller={}",
            cordon::commands::client::path_segment(&format!("{ISS}#bob"))
        ),
        Some(&f.auditor),
        b"",
    );
    assert_eq!(page["executions"].as_array().unwrap().len(), 1, "{page}");
    // An admin token manages what an admin key does, and is the actor of the event.
    let admin = sign(
        &idp.ed,
        Algorithm::EdDSA,
        "ed-1",
        &claims("root", &["platform-admins"]),
    );
    let (status, _, body) = s.request(
        "POST",
        "/v1/tools/echo/quarantine",
        Some(&admin),
        br#"{"reason":"checking"}"#,
    );
    assert_eq!(status, 204, "{}", String::from_utf8_lossy(&body));
    let (_, events) = s.json(
        "GET",
        "/v1/audit/events?kind=tool.quarantine",
        Some(&f.auditor),
        b"",
    );
    assert_eq!(
        events["events"][0]["actor"]["key_id"],
        format!("{ISS}#root")
    );
    let (status, _, _) = s.request("POST", "/v1/tools/echo/release", Some(&admin), b"");
    assert_eq!(status, 204);
    // An invoker token may not publish.
    let (status, body) = s.publish(&alice, &f.signed.join("nap.wasm"));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );

    let executions = s.count(&f.auditor, "execution");
    let refusals_before = log(&f).matches("unauthenticated request").count();
    // Refused, 401: every way a token can be wrong.
    let mut c = claims("mallory", &["tool-users"]);
    c["exp"] = json!(crate::idp::now() - 600);
    let expired = sign(&idp.rsa, Algorithm::RS256, "rsa-1", &c);
    let mut c = claims("mallory", &["tool-users"]);
    c["nbf"] = json!(crate::idp::now() + 600);
    let not_yet = sign(&idp.rsa, Algorithm::RS256, "rsa-1", &c);
    let mut c = claims("mallory", &["tool-users"]);
    c["iss"] = json!("https://evil.example.com");
    let wrong_issuer = sign(&idp.rsa, Algorithm::RS256, "rsa-1", &c);
    let mut c = claims("mallory", &["tool-users"]);
    c["aud"] = json!("someone-else");
    let wrong_audience = sign(&idp.rsa, Algorithm::RS256, "rsa-1", &c);
    let mut c = claims("mallory", &["tool-users"]);
    c["aud"] = json!("https://other.example.com/mcp");
    let other_resource = sign(&idp.rsa, Algorithm::RS256, "rsa-1", &c);
    let unknown_kid = sign(
        &idp.rsa,
        Algorithm::RS256,
        "rsa-9",
        &claims("mallory", &["tool-users"]),
    );
    let none = unsigned(&claims("mallory", &["tool-users"]));
    // Algorithm confusion: HS256 with the issuer's public key as the HMAC secret.
    let confused = sign(
        &EncodingKey::from_secret(&idp.rsa_public_pem),
        Algorithm::HS256,
        "rsa-1",
        &claims("mallory", &["tool-users"]),
    );
    let raised = tampered(&alice, &claims("alice", &["tool-users", "platform-admins"]));
    let cases = [
        ("expired", expired, "expired (exp)"),
        ("not yet valid", not_yet, "not valid yet (nbf)"),
        (
            "wrong issuer",
            wrong_issuer,
            "\"https://evil.example.com\" is not configured",
        ),
        (
            "wrong audience",
            wrong_audience,
            "not issued for this server",
        ),
        (
            "another resource",
            other_resource,
            "not issued for this server",
        ),
        (
            "unknown kid",
            unknown_kid.clone(),
            "no key \"rsa-9\" in the issuer's key set",
        ),
        ("alg none", none, "never none"),
        (
            "HS256 with the public key",
            confused,
            "algorithm HS256 is not accepted",
        ),
        ("tampered payload", raised, "the signature does not match"),
        ("not a JWT", "not-a-token".to_owned(), "not a JWT"),
    ];
    for (what, token, why) in &cases {
        let (head_status, head, body) = s.request(
            "POST",
            "/v1/tools/echo/invoke",
            Some(token),
            br#"{"message":"hi"}"#,
        );
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(head_status, 401, "{what}: {body}");
        assert_eq!(body["error"]["code"], "unauthenticated", "{what}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(why), "{what}: {message}");
        assert!(head.contains("www-authenticate: bearer"), "{what}: {head}");
    }
    // Nothing ran; each refusal is a security event (and none logs the token).
    assert_eq!(s.count(&f.auditor, "execution"), executions);
    let server_log = log(&f);
    assert_eq!(
        server_log.matches("unauthenticated request").count() - refusals_before,
        cases.len(),
        "{server_log}"
    );
    assert!(server_log.contains("cordon::security"));
    for (_, token, _) in &cases {
        if let Some(signature) = token.rsplit('.').next().filter(|s| s.len() > 20) {
            assert!(!server_log.contains(signature), "a token reached the log");
        }
    }
    // The unknown kid made one fetch of the keys, and a second one within the minute none.
    assert_eq!(idp.fetches(), fetched_at_start + 1);
    let (status, _) = invoke(&s, &unknown_kid);
    assert_eq!(status, 401);
    assert_eq!(idp.fetches(), fetched_at_start + 1);

    // 403: a valid token whose groups map to no role.
    let outsider = sign(
        &idp.rsa,
        Algorithm::RS256,
        "rsa-1",
        &claims("eve", &["marketing"]),
    );
    let (status, body) = invoke(&s, &outsider);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("no_role")),
        "{body}"
    );
    assert!(log(&f).contains("token without a role refused"));
    assert_eq!(s.count(&f.auditor, "execution"), executions);
}

#[test]
fn a_rotated_key_is_found_with_one_refresh() {
    let idp = Idp::start("rotation");
    let (_f, s) = server("identity-rotation", &idp, "");
    // The issuer publishes a new key (the Ed25519 one under a new kid) after cordon cached
    // the old set: the first token naming it makes cordon fetch the set again, and it passes.
    let jwks = idp.dir.join("jwks.json");
    let mut set: Value = serde_json::from_str(&std::fs::read_to_string(&jwks).unwrap()).unwrap();
    let mut rotated = set["keys"][1].clone();
    rotated["kid"] = json!("ed-2");
    set["keys"].as_array_mut().unwrap().push(rotated);
    std::fs::write(&jwks, set.to_string()).unwrap();
    let before = idp.fetches();
    let token = sign(
        &idp.ed,
        Algorithm::EdDSA,
        "ed-2",
        &claims("alice", &["tool-users"]),
    );
    let (status, body) = invoke(&s, &token);
    assert_eq!(status, 200, "{body}");
    assert_eq!(idp.fetches(), before + 1);
    // Known now: no more fetches.
    assert_eq!(invoke(&s, &token).0, 200);
    assert_eq!(idp.fetches(), before + 1);
}

#[test]
fn subjects_and_groups_in_a_policy_decide_who_may_call_a_tool() {
    let idp = Idp::start("access");
    let (f, s) = server("identity-access", &idp, "");
    let set = |policy: &str| {
        let (status, body) = s.json(
            "PUT",
            "/v1/tools/word-count/policy",
            Some(&f.admin),
            policy.as_bytes(),
        );
        assert_eq!(status, 200, "{body}");
    };
    let call = |token: &str| {
        s.json(
            "POST",
            "/v1/tools/word-count/invoke",
            Some(token),
            br#"{"text":"one two"}"#,
        )
        .0
    };
    let alice = sign(
        &idp.rsa,
        Algorithm::RS256,
        "rsa-1",
        &claims("alice", &["tool-users", "finance"]),
    );
    let bob = sign(
        &idp.rsa,
        Algorithm::RS256,
        "rsa-1",
        &claims("bob", &["tool-users"]),
    );
    set(&format!("[access]\nsubjects = [\"{ISS}#alice\"]\n"));
    assert_eq!(
        (call(&alice), call(&bob), call(&f.invoker)),
        (200, 403, 403)
    );
    // Subjects and keys: either list admits its own.
    set(&format!(
        "[access]\nsubjects = [\"{ISS}#bob\"]\nkeys = [\"inv\"]\n"
    ));
    assert_eq!(
        (call(&alice), call(&bob), call(&f.invoker)),
        (403, 200, 200)
    );
    // A group the token must carry (an API key carries none), by name or of one issuer.
    set(&format!("[access]\ngroups = [\"{ISS}#finance\"]\n"));
    assert_eq!((call(&alice), call(&bob)), (200, 403));
    set("[access]\ngroups = [\"https://other.example.com#finance\"]\n");
    assert_eq!(call(&alice), 403);
    set("[access]\ngroups = [\"finance\"]\n");
    assert_eq!(
        (call(&alice), call(&bob), call(&f.invoker)),
        (200, 403, 403)
    );
    // MCP lists the tool only to those who may call it.
    let listed = |token: &str| {
        let report = crate::mcp::client(&json!({
            "transport": "http",
            "url": format!("http://{}/mcp", s.addr),
            "api_key": token,
            "calls": [],
        }));
        report["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "word-count")
    };
    assert!(listed(&alice));
    assert!(!listed(&bob));
    // A subject without its issuer (it would admit that subject from every issuer) is refused
    // with its key path and the form to write.
    for bad in ["alice", "#alice", "https://id.cordon.test#"] {
        let (status, body) = s.json(
            "PUT",
            "/v1/tools/word-count/policy",
            Some(&f.admin),
            format!("[access]\nsubjects = [\"{bad}\"]\n").as_bytes(),
        );
        assert_eq!(status, 422, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("access.subjects[0]") && message.contains("write issuer#subject"),
            "{message}"
        );
    }
}

#[test]
fn mcp_clients_find_where_to_get_a_token_and_call_tools_with_one() {
    let idp = Idp::start("mcp");
    let (f, s) = server("identity-mcp", &idp, "");
    // The metadata document, at both well-known paths, public.
    let resource = format!("http://{}/mcp", s.addr);
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let (status, doc) = s.json("GET", path, None, b"");
        assert_eq!(status, 200, "{doc}");
        assert_eq!(doc["resource"], resource);
        assert_eq!(doc["authorization_servers"], json!([ISS]));
        assert_eq!(doc["scopes_supported"], json!(["cordon"]));
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    }
    // Every 401 from /mcp names it.
    let metadata = format!("http://{}/.well-known/oauth-protected-resource/mcp", s.addr);
    let alice = sign(
        &idp.rsa,
        Algorithm::RS256,
        "rsa-1",
        &claims("alice", &["tool-users"]),
    );
    let report = crate::mcp::client(&json!({
        "transport": "http",
        "url": resource,
        "api_key": alice,
        "calls": [{"name": "echo", "arguments": {"message": "from a token"}}],
        "probe_unauthenticated": true,
    }));
    let unauth = &report["unauthenticated"];
    assert_eq!(unauth["status"], 401, "{unauth}");
    assert_eq!(
        unauth["www_authenticate"],
        format!("Bearer realm=\"cordon\", resource_metadata=\"{metadata}\"")
    );
    // With the token, the SDK lists and calls tools; the record names the subject.
    let names: Vec<&str> = report["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"echo"), "{report}");
    let call = &report["calls"][0];
    assert_eq!(call["ok"], true, "{call}");
    assert_eq!(call["isError"], false, "{call}");
    assert_eq!(call["structuredContent"]["message"], "from a token");
    let (_, page) = s.json("GET", "/v1/executions?tool=echo", Some(&f.auditor), b"");
    let record = &page["executions"][0];
    assert_eq!(
        (record["transport"].as_str(), record["caller"].as_str()),
        (Some("mcp"), Some(format!("{ISS}#alice").as_str()))
    );
    // A token for another resource is refused at /mcp too, with the challenge.
    let mut c = claims("alice", &["tool-users"]);
    c["aud"] = json!("https://other.example.com/mcp");
    let foreign = sign(&idp.rsa, Algorithm::RS256, "rsa-1", &c);
    let (status, head, _) = s.request(
        "POST",
        "/mcp",
        Some(&foreign),
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
    );
    assert_eq!(status, 401);
    assert!(
        head.contains(&format!("resource_metadata=\"{metadata}\"")),
        "{head}"
    );
}

#[test]
fn a_configured_resource_is_what_the_metadata_and_challenges_name() {
    let idp = Idp::start("resource");
    let f = fixture("identity-resource");
    let config = idp.config("");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "[auth]\n",
        "[auth]\nresource = \"https://cordon.example.com/mcp\"\n",
    );
    std::fs::write(&config, text).unwrap();
    let s = Server::start_with(&f.data, &["--config", config.to_str().unwrap()]);
    let (_, doc) = s.json(
        "GET",
        "/.well-known/oauth-protected-resource/mcp",
        None,
        b"",
    );
    assert_eq!(doc["resource"], "https://cordon.example.com/mcp");
    let (status, head, _) = s.request("GET", "/v1/tools", None, b"");
    assert_eq!(status, 401);
    assert!(
        head.contains("resource_metadata=\"https://cordon.example.com/.well-known/oauth-protected-resource/mcp\""),
        "{head}"
    );
    // An issuer configured with an HMAC algorithm, or a resource that is not a URL: refused at
    // start, saying which key.
    let bad = idp.dir.join("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("role_claim", "algorithms = [\"HS256\"]\nrole_claim"),
    )
    .unwrap();
    let out = crate::harness::cordon()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data",
            f.data.to_str().unwrap(),
            "--config",
            bad.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("public-key signatures only"), "{err}");
}

#[test]
fn a_flood_of_bad_credentials_from_one_address_never_locks_out_a_valid_one() {
    use std::time::{Duration, Instant};
    let idp = Idp::start("flood");
    // Four failures a minute per address (one more every 15 s: the whole test fits in that).
    let (f, s) = server_with(
        "identity-flood",
        &idp,
        "",
        &["--auth-failures-per-minute", "4"],
    );
    let alice = sign(
        &idp.rsa,
        Algorithm::RS256,
        "rsa-1",
        &claims("alice", &["tool-users"]),
    );
    let raised = tampered(&alice, &claims("alice", &["platform-admins"]));
    let refusals_before = log(&f).matches("unauthenticated request").count();
    let counted_before = unauthenticated_count(&s, &f.admin);
    let executions = s.count(&f.auditor, "execution");
    // Forty guesses from 127.0.0.1 on eight connections at once: made-up keys, tampered and
    // malformed tokens in turn. Meanwhile, a valid key and a valid token from the same address.
    let guess = |i: usize| {
        let bearer = match i % 4 {
            0 => format!("cordon_{i:012x}_guess"),
            1 => raised.clone(),
            2 => format!("not.a.jwt{i}"),
            _ => format!("cordon_short_{i}"),
        };
        let started = Instant::now();
        let (status, _, body) = s.request(
            "POST",
            "/v1/tools/echo/invoke",
            Some(&bearer),
            br#"{"message":"hi"}"#,
        );
        let body: Value = serde_json::from_slice(&body).unwrap();
        (status, body["error"]["code"].clone(), started.elapsed())
    };
    let (flood, valid) = std::thread::scope(|scope| {
        let flooders: Vec<_> = (0..8)
            .map(|t| scope.spawn(move || (0..5).map(|i| guess(t * 5 + i)).collect::<Vec<_>>()))
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        let valid = (
            s.json("GET", "/v1/tools", Some(&f.admin), b"").0,
            invoke(&s, &alice),
        );
        let flood: Vec<_> = flooders
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        (flood, valid)
    });
    // The valid key and token were served.
    assert_eq!(valid.0, 200);
    let (status, answer) = valid.1;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["output"]["message"], "hi");
    // Every guess was refused with its reason; all but the budget's four were held back.
    for (status, code, _) in &flood {
        assert_eq!((*status, code.as_str()), (401, Some("unauthenticated")));
    }
    let held = flood
        .iter()
        .filter(|(_, _, took)| *took >= Duration::from_millis(900))
        .count();
    assert!(held >= 36, "{held} of 40 held back: {flood:?}");
    // A request without credentials is 401 (not a guess), and the valid token still passes.
    let (status, _, _) = s.request("GET", "/v1/tools", None, b"");
    assert_eq!(status, 401);
    let (status, _) = invoke(&s, &alice);
    assert_eq!(status, 200);

    // The flood ran nothing. Each of its 40 requests is counted (as is the request without
    // credentials); in the log, the four within the budget and then one line a second, each
    // saying how many were not written, so a flood cannot flood the log.
    assert_eq!(s.count(&f.auditor, "execution"), executions + 2);
    assert_eq!(unauthenticated_count(&s, &f.admin) - counted_before, 40 + 1);
    let server_log = log(&f);
    let lines = server_log.matches("unauthenticated request").count() - refusals_before;
    assert!((4 + 1 + 1..=4 + 1 + 12).contains(&lines), "{lines} lines");
    assert!(server_log.contains("answered late; `unlogged` more"));
    assert!(server_log.contains("failed-authentication budget spent"));
}

/// `cordon_rejected_requests_total{reason="unauthenticated"}` from `/metrics`.
fn unauthenticated_count(s: &Server, admin: &str) -> u64 {
    let (status, _, body) = s.request("GET", "/metrics", Some(admin), b"");
    assert_eq!(status, 200);
    String::from_utf8_lossy(&body)
        .lines()
        .find(|l| l.starts_with("cordon_rejected_requests_total{reason=\"unauthenticated\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}
