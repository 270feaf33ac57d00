//! The compiled-component cache: a second load does not compile, and a corrupted or truncated
//! entry is detected and rebuilt.

use crate::common::temp_dir;
use cordon_core::{Grants, Outcome};
use cordon_sandbox::{CacheStatus, Sandbox, SandboxConfig};

fn sandbox(dir: &std::path::Path) -> Sandbox {
    Sandbox::new(SandboxConfig {
        cache_dir: Some(dir.to_owned()),
        ..SandboxConfig::default()
    })
    .unwrap()
}

fn entries(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect()
}

#[tokio::test]
async fn miss_hit_corrupt_rebuild() {
    let dir = temp_dir("cache");
    let bytes = cordon_test_artifacts::bytes(cordon_test_artifacts::ECHO);

    let first = sandbox(&dir).load(&bytes).unwrap();
    assert_eq!(first.cache_status(), CacheStatus::Miss);
    let files = entries(&dir);
    assert_eq!(files.len(), 1);
    assert!(
        files[0]
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(first.digest())
    );

    // A restart (new sandbox, same directory) loads without compiling.
    let s = sandbox(&dir);
    let second = s.load(&bytes).unwrap();
    assert_eq!(second.cache_status(), CacheStatus::Hit);
    let exec = s.call(&second, r#"{"k":"v"}"#, &Grants::default()).await;
    assert_eq!(exec.outcome, Outcome::Ok);

    // Flip one byte deep inside the compiled code: detected, rebuilt, and the tool still runs.
    let mut entry = std::fs::read(&files[0]).unwrap();
    let middle = entry.len() / 2;
    entry[middle] ^= 0xff;
    std::fs::write(&files[0], &entry).unwrap();
    let s = sandbox(&dir);
    let rebuilt = s.load(&bytes).unwrap();
    assert_eq!(rebuilt.cache_status(), CacheStatus::Rebuilt);
    let exec = s.call(&rebuilt, r#"{"k":"v"}"#, &Grants::default()).await;
    assert_eq!(exec.outcome, Outcome::Ok);
    assert_eq!(
        sandbox(&dir).load(&bytes).unwrap().cache_status(),
        CacheStatus::Hit
    );

    // A truncated entry is rebuilt too.
    std::fs::write(&files[0], &entry[..100]).unwrap();
    assert_eq!(
        sandbox(&dir).load(&bytes).unwrap().cache_status(),
        CacheStatus::Rebuilt
    );
}
