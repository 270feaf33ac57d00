//! Tests of the embedded backend: every administrative change is applied together with its
//! event, by the actor given, and the registry, keys and blobs behave as before.

use super::*;
use crate::events::EventFilter;

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cordon-backend-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn record(name: &str, version: &str, blob: &str) -> ToolRecord {
    ToolRecord {
        name: name.into(),
        version: version.into(),
        digest: "d".repeat(64),
        blob: blob.into(),
        publisher: "acme".into(),
        signer: "ed25519:k".into(),
        description: "a tool".into(),
        input_schema: serde_json::json!({"type": "object"}),
        output_schema: None,
        policy: "[limits]\n".into(),
        policy_hash: "p".repeat(64),
        published_at_ms: 1,
    }
}

fn events(s: &Embedded) -> Vec<(String, String, Option<String>)> {
    let (page, _) = s
        .events(&EventFilter {
            after_seq: Some(0),
            limit: 1000,
            ..EventFilter::default()
        })
        .unwrap();
    page.into_iter()
        .map(|e| (e.kind, e.actor.name, e.tool))
        .collect()
}

#[test]
fn every_change_leaves_one_event_with_its_actor() {
    let dir = temp("changes");
    let s = Embedded::open(&dir, true).unwrap();
    let alice = Actor::key("a1", "alice");
    let blob = s.put_blob(b"component bytes").unwrap();
    assert_eq!(s.put_blob(b"component bytes").unwrap(), blob);
    assert_eq!(s.blob(&blob).unwrap(), b"component bytes");

    s.insert_tool(&record("echo", "1.0.0", &blob), &alice)
        .unwrap();
    s.insert_tool(&record("echo", "1.1.0", &blob), &alice)
        .unwrap();
    s.insert_tool(&record("other", "0.1.0", &blob), &alice)
        .unwrap();
    // A refused change stores neither the change nor an event.
    assert!(
        s.insert_tool(&record("echo", "1.0.0", &blob), &alice)
            .is_err(),
        "duplicate version"
    );
    assert_eq!(events(&s).len(), 3);

    assert_eq!(
        s.set_policy(
            "echo",
            "[limits]\nfuel = 5\n",
            &"n".repeat(64),
            "reload",
            &Actor::signal()
        )
        .unwrap(),
        2
    );
    // The same policy again changes nothing and records nothing.
    assert_eq!(
        s.set_policy(
            "echo",
            "[limits]\nfuel = 5\n",
            &"n".repeat(64),
            "reload",
            &Actor::signal()
        )
        .unwrap(),
        0
    );
    s.quarantine("echo", "suspicious", 5, &alice).unwrap();
    assert_eq!(s.quarantined().unwrap()[0].1.reason, "suspicious");
    assert!(s.release("echo", 6, &alice).unwrap());
    assert!(!s.release("echo", 7, &alice).unwrap());
    assert_eq!(s.delete_tool("echo", &alice).unwrap(), 2);
    assert_eq!(s.delete_tool("echo", &alice).unwrap(), 0);
    assert_eq!(s.tools().unwrap().len(), 1);

    let key = s
        .create_key("ci", Role::Invoker, 8, &Actor::local())
        .unwrap();
    assert!(
        s.create_key("ci", Role::Admin, 9, &alice).is_err(),
        "names are unique"
    );
    assert!(s.revoke_key("ci", 10, &alice).unwrap());
    assert!(!s.revoke_key("ci", 11, &alice).unwrap());
    assert_eq!(s.authenticate(&key.secret).unwrap(), None);

    let user = Actor::local().name;
    let tool = |t: &str| Some(t.to_owned());
    assert_eq!(
        events(&s),
        [
            ("tool.publish".to_owned(), "alice".to_owned(), tool("echo")),
            ("tool.publish".into(), "alice".into(), tool("echo")),
            ("tool.publish".into(), "alice".into(), tool("other")),
            ("policy.set".into(), "SIGHUP".into(), tool("echo")),
            ("tool.quarantine".into(), "alice".into(), tool("echo")),
            ("tool.release".into(), "alice".into(), tool("echo")),
            ("tool.delete".into(), "alice".into(), tool("echo")),
            ("key.create".into(), user, None),
            ("key.revoke".into(), "alice".into(), None),
        ]
    );
    // The events carry what changed, and never a secret.
    let (page, _) = s
        .events(&EventFilter {
            limit: 1000,
            ..EventFilter::default()
        })
        .unwrap();
    let json = serde_json::to_string(&page).unwrap();
    assert!(!json.contains(&key.secret[20..]));
    let policy_set = page.iter().find(|e| e.kind == "policy.set").unwrap();
    assert_eq!(
        policy_set.event.as_ref().unwrap().action,
        AdminAction::PolicySet {
            tool: "echo".into(),
            old_hashes: vec!["p".repeat(64)],
            new_hash: "n".repeat(64),
            versions: 2,
            source: "reload".into(),
        }
    );
    let revoke = page.iter().find(|e| e.kind == "key.revoke").unwrap();
    assert_eq!(
        revoke.event.as_ref().unwrap().action,
        AdminAction::KeyRevoke {
            key_id: key.key.id.clone(),
            name: "ci".into(),
            role: "invoker".into(),
        }
    );
    assert!(s.verify_log(&[]).unwrap().intact);

    // Everything survives a reopen.
    drop(s);
    let s = Embedded::open(&dir, true).unwrap();
    assert_eq!(s.tools().unwrap()[0].name, "other");
    assert_eq!(events(&s).len(), 9);
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
fn keys_authenticate_until_revoked_and_only_their_hash_is_stored() {
    let dir = temp("keys");
    let s = Embedded::open(&dir, true).unwrap();
    let new = s
        .create_key("ci", Role::Invoker, 1, &Actor::local())
        .unwrap();
    assert!(new.secret.starts_with(&format!("cordon_{}_", new.key.id)));
    assert_eq!(new.secret.len(), "cordon_".len() + 12 + 1 + 43);
    assert!(!format!("{new:?}").contains(&new.secret));
    let db = std::fs::read(dir.join("cordon.db")).unwrap();
    let secret_part = new.secret.rsplit('_').next().unwrap();
    assert!(
        !db.windows(secret_part.len())
            .any(|w| w == secret_part.as_bytes())
    );
    let got = s.authenticate(&new.secret).unwrap().unwrap();
    assert_eq!(got.id, new.key.id);
    let mut wrong = new.secret.clone();
    let last = wrong.pop();
    wrong.push(if last == Some('A') { 'B' } else { 'A' });
    assert_eq!(s.authenticate(&wrong).unwrap(), None);
    assert_eq!(s.authenticate("cordon_000000000000_x").unwrap(), None);
    assert_eq!(s.authenticate("garbage").unwrap(), None);
    assert!(s.revoke_key(&new.key.id, 3, &Actor::local()).unwrap());
    assert_eq!(s.authenticate(&new.secret).unwrap(), None);
    assert_eq!(s.keys().unwrap()[0].revoked_at_ms, Some(3));
    std::fs::remove_dir_all(&dir).unwrap();
}
