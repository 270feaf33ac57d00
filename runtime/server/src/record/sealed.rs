//! Checking links against their seals (`cordon_storage::seal`) before the log key signs anything
//! about them: a checkpoint covers only links every one of which a seal vouches for as stored,
//! and a receipt of a stored record is the seal of its group, rebuilt over the group's links as
//! stored. A database writer can rewrite a link and recompute every hash after it; it cannot
//! make the seals for the new hashes, so the rewrite is found here, by the first link it changed.

use cordon_storage::{EventFilter, Storage, StorageError, StoredCheckpoint, StoredSeal};
use cordon_trust::{Checkpoint, KeyId, PrivateKey, Signed, SignedBatch};
use serde::{Deserialize, Serialize};

/// The statement a log key signs when it claims a store (`cordon_storage::seal`): this log, and
/// the last link written before the claim (which needs no seal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogClaim {
    pub log_id: String,
    pub sealed_after: i64,
}

impl LogClaim {
    pub const KIND: &'static str = "claim";

    /// The signed claim of `log_id` over its links up to `head`, as the store keeps it.
    pub fn sign(key: &PrivateKey, log_id: &str, head: i64) -> Result<String, String> {
        Signed::sign(
            key,
            Self::KIND,
            &LogClaim {
                log_id: log_id.to_owned(),
                sealed_after: head,
            },
        )
        .map(|s| s.to_json())
        .map_err(|e| e.to_string())
    }
}

/// The last link that needs no seal, read from the store's claim only once its signature by
/// `key` and its log hold: a database writer cannot move the mark.
pub(crate) fn sealed_after(
    storage: &dyn Storage,
    key: &KeyId,
    log_id: &str,
) -> Result<i64, SealError> {
    let refused = |why: String| SealError::Tampered { seq: 0, why };
    let text = storage
        .log_claim()?
        .ok_or_else(|| refused("the store's claim by the log key is missing".into()))?;
    let claim: LogClaim = Signed::parse(&text)
        .and_then(|s| s.verify(LogClaim::KIND, key))
        .map_err(|e| refused(format!("the store's claim is not the log key's: {e}")))?;
    if claim.log_id != log_id {
        return Err(refused(format!(
            "the store's claim is for log {}, not this one",
            claim.log_id
        )));
    }
    Ok(claim.sealed_after)
}

/// Where the links still to check start: the newest kept checkpoint, once its signature by
/// `key`, its log and its stored size and head hold (a checkpoint row a database writer moved
/// forward would otherwise skip a rewrite); `(0, None)` before the first.
pub(crate) fn checked_start(
    key: &KeyId,
    log_id: &str,
    latest: Option<&StoredCheckpoint>,
) -> Result<(i64, Option<String>), SealError> {
    let Some(cp) = latest else {
        return Ok((0, None));
    };
    let refused = |why: String| SealError::Tampered { seq: cp.size, why };
    let signed: Checkpoint = Signed::parse(&cp.signed)
        .and_then(|s| s.verify(Checkpoint::KIND, key))
        .map_err(|e| {
            refused(format!(
                "the kept checkpoint {} is not the log key's: {e}",
                cp.size
            ))
        })?;
    if signed.log_id != log_id || signed.size != cp.size || signed.head != cp.head {
        return Err(refused(format!(
            "the kept checkpoint {} is not the one the log key signed",
            cp.size
        )));
    }
    Ok((cp.size, Some(cp.head.clone())))
}

/// Why links could not be vouched for.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    #[error(transparent)]
    Store(#[from] StorageError),
    /// Link `seq` is not what the log key sealed when it was committed.
    #[error("link {seq} was changed after it was committed: {why}")]
    Tampered { seq: i64, why: String },
}

/// Links read per page while walking.
const PAGE: u32 = 1000;

