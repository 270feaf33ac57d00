//! What the tests share: one sandbox per test binary (as in production: one engine per process),
//! tools loaded once, and limits built from the defaults.

use cordon_core::{Execution, Grants, Limits, Outcome};
use cordon_sandbox::{Sandbox, SandboxConfig, Tool};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};

pub static SANDBOX: LazyLock<Sandbox> = LazyLock::new(|| {
    Sandbox::new(SandboxConfig {
        cache_dir: Some(temp_dir("shared-cache")),
        ..SandboxConfig::default()
    })
    .expect("sandbox")
});

/// Loads a guest once per test binary.
pub fn tool(path: &str) -> Arc<Tool> {
    static LOADED: LazyLock<Mutex<HashMap<String, Arc<Tool>>>> = LazyLock::new(Mutex::default);
    let mut loaded = LOADED.lock().unwrap();
    loaded
        .entry(path.to_owned())
        .or_insert_with(|| {
            Arc::new(
                SANDBOX
                    .load(&cordon_test_artifacts::bytes(path))
                    .unwrap_or_else(|e| panic!("load {path}: {e}")),
            )
        })
        .clone()
}

/// Calls a guest under `limits`.
pub async fn call(path: &str, input: &str, limits: &Limits) -> Execution {
    SANDBOX
        .call(&tool(path), input, &Grants::with_limits(limits.clone()))
        .await
}

/// Asserts that the echo tool still works: the host is healthy after whatever ran before.
pub async fn assert_healthy() {
    let exec = call(
        cordon_test_artifacts::ECHO,
        r#"{"still":"alive"}"#,
        &Limits::default(),
    )
    .await;
    assert_eq!(exec.outcome, Outcome::Ok, "{exec:?}");
    assert_eq!(exec.output, Some(serde_json::json!({"still": "alive"})));
}

/// A fresh, empty directory under the system temp dir, unique to this process and `name`.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cordon-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Default limits with changes applied.
pub fn limits(change: impl FnOnce(&mut Limits)) -> Limits {
    let mut l = Limits::default();
    change(&mut l);
    l
}

/// Milliseconds of wall time an execution took.
pub fn wall_ms(exec: &Execution) -> u64 {
    exec.usage.wall_time_us / 1000
}
