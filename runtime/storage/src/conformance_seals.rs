//! The conformance suite's part on seals and the log key's claim (`seal.rs`): run on every
//! backend with two handles on one fresh store.

use crate::StorageError;
use crate::backend::Storage;
use crate::conformance::execution;
use crate::events::{Actor, AdminAction, AdminEvent};
use crate::keys::KeySpec;
use crate::seal::Sealer;
use cordon_core::{Outcome, Role};
use std::sync::{Arc, Mutex};

/// A sealer that writes down what it was asked to seal and seals it as plain text.
#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<(i64, Vec<String>)>>);

impl Sealer for Recorder {
    fn seal(&self, first_seq: i64, hashes: &[&str]) -> Result<String, String> {
        let mut asked = self.0.lock().unwrap();
        asked.push((first_seq, hashes.iter().map(|h| h.to_string()).collect()));
        Ok(format!("sealed {first_seq}+{}", hashes.len()))
    }
}

#[derive(Debug)]
struct Failing;

impl Sealer for Failing {
    fn seal(&self, _: i64, _: &[&str]) -> Result<String, String> {
        Err("the key is gone".into())
    }
}

fn admin_event(reason: &str) -> AdminEvent {
    AdminEvent::new(
        5,
        &Actor::server(),
        AdminAction::ServerStop {
            reason: reason.into(),
        },
    )
}

pub(crate) fn seals_are_kept_with_their_groups_and_one_key_claims_the_log(
    s: &dyn Storage,
    other: &dyn Storage,
) {
    // Before any claim: appends without a sealer are taken unsealed (the keys an operator
    // makes before the first node starts), and the claim marks them as needing no seal.
    s.append(&[execution(1, "echo", "k", Outcome::Ok)]).unwrap();
    s.create_key(&KeySpec::new("early", Role::Admin), 1, &Actor::local())
        .unwrap();
    assert_eq!(s.seals(0, i64::MAX).unwrap(), vec![]);
    // Two handles claim at once: exactly one key holds the claim, and both are told which.
    let (first, second) = std::thread::scope(|scope| {
        let a = scope.spawn(|| {
            s.claim_log_key("ed25519:first", &|head| Ok(format!("first after {head}")))
                .unwrap()
        });
        let b = scope.spawn(|| {
            other
                .claim_log_key("ed25519:second", &|head| Ok(format!("second after {head}")))
                .unwrap()
        });
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(first, second, "both handles see the one holder");
    assert!(first == "ed25519:first" || first == "ed25519:second");
    // Held: a later claimant is told who holds it, and its signer is not asked.
    assert_eq!(
        s.claim_log_key("ed25519:third", &|_| Err("not asked".into()))
            .unwrap(),
        first
    );
    // The winner's signed claim is kept, over the two links before it.
    let claim = other.log_claim().unwrap().unwrap();
    assert_eq!(claim, format!("{} after 2", &first["ed25519:".len()..]));

    // Once claimed, an append without a sealer is refused, and nothing is stored.
    let (head, _) = s.head().unwrap();
    let refused = s.append(&[execution(2, "echo", "k", Outcome::Ok)]);
    assert!(
        matches!(&refused, Err(StorageError::Seal(m)) if m.contains(&first) && m.contains("--log-key")),
        "{refused:?}"
    );
    let refused = s.record_event(admin_event("unsealed"));
    assert!(matches!(refused, Err(StorageError::Seal(_))), "{refused:?}");
    assert_eq!(s.head().unwrap().0, head);

    // With a sealer: each group's hashes are sealed once, and the seal kept with the group.
    let recorder = Arc::new(Recorder::default());
    s.set_sealer(recorder.clone());
    let group = s
        .append_prepared(
            &crate::record::Prepared::all(&[
                execution(3, "echo", "k", Outcome::Ok),
                execution(4, "echo", "k", Outcome::Trap),
                execution(5, "echo", "k", Outcome::Ok),
            ])
            .unwrap(),
        )
        .unwrap();
    assert_eq!(group.seal.as_deref(), Some("sealed 3+3"));
    let event = s.record_event(admin_event("sealed")).unwrap();
    assert_eq!(event.seq, 6);
    let asked = recorder.0.lock().unwrap().clone();
    assert_eq!(
        asked,
        vec![
            (3, group.records.iter().map(|r| r.hash.clone()).collect()),
            (6, vec![event.hash.clone()]),
        ]
    );
    // Read back by range and by link, from the other handle too.
    let seals = other.seals(2, 6).unwrap();
    assert_eq!(
        seals
            .iter()
            .map(|x| (x.first_seq, x.last_seq, x.signed.as_str()))
            .collect::<Vec<_>>(),
        vec![(3, 5, "sealed 3+3"), (6, 6, "sealed 6+1")]
    );
    assert_eq!(other.seals(5, 6).unwrap().len(), 1);
    assert_eq!(other.seals(2, 5).unwrap().len(), 1);
    assert_eq!(other.seal_covering(4).unwrap().unwrap().last_seq, 5);
    assert_eq!(other.seal_covering(6).unwrap().unwrap().first_seq, 6);
    assert_eq!(other.seal_covering(2).unwrap(), None, "before the claim");
    assert_eq!(other.first_sealed().unwrap(), Some(3));
    assert_eq!(other.seal_covering(7).unwrap(), None, "not written yet");

    // A sealer that fails aborts the append: nothing stored, nothing sealed.
    s.set_sealer(Arc::new(Failing));
    let refused = s.append(&[execution(7, "echo", "k", Outcome::Ok)]);
    assert!(
        matches!(&refused, Err(StorageError::Seal(m)) if m.contains("the key is gone")),
        "{refused:?}"
    );
    assert_eq!(s.head().unwrap().0, 6);
    assert_eq!(s.seals(0, i64::MAX).unwrap().len(), 2);
}
