//! The web console at `/ui`, in a real browser: headless Chromium driven through WebDriver
//! (selenium, `console.py`). An operator signs in with an API key and walks every page: sees the
//! published tools, invokes one from the form built from its schema (its receipt checked in the
//! page), watches a call made elsewhere appear live, quarantines a tool and sees the next call
//! refused, creates and revokes a key; a tool whose description, schema, output and error are
//! markup shows them as text and none of it runs. Signing in through an identity provider goes
//! through the authorization code flow with PKCE (`login_server.py`). Screenshots of each page
//! are saved under `target/test-output/console/`.

use crate::harness::{Fixture, Server, fixture, venv_with};
use crate::idp::{ISS, Idp};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const SELENIUM: &str = "selenium==4.27.1";
const PYJWT: &str = "pyjwt[crypto]==2.10.1";

fn python() -> PathBuf {
    let has = |module: &'static str| {
        move |venv: &Path| {
            Command::new(venv.join("bin/python"))
                .args(["-c", &format!("import {module}")])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        }
    };
    venv_with(SELENIUM, has("selenium"));
    venv_with(PYJWT, has("jwt, cryptography")).join("bin/python")
}

/// Where the screenshots of a walk go.
fn shots(name: &str) -> PathBuf {
    let dir = Path::new(cordon_test_artifacts::ROOT)
        .join("target/test-output/console")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn drive(plan: &Value) -> Value {
    crate::mcp::script_with(&python(), "console.py", plan)
}

fn publish_all(f: &Fixture, s: &Server) {
    for tool in ["echo", "word_count", "xss"] {
        let (status, body) = s.publish(&f.admin, &f.signed.join(format!("{tool}.wasm")));
        assert_eq!(status, 201, "{body}");
    }
}

#[test]
fn an_operator_walks_every_page_with_an_api_key() {
    let f = fixture("console-keys");
    // Checkpoints every second: a stored record's receipt is signed once one covers it. Spans
    // are exported, and the execution page links each call's trace as configured.
    let receiver = crate::traces::Receiver::start(&f.data);
    let s = receiver.serve(
        &f.data,
        &[
            "--checkpoint-secs",
            "1",
            "--trace-link",
            "https://traces.example/trace/{trace_id}?from=cordon",
        ],
    );
    publish_all(&f, &s);
    // A policy change, for the history and its difference.
    let (status, body) = s.json(
        "PUT",
        "/v1/tools/word-count/policy",
        Some(&f.admin),
        b"[limits]\ntimeout_ms = 1500\n",
    );
    assert_eq!(status, 200, "{body}");
    // A call before the walk, for the overview.
    let (status, _) = s.json(
        "POST",
        "/v1/tools/echo/invoke",
        Some(&f.invoker),
        br#"{"warm": 1}"#,
    );
    assert_eq!(status, 200);

    // The page's own headers: its scripts and styles only, never framed, no HTML sinks.
    let (status, head, _) = s.request("GET", "/ui/", None, b"");
    assert_eq!(status, 200, "{head}");
    for part in [
        "script-src 'self';",
        "style-src 'self';",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
    ] {
        assert!(head.contains(part), "{part} missing: {head}");
    }
    assert!(!head.contains("unsafe-inline"), "{head}");
    assert!(!head.contains("set-cookie"), "{head}");

    let dir = shots("keys");
    let r = drive(&json!({
        "mode": "keys",
        "url": format!("http://{}", s.addr),
        "shots": dir,
        "admin_key": f.admin,
        "invoker_key": f.invoker,
    }));

    // Sign-in: a wrong key is refused and nothing kept; the right one signs in, no cookie.
    assert!(
        r["wrong_key"].as_str().unwrap().contains("not valid"),
        "{r}"
    );
    assert_eq!(r["kept_after_wrong_key"], 0);
    // A demo user is told where the demo put its key, an operator how to make one.
    let help = r["key_help"].as_str().unwrap();
    assert!(help.contains(".cordon-demo/admin.key"), "{help}");
    assert!(help.contains("cordon keys create"), "{help}");
    assert_eq!(
        r["nav_admin"],
        json!([
            "overview",
            "tools",
            "executions",
            "audit",
            "approvals",
            "alerts",
            "keys"
        ])
    );
    assert_eq!(r["cookies"], json!([]));
    // The keyboard: Enter signs in, the first Tab is the skip link, which lands on the content.
    assert_eq!(r["first_tab"], "Skip to content", "{r}");
    assert_eq!(r["after_skip"], "main", "{r}");
    // The overview settles without the page jumping while its figures arrive (0.1 is the
    // browser makers' bound for a good page).
    let shift = r["layout_shift"].as_f64().unwrap();
    println!("overview cumulative layout shift: {shift:.4}");
    assert!(shift < 0.1, "the overview shifts {shift} while loading");
    // Overview: the calls so far, per tool, and the chain intact.
    assert_eq!(r["overview_chain"], "intact", "{r}");
    let nodes = r["overview_nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{r}");
    assert!(nodes[0].as_str().unwrap().contains("ready"), "{r}");
    assert!(
        r["overview_tools"]
            .as_array()
            .unwrap()
            .contains(&json!("echo")),
        "{r}"
    );
    // Tools listed; the hostile description is shown as its text.
    for name in ["echo", "word-count", "xss-probe"] {
        assert!(
            r["tools_listed"].as_array().unwrap().contains(&json!(name)),
            "{r}"
        );
    }
    assert!(
        r["xss_description"]
            .as_str()
            .unwrap()
            .starts_with("<img src=x onerror="),
        "{r}"
    );
    // Invoked from the form: the answer, and the receipt checked in the page.
    assert_eq!(r["invoke_outcome"], "ok", "{r}");
    assert_eq!(
        r["invoke_output"],
        json!({"words": 4, "lines": 2, "chars": 18})
    );
    assert_eq!(r["receipt_verified"], "yes", "{r}");
    assert_eq!(r["receipt_checks"].as_array().unwrap().len(), 5, "{r}");
    let id = r["invoke_id"].as_str().unwrap();
    let (status, record) = s.json(
        "GET",
        &format!("/v1/executions/{id}?record=true"),
        Some(&f.auditor),
        b"",
    );
    assert_eq!(status, 200);
    assert_eq!(record["outcome"], "ok");
    assert_eq!(record["caller_name"], "admin", "{record}");
    // The execution page links the call's trace where the operator's tracing shows it, and
    // the collector has that trace.
    let trace_id = record["trace_id"]
        .as_str()
        .expect("a trace id in the record");
    assert_eq!(
        r["trace_link"],
        format!("https://traces.example/trace/{trace_id}?from=cordon"),
        "{r}"
    );
    assert!(
        !receiver
            .trace(trace_id, "POST /v1/tools/{}/invoke")
            .is_empty()
    );
    // Only for a caller who reads the record.
    let (_, me) = s.json("GET", "/v1/whoami", Some(&f.invoker), b"");
    assert!(me.get("trace_link").is_none(), "{me}");
    let (_, me) = s.json("GET", "/v1/whoami", Some(&f.auditor), b"");
    assert_eq!(
        me["trace_link"],
        "https://traces.example/trace/{trace_id}?from=cordon"
    );
    // The policy and the change made to it, line by line.
    assert!(
        r["policy_text"]
            .as_str()
            .unwrap()
            .contains("timeout_ms = 1500")
    );
    assert!(
        r["policy_diff_added"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("timeout_ms = 1500")),
        "{r}"
    );
    // Live: the call made with another key appeared without a reload.
    assert_eq!(r["live_invoke_status"], 200);
    let live = r["live_seconds"]
        .as_f64()
        .expect("the live call never appeared");
    println!("a new call appeared in the executions page {live} s after it was made");
    // The execution's page: the chain hash recomputed, covered by a checkpoint, the receipt.
    assert_eq!(r["detail_checks"][0], "pass", "{r}");
    assert!(
        ["pass", "wait"].contains(&r["detail_checks"][1].as_str().unwrap()),
        "{r}"
    );
    assert_eq!(r["detail_receipt"], "yes");
    // A call the page did not make: a receipt signed when asked, checked the same way.
    assert_eq!(r["other_receipt"], "yes", "{r}");
    assert_eq!(
        r["other_receipt_checks"].as_array().unwrap().len(),
        5,
        "{r}"
    );
    // Markup from a tool and from a caller stays text: the schema title, the output, the
    // error (as answered and as recorded); no payload ran and no element was injected.
    assert!(
        r["xss_schema_label"].as_str().unwrap().contains("onerror"),
        "{r}"
    );
    assert!(
        r["xss_output"].as_str().unwrap().contains("<script>"),
        "{r}"
    );
    for field in ["xss_error", "xss_error_on_record"] {
        let text = r[field].as_str().unwrap();
        assert!(text.contains("<img src=x onerror="), "{field}: {r}");
        assert!(
            text.contains("<script>window.__xss='input'</script>"),
            "{field}: {r}"
        );
    }
    assert_eq!(r["xss_flag"], Value::Null, "a payload ran: {r}");
    assert_eq!(r["xss_flag_end"], Value::Null, "a payload ran: {r}");
    assert_eq!(r["xss_injected_nodes"], 0, "{r}");
    // Quarantined from the page: the banner with the reason as text, the next call refused, and
    // the API agrees.
    assert!(
        r["quarantine_banner"]
            .as_str()
            .unwrap()
            .contains("<b>ticket 42</b>"),
        "{r}"
    );
    assert!(
        r["quarantined_invoke"]
            .as_str()
            .unwrap()
            .contains("quarantined"),
        "{r}"
    );
    let (status, body) = s.json("POST", "/v1/tools/echo/invoke", Some(&f.invoker), b"{}");
    assert!(status >= 400, "{body}");
    assert_eq!(body["error"]["code"], "quarantined", "{body}");
    // Audit: the events, the chain intact, an export of what was shown.
    assert_eq!(r["audit_chain"], "intact");
    assert!(
        r["audit_kinds"]
            .as_array()
            .unwrap()
            .contains(&json!("tool.quarantine")),
        "{r}"
    );
    assert!(r["export_events"].as_u64().unwrap() > 5, "{r}");
    // Keys: made with its secret shown once, working, then revoked and refused.
    let secret = r["new_secret"].as_str().unwrap();
    assert!(secret.starts_with("cordon_"), "{r}");
    assert_eq!(r["new_key_state"], "active");
    assert_eq!(r["new_key_whoami"][0], 200, "{r}");
    assert_eq!(r["new_key_whoami"][1]["roles"], json!(["invoker"]));
    assert_eq!(r["revoke_confirm_label"], "Confirm revoke");
    assert_eq!(r["revoked_state"], "revoked");
    assert_eq!(r["revoked_whoami"], 401);
    let (status, _, _) = s.request("GET", "/v1/whoami", Some(secret), b"");
    assert_eq!(status, 401);
    // Every change made from the page is one audit event with the operator as its actor.
    let (_, events) = s.json("GET", "/v1/audit/events?limit=200", Some(&f.auditor), b"");
    let by_admin = |kind: &str| {
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == kind && e["actor"]["name"] == "admin")
            .count()
    };
    assert_eq!(by_admin("tool.quarantine"), 1);
    assert_eq!(by_admin("key.create"), 1);
    assert_eq!(by_admin("key.revoke"), 1);
    assert_eq!(by_admin("approval.grant"), 1);
    assert_eq!(by_admin("caller.suspend"), 1);
    assert_eq!(by_admin("caller.resume"), 1);
    // A phone's width: no page wider than the screen.
    assert_eq!(r["phone_overflow"], false, "{r}");
    // Sign-out forgets the credential.
    assert_eq!(r["after_sign_out_storage"], 0);
    // A held call waits on the Approvals page with its arguments and reason; approved there,
    // it ran for its caller.
    assert_eq!(r["approvals_apply"], 200, "{r}");
    assert_eq!(
        r["approvals_held"],
        json!([202, "awaiting_approval"]),
        "{r}"
    );
    let row = r["approvals_row"].as_str().unwrap();
    assert!(
        row.contains("hold this") && row.contains("a person looks first") && row.contains("inv"),
        "{row}"
    );
    assert_eq!(r["approvals_ran"]["outcome"], "ok", "{r}");
    assert_eq!(r["approvals_ran"]["result"]["output"]["words"], 2, "{r}");
    assert_eq!(r["approvals_remove"], 200, "{r}");
    // The Alerts page: the test alert sent from it, the suspension listed and lifted there.
    assert_eq!(r["alerts_suspend"], 201, "{r}");
    let row = r["alerts_row"].as_str().unwrap();
    assert!(
        row.contains("info") && row.contains("a test alert, raised by admin"),
        "{row}"
    );
    let row = r["alerts_suspended_row"].as_str().unwrap();
    assert!(
        row.contains("0123456789ab") && row.contains("a console walk"),
        "{row}"
    );
    assert_eq!(r["alerts_lifted"]["suspensions"], json!([]), "{r}");
    // An invoker sees the tools (and the calls it might approve) and nothing it may not read.
    assert_eq!(r["nav_invoker"], json!(["tools", "approvals"]));
    assert!(
        r["invoker_keys_page"]
            .as_str()
            .unwrap()
            .contains("may not see"),
        "{r}"
    );
    assert_eq!(r["invoker_sees_policy"], false);
    assert_eq!(r["invoker_sees_quarantine"], false);
    // No script error, no refused resource.
    assert_eq!(r["console"], json!([]), "{r}");
    for page in [
        "signin",
        "overview",
        "tools",
        "tool",
        "executions",
        "execution",
        "xss",
        "quarantined",
        "audit",
        "approvals",
        "alerts",
        "keys",
        "executions-phone",
        "overview-phone",
    ] {
        let png = dir.join(format!("{page}.png"));
        assert!(
            std::fs::metadata(&png)
                .map(|m| m.len() > 5000)
                .unwrap_or(false),
            "{}",
            png.display()
        );
    }
}