/// The links `(after_seq, through_seq]` as stored, each hash recomputed from its content and
/// the hash before it (`prev`: the hash link `after_seq` is known to have, else the first
/// link's stored `prev_hash`). Refused at the first link missing, unreadable, or whose content
/// no longer gives its stored hash.
pub(crate) fn recomputed(
    storage: &dyn Storage,
    after_seq: i64,
    through_seq: i64,
    prev: Option<String>,
) -> Result<Vec<String>, SealError> {
    let tampered = |seq: i64, why: &str| SealError::Tampered {
        seq,
        why: why.to_owned(),
    };
    let span = through_seq.saturating_sub(after_seq);
    let mut hashes = Vec::with_capacity(usize::try_from(span).unwrap_or(0).min(PAGE as usize));
    let mut expected_prev = prev;
    let mut next = after_seq.saturating_add(1);
    while next <= through_seq {
        let (page, _) = storage.events(&EventFilter {
            after_seq: Some(next - 1),
            before_seq: Some(through_seq.saturating_add(1)),
            limit: PAGE,
            ..EventFilter::default()
        })?;
        if page.is_empty() {
            return Err(tampered(next, "the link is missing"));
        }
        for link in page {
            if link.seq != next {
                return Err(tampered(next, "the link is missing"));
            }
            let Some((body, _)) = link.canonical() else {
                return Err(tampered(next, "the link is unreadable"));
            };
            let prev = expected_prev.get_or_insert_with(|| link.prev_hash.clone());
            let again = cordon_core::link::link_hash(prev, link.seq, &body);
            if again != link.hash {
                return Err(tampered(
                    next,
                    "its content no longer gives its stored hash",
                ));
            }
            *prev = again.clone();
            hashes.push(again);
            next += 1;
        }
    }
    Ok(hashes)
}

/// Checks the links `(after_seq, through_seq]` before a checkpoint is signed over them: each
/// one's hash recomputes from its content, chained from `after_head` (the hash the last
/// checkpoint signed for `after_seq`), the last gives `through_head`, and every link after
/// `sealed_after` lies in a group whose seal, signed by `key`, holds for the hashes as
/// recomputed.
pub(crate) fn check_range(
    storage: &dyn Storage,
    key: &KeyId,
    log_id: &str,
    (after_seq, after_head): (i64, Option<String>),
    (through_seq, through_head): (i64, &str),
) -> Result<(), SealError> {
    let hashes = recomputed(storage, after_seq, through_seq, after_head)?;
    if hashes.last().map(String::as_str) != Some(through_head) {
        return Err(SealError::Tampered {
            seq: through_seq,
            why: "the newest link is not the log's head".into(),
        });
    }
    let from = sealed_after(storage, key, log_id)?.max(after_seq);
    let hash_of = |seq: i64| {
        let at = seq.saturating_sub(after_seq).saturating_sub(1);
        usize::try_from(at)
            .ok()
            .and_then(|i| hashes.get(i))
            .map_or("", String::as_str)
    };
    let mut next = from.saturating_add(1);
    // Read page by page: a long stretch without checkpoints can hold more groups than a read.
    let mut page = storage.seals(from, through_seq)?;
    while !page.is_empty() {
        for seal in std::mem::take(&mut page) {
            check_seal(key, log_id, &seal, next, &hash_of)?;
            next = seal.last_seq.saturating_add(1);
        }
        if next <= through_seq {
            page = storage.seals(next - 1, through_seq)?;
        }
    }
    if next <= through_seq {
        return Err(SealError::Tampered {
            seq: next,
            why: "no seal covers the link".into(),
        });
    }
    Ok(())
}

/// One seal, expected to start at link `next`, against the hashes as recomputed.
fn check_seal<'h>(
    key: &KeyId,
    log_id: &str,
    seal: &StoredSeal,
    next: i64,
    hash_of: &dyn Fn(i64) -> &'h str,
) -> Result<(), SealError> {
    if seal.first_seq != next {
        return Err(SealError::Tampered {
            seq: next.min(seal.first_seq),
            why: "no seal covers the link".into(),
        });
    }
    let span = seal.last_seq.saturating_sub(seal.first_seq);
    if !(0..cordon_trust::MAX_BATCH_RECORDS).contains(&span) {
        return Err(SealError::Tampered {
            seq: next,
            why: format!(
                "a seal spans records {} to {}",
                seal.first_seq, seal.last_seq
            ),
        });
    }
    let group: Vec<&str> = (seal.first_seq..=seal.last_seq).map(hash_of).collect();
    SignedBatch::from_seal(&seal.signed, key, log_id, seal.first_seq, &group).map_err(|e| {
        SealError::Tampered {
            seq: seal.first_seq,
            why: format!("records {} to {}: {e}", seal.first_seq, seal.last_seq),
        }
    })?;
    Ok(())
}

