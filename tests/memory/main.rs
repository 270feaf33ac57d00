//! The invoke path keeps no per-request state: many calls through the in-process server leave
//! the live heap where it was.
//!
//! Regression test for the leak of round 1's soak (about 40 bytes per invoke, for ever): every
//! invoke records two histogram samples, and the Prometheus recorder then in use kept each sample
//! until it was folded into its buckets, which nothing did unless `/metrics` was scraped. The
//! test counts
//! live heap bytes with a counting global allocator (exact, unlike resident memory), so a
//! per-call leak of even a few bytes shows over thousands of calls on a noisy machine.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cordon_core::Role;
use cordon_sandbox::{Sandbox, SandboxConfig};
use cordon_server::callers::ratelimit::RateSettings;
use cordon_server::{AppState, ServerSettings, Services};
use cordon_storage::{Actor, Embedded, KeySpec, Storage};
use cordon_trust::TrustStore;
use http_body_util::BodyExt;
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tower::ServiceExt;

/// Live bytes allocated through Rust's allocator (SQLite's and wasmtime's own memory is not
/// counted: neither is where the leak was, and both are bounded by their own settings).
static LIVE: AtomicI64 = AtomicI64::new(0);

struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged and only adds
// bookkeeping; the contracts are the caller's, as for `System`.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const CORDON: &str = env!("CARGO_BIN_EXE_cordon");

fn cordon(args: &[&str]) -> String {
    let out = Command::new(CORDON)
        .args(args)
        .output()
        .expect("run cordon");
    assert!(
        out.status.success(),
        "cordon {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A data directory with a trust store naming a fresh key, and echo signed by it.
fn prepare(dir: &Path) -> Vec<u8> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let key = dir.join("dev.pem");
    let out = cordon(&["keygen", "--out", key.to_str().unwrap()]);
    let key_id = out
        .lines()
        .find_map(|l| l.strip_prefix("key id:"))
        .expect("key id")
        .trim()
        .to_owned();
    std::fs::write(
        dir.join("trust.toml"),
        format!("[publishers]\ndev = [\"{key_id}\"]\n"),
    )
    .unwrap();
    let signed = dir.join("echo.signed.wasm");
    cordon(&[
        "sign",
        cordon_test_artifacts::ECHO,
        "--key",
        key.to_str().unwrap(),
        "--out",
        signed.to_str().unwrap(),
    ]);
    std::fs::read(signed).unwrap()
}

async fn call(app: &axum::Router, key: &str, path: &str, kind: &str, body: Vec<u8>) -> StatusCode {
    let request = Request::post(path)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", kind)
        .body(Body::from(body))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    response.into_body().collect().await.unwrap();
    status
}

/// `n` invokes: every other one ok, the rest refused as invalid input before any instance
/// (both paths record an execution and its metrics).
async fn invokes(app: &axum::Router, key: &str, n: usize) {
    for i in 0..n {
        let (body, expected): (&[u8], _) = if i % 2 == 0 {
            (br#"{"n":1}"#, StatusCode::OK)
        } else {
            (b"not json", StatusCode::UNPROCESSABLE_ENTITY)
        };
        let status = call(
            app,
            key,
            "/v1/tools/echo/invoke",
            "application/json",
            body.to_vec(),
        )
        .await;
        assert_eq!(status, expected);
    }
}

#[test]
fn many_invokes_leave_the_live_heap_where_it_was() {
    let dir = std::env::temp_dir().join(format!("cordon-memory-{}", std::process::id()));
    let component = prepare(&dir);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        cordon_server::metrics::install();
        let storage: Arc<dyn Storage> = Arc::new(Embedded::open(&dir, false).unwrap());
        let admin = storage
            .create_key(&KeySpec::new("memory-test", Role::Admin), 0, &Actor::local())
            .unwrap()
            .secret;
        let sandbox = Arc::new(
            Sandbox::new(SandboxConfig {
                cache_dir: Some(dir.join("compiled")),
                ..SandboxConfig::default()
            })
            .unwrap(),
        );
        let state = AppState::new(
            ServerSettings {
                max_in_flight: 16,
                rates: RateSettings {
                    per_key_per_sec: 10_000_000,
                    per_ip_per_sec: 10_000_000,
                    auth_failures_per_min: 10,
                },
                ..ServerSettings::new(dir.join("log.key"))
            },
            Services {
                storage,
                sandbox,
                trust: TrustStore::load(&dir.join("trust.toml")).unwrap(),
                secrets: None,
            },
        )
        .unwrap();
        let app = cordon_server::app(Arc::new(state));
        let status = call(&app, &admin, "/v1/tools", "application/wasm", component).await;
        assert_eq!(status, StatusCode::CREATED);

        // Warm-up: caches, pools, the connection's statements, the interned strings.
        invokes(&app, &admin, 2_000).await;
        // Let detached tasks and the journal finish before each reading.
        let settle = Duration::from_secs(1);
        tokio::time::sleep(settle).await;
        let before = LIVE.load(Ordering::Relaxed);
        const CALLS: usize = 20_000;
        for _ in 0..4 {
            invokes(&app, &admin, CALLS / 4).await;
            tokio::time::sleep(settle).await;
            println!("live heap {}", LIVE.load(Ordering::Relaxed));
        }
        let after = LIVE.load(Ordering::Relaxed);
        let per_call = (after - before) as f64 / CALLS as f64;
        println!(
            "live heap {before} -> {after} bytes over {CALLS} invokes: {per_call:.2} bytes per invoke"
        );
        // The leak kept at least 16 bytes per invoke; allow a little for buffers that happen
        // to be larger at the second reading.
        assert!(
            per_call < 1.0,
            "the live heap grew by {per_call:.2} bytes per invoke ({before} -> {after})"
        );
    });
    let _ = std::fs::remove_dir_all(&dir);
}
