//! Tests of the embedded backend: the conformance suite every backend passes
//! (`conformance.rs`), and what is particular to the embedded store (files on disk, reopening).

use super::*;
use crate::conformance;
use cordon_core::Role;

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
fn conformance_quotas() {
    let (dir, s) = fresh("quotas-conformance");
    conformance::quotas_count_refuse_and_reset(&s);
    let other = Embedded::open(&dir, true).unwrap();
    conformance::quotas_hold_across_handles(&s, &other);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn conformance_tasks() {
    let (dir, s) = fresh("tasks-conformance");
    let other = Embedded::open(&dir, true).unwrap();
    conformance::tasks_start_report_cancel_finish_and_expire(&s, &other);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn conformance_task_batches() {
    let (dir, s) = fresh("task-batches");
    crate::conformance_batches::tasks_start_and_end_in_batches(&s);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn conformance_tasks_waiting_for_input() {
    let (dir, s) = fresh("tasks-input");
    let other = Embedded::open(&dir, true).unwrap();
    crate::conformance_batches::tasks_wait_for_input(&s, &other);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn conformance_seals() {
    let (dir, s) = fresh("seals-conformance");
    let other = Embedded::open(&dir, true).unwrap();
    crate::conformance_seals::seals_are_kept_with_their_groups_and_one_key_claims_the_log(
        &s, &other,
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn conformance_decisions() {
    let (dir, s) = fresh("decisions-conformance");
    let other = Embedded::open(&dir, true).unwrap();
    conformance::decisions_apply_replace_and_remove(&s, &other);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn conformance_alerts() {
    let (dir, s) = fresh("alerts-conformance");
    let other = Embedded::open(&dir, true).unwrap();
    crate::conformance_alerts::alerts_raise_claim_and_deliver(&s, &other);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn conformance_detection() {
    let (dir, s) = fresh("detect-conformance");
    let other = Embedded::open(&dir, true).unwrap();
    crate::conformance_detect::detection_counts_across_nodes_and_suspensions(&s, &other);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn conformance_approvals() {
    let (dir, s) = fresh("approvals-conformance");
    let other = Embedded::open(&dir, true).unwrap();
    conformance::approvals_hold_decide_and_expire(&s, &other);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn conformance_nodes() {
    let (dir, s) = fresh("nodes-conformance");
    let other = Embedded::open(&dir, true).unwrap();
    conformance::nodes_report_and_are_listed(&s, &other);
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
        .create_key(&KeySpec::new("ci", Role::Invoker), 1, &Actor::local())
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

#[test]
fn keys_from_a_version_4_store_keep_working_and_gain_description_and_expiry() {
    let dir = temp("keys-v4");
    let s = Embedded::open(&dir, true).unwrap();
    let old = s
        .create_key(&KeySpec::new("ci", Role::Invoker), 1, &Actor::local())
        .unwrap();
    drop(s);
    // Back to the version 4 layout.
    rusqlite::Connection::open(dir.join("cordon.db"))
        .unwrap()
        .execute_batch(
            "ALTER TABLE api_keys DROP COLUMN description;
             ALTER TABLE api_keys DROP COLUMN expires_at;
             PRAGMA user_version = 4;",
        )
        .unwrap();
    let s = Embedded::open(&dir, true).unwrap();
    let key = s.authenticate(&old.secret).unwrap().expect("still valid");
    assert_eq!((key.description.as_str(), key.expires_at_ms), ("", None));
    let spec = KeySpec::new("temp", Role::Auditor)
        .description("one day")
        .expires_at(Some(i64::MAX / 2));
    let new = s.create_key(&spec, 2, &Actor::local()).unwrap();
    assert_eq!(
        s.authenticate(&new.secret).unwrap().unwrap().description,
        "one day"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