/// `login_server.py`: the identity provider's sign-in endpoints.
struct Login {
    child: Child,
    config: PathBuf,
    port: u16,
}

impl Drop for Login {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Login {
    fn start(idp: &Idp) -> Login {
        let config = idp.dir.join("login.json");
        std::fs::write(&config, "{}").unwrap();
        let script = Path::new(cordon_test_artifacts::ROOT).join("tests/e2e/login_server.py");
        let mut child = Command::new(python())
            .arg(script)
            .arg(&config)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut port = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        Login {
            child,
            config,
            port: port.trim().parse().unwrap(),
        }
    }

    fn requests(&self, idp: &Idp) -> Vec<Value> {
        std::fs::read_to_string(idp.dir.join("requests.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

#[test]
fn an_operator_signs_in_through_the_identity_provider_with_pkce() {
    let idp = Idp::start("console-oidc");
    let login = Login::start(&idp);
    let config = idp.config("");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "role_claim = \"groups\"",
        &format!(
            "role_claim = \"groups\"\nclient_id = \"cordon-console\"\nauthorization_endpoint = \"http://127.0.0.1:{0}/authorize\"\ntoken_endpoint = \"http://127.0.0.1:{0}/token\"",
            login.port
        ),
    );
    std::fs::write(&config, text).unwrap();
    let f = fixture("console-oidc");
    let s = Server::start_with(&f.data, &["--config", config.to_str().unwrap()]);
    let origin = format!("http://{}", s.addr);
    std::fs::write(
        &login.config,
        json!({
            "dir": idp.dir, "issuer": ISS, "client_id": "cordon-console",
            "redirect_uri": format!("{origin}/ui/"), "audience": "cordon",
            "subject": "alice", "groups": ["platform-admins"], "origin": origin,
        })
        .to_string(),
    )
    .unwrap();
    // The page is told how to sign in, and may post to the token endpoint (and nowhere else).
    let (status, cfg) = s.json("GET", "/ui/config.json", None, b"");
    assert_eq!(status, 200);
    assert_eq!(cfg["providers"][0]["client_id"], "cordon-console", "{cfg}");
    let (_, head, _) = s.request("GET", "/ui/", None, b"");
    assert!(
        head.contains(&format!(
            "connect-src 'self' http://127.0.0.1:{};",
            login.port
        )),
        "{head}"
    );

    let r = drive(&json!({
        "mode": "oidc",
        "url": origin,
        "shots": shots("oidc"),
    }));
    let forged = r["forged_answer"].as_str().unwrap();
    assert!(forged.contains("not started from this tab"), "{r}");
    assert!(!forged.contains("helpdesk"), "{r}");
    assert!(
        !r["forged_address"].as_str().unwrap().contains("error="),
        "{r}"
    );
    assert_eq!(r["who"], "alice", "{r}");
    assert_eq!(r["roles"], "admin", "{r}");
    assert_eq!(r["nav"].as_array().unwrap().len(), 7, "{r}");
    assert!(
        r["keys_listed"]
            .as_array()
            .unwrap()
            .contains(&json!("admin")),
        "{r}"
    );
    // The code and state are gone from the address; the verifier from the tab.
    let after = r["address_after"].as_str().unwrap();
    assert!(
        !after.contains("code=") && !after.contains("state="),
        "{after}"
    );
    assert_eq!(r["pkce_left"], Value::Null);
    assert_eq!(r["cookies"], json!([]));
    assert_eq!(r["after_sign_out_storage"], 0);
    assert_eq!(r["console"], json!([]), "{r}");
    // The provider saw an S256 challenge, then the matching verifier, and refused nothing.
    let seen = login.requests(&idp);
    let authorize = seen.iter().find(|e| e["endpoint"] == "authorize").unwrap();
    assert_eq!(authorize["params"]["code_challenge_method"], "S256");
    assert_eq!(authorize["params"]["redirect_uri"], format!("{origin}/ui/"));
    let token = seen
        .iter()
        .find(|e| e["endpoint"] == "token")
        .expect("no token request");
    assert_eq!(token["refused"], json!([]), "{seen:?}");
    assert!(
        token["fields"]
            .as_array()
            .unwrap()
            .contains(&json!("code_verifier"))
    );
    assert!(
        seen.iter()
            .all(|e| e.get("refused").is_none_or(|r| r == &json!([]))),
        "{seen:?}"
    );
}

#[test]
fn the_console_can_be_turned_off() {
    let f = fixture("console-off");
    let s = Server::start_with(&f.data, &["--ui", "false"]);
    let (status, _, _) = s.request("GET", "/ui/", None, b"");
    assert_eq!(status, 404);
    let (status, _, _) = s.request("GET", "/ui/app.js", None, b"");
    assert_eq!(status, 404);
    // The API is unchanged.
    let (status, me) = s.json("GET", "/v1/whoami", Some(&f.auditor), b"");
    assert_eq!(status, 200);
    assert_eq!(me["roles"], json!(["auditor"]));
}

/// The console over HTTPS and HTTP/2 on cordon's own listener (issue 40): signed in, a call from
/// the form with its receipt checked in the page (WebCrypto needs a secure context), and the
/// live executions list (an event stream over HTTP/2), with no script error or refused
/// resource in the browser's log.
#[test]
fn the_console_works_over_https_and_http2() {
    let f = fixture("console-https");
    let pki = crate::tls::Pki::new(&f.data);
    let (_, spki) = pki.issue_pinned("cordon console over TLS");
    let args = pki.serve_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = Server::start_with(&f.data, &args);
    let base = format!("https://{}", s.addr);
    for tool in ["echo.wasm", "word_count.wasm"] {
        crate::tls::publish(&pki, &base, &f.publisher, &f.signed.join(tool));
    }
    let r = drive(&json!({
        "mode": "https",
        "url": base,
        "spki": spki,
        "ca_file": pki.ca(),
        "shots": shots("https"),
        "admin_key": f.admin,
        "invoker_key": f.invoker,
    }));
    assert_eq!(r["protocol"], "h2", "{r}");
    assert_eq!(r["secure_context"], true, "{r}");
    assert_eq!(r["who"], "admin", "{r}");
    assert_eq!(r["invoke_outcome"], "ok", "{r}");
    assert_eq!(r["invoke_output"]["words"], 4, "{r}");
    assert_eq!(r["receipt_verified"], "yes", "{r}");
    assert_eq!(r["live_invoke_status"], 200, "{r}");
    assert_eq!(r["live"], true, "{r}");
    assert_eq!(r["console"], json!([]), "{r}");
}
