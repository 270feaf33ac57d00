//! `/v1/openapi.json` describes what the server really answers: every route is in it, and real
//! responses validate against the schemas it declares for them.

use crate::harness::{Server, fixture};
use serde_json::{Value, json};

/// Validates `instance` against `#/components/schemas/{name}` of `doc`.
fn conforms(doc: &Value, name: &str, instance: &Value) {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/components/schemas/{name}"),
        "components": doc["components"],
    });
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:?}\n{instance}");
}

/// The schema name a documented response refers to.
fn response_schema(doc: &Value, path: &str, method: &str, status: u16) -> String {
    let reference =
        doc["paths"][path][method]["responses"][status.to_string()]["content"]["application/json"]
            ["schema"]["$ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} {status} is not documented"));
    reference.rsplit('/').next().unwrap().to_owned()
}

#[test]
fn the_openapi_document_matches_what_is_served() {
    let f = fixture("srv-openapi");
    let s = Server::start(&f.data);
    // Public, like /healthz: it describes the API, it holds no data.
    let (status, doc) = s.json("GET", "/v1/openapi.json", None, b"");
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"]["scheme"],
        "bearer"
    );
    let mut documented: Vec<String> = Vec::new();
    for (path, methods) in doc["paths"].as_object().unwrap() {
        for method in methods.as_object().unwrap().keys() {
            documented.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    documented.sort();
    assert_eq!(
        documented,
        [
            "DELETE /v1/decisions",
            "DELETE /v1/executions/{id}",
            "DELETE /v1/keys/{id}",
            "DELETE /v1/suspensions",
            "DELETE /v1/tools/{name}",
            "GET /.well-known/oauth-protected-resource",
            "GET /.well-known/oauth-protected-resource/mcp",
            "GET /v1/alerts",
            "GET /v1/approvals",
            "GET /v1/approvals/{id}",
            "GET /v1/audit/checkpoint",
            "GET /v1/audit/events",
            "GET /v1/audit/key",
            "GET /v1/audit/verify",
            "GET /v1/decisions",
            "GET /v1/decisions/{hash}",
            "GET /v1/executions",
            "GET /v1/executions/{id}",
            "GET /v1/executions/{id}/events",
            "GET /v1/executions/{id}/receipt",
            "GET /v1/keys",
            "GET /v1/quotas/{caller}",
            "GET /v1/stats",
            "GET /v1/status",
            "GET /v1/suspensions",
            "GET /v1/tools",
            "GET /v1/tools/{name}",
            "GET /v1/tools/{name}/policy",
            "GET /v1/tools/{name}/policy/{hash}",
            "GET /v1/whoami",
            "POST /v1/alerts/test",
            "POST /v1/approvals/{id}",
            "POST /v1/keys",
            "POST /v1/suspensions",
            "POST /v1/tools",
            "POST /v1/tools/{name}/invoke",
            "POST /v1/tools/{name}/quarantine",
            "POST /v1/tools/{name}/release",
            "POST /v1/tools/{name}/resume",
            "PUT /v1/decisions",
            "PUT /v1/tools/{name}/policy",
        ]
    );

    // Each real answer conforms to the schema documented for its path, method and status.
    let check = |method: &str, path: &str, template: &str, key: &str, body: &[u8], want: u16| {
        let (status, value) = s.json(method, path, Some(key), body);
        assert_eq!(status, want, "{method} {path}: {value}");
        let name = response_schema(&doc, template, &method.to_lowercase(), status);
        conforms(&doc, &name, &value);
        value
    };
    let wasm = std::fs::read(f.signed.join("echo.wasm")).unwrap();
    check("POST", "/v1/tools", "/v1/tools", &f.admin, &wasm, 201);
    check("POST", "/v1/tools", "/v1/tools", &f.admin, &wasm, 409);
    check("GET", "/v1/tools", "/v1/tools", &f.invoker, b"", 200);
    check(
        "GET",
        "/v1/tools/echo",
        "/v1/tools/{name}",
        &f.invoker,
        b"",
        200,
    );
    check(
        "GET",
        "/v1/tools/nope",
        "/v1/tools/{name}",
        &f.invoker,
        b"",
        404,
    );
    let invoke = "/v1/tools/{name}/invoke";
    let ok = check(
        "POST",
        "/v1/tools/echo/invoke",
        invoke,
        &f.invoker,
        br#"{"message":"hi"}"#,
        200,
    );
    check(
        "POST",
        "/v1/tools/echo/invoke",
        invoke,
        &f.invoker,
        b"[",
        422,
    );
    check(
        "POST",
        "/v1/tools/echo/invoke",
        invoke,
        &f.auditor,
        b"{}",
        403,
    );
    let id = ok["execution_id"].as_str().unwrap();
    check(
        "GET",
        &format!("/v1/executions/{id}"),
        "/v1/executions/{id}",
        &f.auditor,
        b"",
        200,
    );
    // A call started asynchronously: its 202, its view for its caller, a cancel of it ended.
    let (status, _, body) = s.request_with(
        "POST",
        "/v1/tools/echo/invoke",
        Some(&f.invoker),
        &[("Prefer", "respond-async")],
        b"{\"a\":1}",
    );
    assert_eq!(status, 202);
    let started: Value = serde_json::from_slice(&body).unwrap();
    conforms(&doc, &response_schema(&doc, invoke, "post", 202), &started);
    let task = started["execution_id"].as_str().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let view = check(
        "GET",
        &format!("/v1/executions/{task}"),
        "/v1/executions/{id}",
        &f.invoker,
        b"",
        200,
    );
    assert_eq!(view["status"], "finished", "{view}");
    check(
        "DELETE",
        &format!("/v1/executions/{task}"),
        "/v1/executions/{id}",
        &f.invoker,
        b"",
        409,
    );
    check(
        "DELETE",
        "/v1/executions/ex_0",
        "/v1/executions/{id}",
        &f.invoker,
        b"",
        404,
    );
    let page = check(
        "GET",
        "/v1/executions",
        "/v1/executions",
        &f.auditor,
        b"",
        200,
    );
    assert_eq!(page["executions"].as_array().unwrap().len(), 3);
    // A receipt of a stored record, for an auditor (once a checkpoint covers it); none for
    // someone else's key.
    let receipt_path = format!("/v1/executions/{id}/receipt");
    let (mut status, mut receipt) = s.json("GET", &receipt_path, Some(&f.auditor), b"");
    for _ in 0..60 {
        if status != 409 {
            break;
        }
        conforms(
            &doc,
            &response_schema(&doc, "/v1/executions/{id}/receipt", "get", 409),
            &receipt,
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
        (status, receipt) = s.json("GET", &receipt_path, Some(&f.auditor), b"");
    }
    assert_eq!(status, 200, "{receipt}");
    conforms(
        &doc,
        &response_schema(&doc, "/v1/executions/{id}/receipt", "get", 200),
        &receipt,
    );
    assert_eq!(receipt["batch"]["statement"]["first_seq"], receipt["seq"]);
    check(
        "GET",
        &receipt_path,
        "/v1/executions/{id}/receipt",
        &f.publisher,
        b"",
        404,
    );
    // What the console reads: who the key is, the window's figures, this node.
    let me = check("GET", "/v1/whoami", "/v1/whoami", &f.invoker, b"", 200);
    assert_eq!(me["may"], json!(["list_tools", "invoke"]), "{me}");
    let stats = check(
        "GET",
        "/v1/stats?window_secs=600",
        "/v1/stats",
        &f.auditor,
        b"",
        200,
    );
    assert_eq!(stats["tools"][0]["tool"], "echo", "{stats}");
    assert_eq!(stats["tools"][0]["calls"], 3, "{stats}");
    assert_eq!(stats["complete"], true);
    check(
        "GET",
        "/v1/stats?window_secs=5",
        "/v1/stats",
        &f.auditor,
        b"",
        400,
    );
    check("GET", "/v1/stats", "/v1/stats", &f.invoker, b"", 403);
    let node = check("GET", "/v1/status", "/v1/status", &f.auditor, b"", 200);
    assert_eq!(node["store"], "embedded", "{node}");
    assert_eq!(node["ready"], true, "{node}");
    assert_eq!(node["nodes"][0]["node"], node["node"], "{node}");
    assert_eq!(node["nodes"][0]["stale"], false, "{node}");
    assert_eq!(
        node["nodes"][0]["report"]["max_in_flight"],
        node["max_in_flight"]
    );
    let policy = check(
        "GET",
        "/v1/tools/echo/policy",
        "/v1/tools/{name}/policy",
        &f.admin,
        b"",
        200,
    );
    let hash = policy["policy_hash"].as_str().unwrap();
    check(
        "GET",
        &format!("/v1/tools/echo/policy/{hash}"),
        "/v1/tools/{name}/policy/{hash}",
        &f.auditor,
        b"",
        200,
    );
    check(
        "GET",
        &format!("/v1/tools/echo/policy/{}", "0".repeat(64)),
        "/v1/tools/{name}/policy/{hash}",
        &f.auditor,
        b"",
        404,
    );
    check(
        "GET",
        "/v1/audit/verify",
        "/v1/audit/verify",
        &f.auditor,
        b"",
        200,
    );
    let events = check(
        "GET",
        "/v1/audit/events?after=0",
        "/v1/audit/events",
        &f.auditor,
        b"",
        200,
    );
    // Executions and administrative events, both shapes checked.
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"execution") && kinds.contains(&"tool.publish"),
        "{kinds:?}"
    );
    check(
        "GET",
        "/v1/audit/events?kind=nope",
        "/v1/audit/events",
        &f.auditor,
        b"",
        400,
    );
    check(
        "GET",
        "/v1/audit/key",
        "/v1/audit/key",
        &f.invoker,
        b"",
        200,
    );

    // Keys and policies.
    let made = check(
        "POST",
        "/v1/keys",
        "/v1/keys",
        &f.admin,
        br#"{"name":"ci","role":"invoker","description":"for CI"}"#,
        201,
    );
    check(
        "POST",
        "/v1/keys",
        "/v1/keys",
        &f.admin,
        br#"{"name":"ci","role":"invoker"}"#,
        409,
    );
    check(
        "POST",
        "/v1/keys",
        "/v1/keys",
        &f.admin,
        br#"{"name":"x","role":"root"}"#,
        400,
    );
    check("GET", "/v1/keys", "/v1/keys", &f.admin, b"", 200);
    check("GET", "/v1/keys", "/v1/keys", &f.invoker, b"", 403);
    let id = made["id"].as_str().unwrap();
    assert_eq!(
        s.request("DELETE", &format!("/v1/keys/{id}"), Some(&f.admin), b"")
            .0,
        204
    );
    check(
        "DELETE",
        &format!("/v1/keys/{id}"),
        "/v1/keys/{id}",
        &f.admin,
        b"",
        404,
    );
    let policy = "/v1/tools/{name}/policy";
    check(
        "PUT",
        "/v1/tools/echo/policy",
        policy,
        &f.admin,
        b"[limits]\nfuel = 9_000_000\n",
        200,
    );
    check(
        "PUT",
        "/v1/tools/echo/policy",
        policy,
        &f.admin,
        b"[limits\n",
        422,
    );
    check("GET", "/v1/tools/echo/policy", policy, &f.auditor, b"", 200);

    // Quotas and the protected resource metadata.
    let quotas = "/v1/quotas/{caller}";
    check("GET", "/v1/quotas/me", quotas, &f.invoker, b"", 200);
    check("GET", "/v1/quotas/inv", quotas, &f.auditor, b"", 200);
    check("GET", "/v1/quotas/aud", quotas, &f.invoker, b"", 403);
    check("GET", "/v1/quotas/nobody", quotas, &f.auditor, b"", 404);
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        check("GET", path, path, &f.invoker, b"", 200);
    }

    // A mismatch is caught: the check is not vacuous.
    let schema = response_schema(&doc, invoke, "post", 200);
    let broken = json!({ "execution_id": 7, "outcome": "fine" });
    let schema_doc = json!({
        "$ref": format!("#/components/schemas/{schema}"),
        "components": doc["components"],
    });
    assert!(!jsonschema::is_valid(&schema_doc, &broken));
}
