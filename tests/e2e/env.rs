//! Environment and secrets: only granted variables exist, nothing is inherited, and secret
//! values never come back out of the sandbox.

use crate::common::{SANDBOX, tool};
use cordon_core::{Limits, Outcome, Policy, REDACTED};
use cordon_test_artifacts as guests;
use serde_json::json;
use std::path::Path;

const SECRET: &str = "tok-3f9a1c-very-secret";

fn grants() -> cordon_core::Grants {
    let policy = Policy::parse(
        "[env]\nGREETING = \"hello\"\nTOKEN = { secret = \"api-token\" }\n",
        Path::new("env.toml"),
        Path::new("/"),
    )
    .unwrap();
    policy
        .grants(
            Limits::default(),
            |name| (name == "api-token").then(|| SECRET.to_owned()),
            Path::new("env.toml"),
        )
        .unwrap()
}

#[tokio::test]
async fn only_granted_variables_exist_and_secrets_are_redacted() {
    // SAFETY: set before any call reads the host environment; nothing in this test binary
    // reads HOME_SECRET concurrently.
    unsafe { std::env::set_var("HOME_SECRET", "host-only") };
    let exec = SANDBOX
        .call(&tool(guests::ENV_PROBE), r#"{"leak":"TOKEN"}"#, &grants())
        .await;
    assert_eq!(exec.outcome, Outcome::Ok, "{exec:?}");
    assert_eq!(
        exec.output,
        Some(json!({"GREETING": "hello", "TOKEN": REDACTED}))
    );
    assert_eq!(exec.stdout.trim(), format!("leaking TOKEN={REDACTED}"));
    let report = serde_json::to_string(&exec).unwrap();
    assert!(!report.contains(SECRET) && !report.contains("host-only"));

    let exec = SANDBOX
        .call(
            &tool(guests::ENV_PROBE),
            r#"{"leak":"TOKEN","fail":true}"#,
            &grants(),
        )
        .await;
    assert_eq!(exec.outcome, Outcome::ToolError);
    assert_eq!(exec.error, Some(format!("failed while holding {REDACTED}")));
}

#[tokio::test]
async fn the_default_grants_no_variables() {
    let exec = SANDBOX
        .call(
            &tool(guests::ENV_PROBE),
            "{}",
            &cordon_core::Grants::default(),
        )
        .await;
    assert_eq!(exec.output, Some(json!({})));
}
