//! Tests of the embedded backend: the conformance suite every backend passes
//! (`conformance.rs`), and what is particular to the embedded store (files on disk, reopening).

use super::*;
use crate::conformance;

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cordon-backend-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A fresh embedded store in its own directory.
fn fresh(name: &str) -> (std::path::PathBuf, Embedded) {
    let dir = temp(name);
    let s = Embedded::open(&dir, true).unwrap();
    (dir, s)
}

#[test]
fn conformance_changes_leave_one_event_each() {
    let (dir, s) = fresh("changes");
    conformance::changes_leave_one_event_each(&s);
    // Everything survives a reopen.
    drop(s);
    let s = Embedded::open(&dir, true).unwrap();
    assert_eq!(s.tools().unwrap()[0].name, "other");
    assert_eq!(conformance::events(&s).len(), 9);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn conformance_keys_authenticate_until_revoked() {
    let (dir, s) = fresh("keys-conformance");
    conformance::keys_authenticate_until_revoked(&s);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn conformance_the_log_is_one_chain_read_back_exactly() {
    let (dir, s) = fresh("log-conformance");
    conformance::the_log_is_one_chain_read_back_exactly(&s);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn conformance_retention_prunes_up_to_a_checkpoint() {
    let (dir, s) = fresh("retention-conformance");
    conformance::retention_prunes_up_to_a_checkpoint(&s);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn blobs_are_checked_against_their_names() {
    let dir = temp("blobs");
    let s = Embedded::open(&dir, true).unwrap();
    let blob = s.put_blob(b"component bytes").unwrap();
    std::fs::write(dir.join("blobs").join(&blob), b"tampered").unwrap();
    assert!(matches!(s.blob(&blob), Err(StorageError::Corrupt(_))));
    assert!(s.blob("../etc/passwd").is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn only_a_keys_hash_is_stored() {
    let dir = temp("keys");
    let s = Embedded::open(&dir, true).unwrap();
    let new = s
        .create_key("ci", Role::Invoker, 1, &Actor::local())
        .unwrap();
    let db = std::fs::read(dir.join("cordon.db")).unwrap();
    // Everything after `cordon_<id>_` (the secret itself may contain `_`).
    let secret_part = &new.secret["cordon_".len() + 12 + 1..];
    assert_eq!(secret_part.len(), 43);
    assert!(
        !db.windows(secret_part.len())
            .any(|w| w == secret_part.as_bytes())
    );
    assert!(s.authenticate(&new.secret).unwrap().is_some());
    std::fs::remove_dir_all(&dir).unwrap();
}