/// The signed batch of the group holding link `seq`, rebuilt over the group's links as stored
/// and checked against its seal; `None` for a link written before seals were kept.
pub(crate) fn group_of(
    storage: &dyn Storage,
    key: &KeyId,
    log_id: &str,
    seq: i64,
) -> Result<Option<SignedBatch>, SealError> {
    if seq <= sealed_after(storage, key, log_id)? {
        return Ok(None);
    }
    let Some(StoredSeal {
        first_seq,
        last_seq,
        signed,
    }) = storage.seal_covering(seq)?
    else {
        return Err(SealError::Tampered {
            seq,
            why: "no seal covers the link".into(),
        });
    };
    let span = last_seq.saturating_sub(first_seq);
    if !(0..cordon_trust::MAX_BATCH_RECORDS).contains(&span) {
        return Err(SealError::Tampered {
            seq,
            why: format!("a seal spans records {first_seq} to {last_seq}"),
        });
    }
    let hashes = recomputed(storage, first_seq.saturating_sub(1), last_seq, None)?;
    let group: Vec<&str> = hashes.iter().map(String::as_str).collect();
    SignedBatch::from_seal(&signed, key, log_id, first_seq, &group)
        .map(Some)
        .map_err(|e| SealError::Tampered {
            seq,
            why: format!("records {first_seq} to {last_seq}: {e}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cordon_storage::{Actor, AdminAction, AdminEvent, Embedded};

    fn store(name: &str) -> (std::path::PathBuf, Embedded) {
        let dir = std::env::temp_dir().join(format!("cordon-sealed-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let s = Embedded::open(&dir, false).unwrap();
        (dir, s)
    }

    fn event(n: i64) -> AdminEvent {
        AdminEvent::new(
            n,
            &Actor::server(),
            AdminAction::ServerStop {
                reason: format!("stop {n}"),
            },
        )
    }

    /// The mark of links needing no seal is read only through the key's signed claim, and a
    /// kept checkpoint is a place to start from only once its signature and columns agree.
    #[test]
    fn the_claim_and_the_starting_checkpoint_are_taken_only_as_the_key_signed_them() {
        let (dir, s) = store("claim");
        let key = PrivateKey::generate().unwrap();
        let other = PrivateKey::generate().unwrap();
        let log_id = s.log_id().unwrap();
        s.record_event(event(1)).unwrap();
        // No claim yet: nothing is vouched for.
        assert!(matches!(
            sealed_after(&s, &key.key_id(), &log_id),
            Err(SealError::Tampered { .. })
        ));
        let id = key.key_id().to_string();
        s.claim_log_key(&id, &|head| LogClaim::sign(&key, &log_id, head))
            .unwrap();
        assert_eq!(sealed_after(&s, &key.key_id(), &log_id).unwrap(), 1);
        // Checked with another key, or for another log: refused.
        assert!(sealed_after(&s, &other.key_id(), &log_id).is_err());
        assert!(sealed_after(&s, &key.key_id(), "another-log").is_err());

        // A checkpoint as signed is a start; one whose stored size or head was moved is not.
        let (size, head) = s.head().unwrap();
        let signed = Checkpoint {
            log_id: log_id.clone(),
            size,
            head: head.clone(),
            time_ms: 1,
        }
        .sign(&key)
        .unwrap()
        .to_json();
        let kept = StoredCheckpoint {
            size,
            head: head.clone(),
            at_ms: 1,
            signed: signed.clone(),
        };
        assert_eq!(
            checked_start(&key.key_id(), &log_id, Some(&kept)).unwrap(),
            (size, Some(head.clone()))
        );
        let moved = StoredCheckpoint {
            size: size + 5,
            ..kept.clone()
        };
        assert!(matches!(
            checked_start(&key.key_id(), &log_id, Some(&moved)),
            Err(SealError::Tampered { seq, .. }) if seq == size + 5
        ));
        let rehead = StoredCheckpoint {
            head: "00".repeat(32),
            ..kept.clone()
        };
        assert!(checked_start(&key.key_id(), &log_id, Some(&rehead)).is_err());
        assert!(checked_start(&other.key_id(), &log_id, Some(&kept)).is_err());
        assert_eq!(
            checked_start(&key.key_id(), &log_id, None).unwrap(),
            (0, None)
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
