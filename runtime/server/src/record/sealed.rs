//! Checking links against their seals (`cordon_storage::seal`) before the log key signs anything
//! about them: a checkpoint covers only links every one of which a seal vouches for as stored,
//! and a receipt of a stored record is the seal of its group, rebuilt over the group's links as
//! stored. A database writer can rewrite a link and recompute every hash after it; it cannot
//! make the seals for the new hashes, so the rewrite is found here, by the first link it changed.

use cordon_storage::{EventFilter, Storage, StorageError, StoredSeal};
use cordon_trust::{KeyId, SignedBatch};

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
    let mut hashes = Vec::with_capacity(usize::try_from(through_seq - after_seq).unwrap_or(0));
    let mut expected_prev = prev;
    let mut next = after_seq + 1;
    while next <= through_seq {
        let (page, _) = storage.events(&EventFilter {
            after_seq: Some(next - 1),
            before_seq: Some(through_seq + 1),
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
    let from = storage.sealed_after()?.max(after_seq);
    let hash_of = |seq: i64| &hashes[usize::try_from(seq - after_seq - 1).unwrap_or(0)];
    let mut next = from + 1;
    for seal in storage.seals(from, through_seq)? {
        if seal.first_seq != next {
            return Err(SealError::Tampered {
                seq: next.min(seal.first_seq),
                why: "no seal covers the link".into(),
            });
        }
        let group: Vec<&str> = (seal.first_seq..=seal.last_seq)
            .map(|s| hash_of(s).as_str())
            .collect();
        SignedBatch::from_seal(&seal.signed, key, log_id, seal.first_seq, &group).map_err(|e| {
            SealError::Tampered {
                seq: seal.first_seq,
                why: format!("records {} to {}: {e}", seal.first_seq, seal.last_seq),
            }
        })?;
        next = seal.last_seq + 1;
    }
    if next <= through_seq {
        return Err(SealError::Tampered {
            seq: next,
            why: "no seal covers the link".into(),
        });
    }
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
    if seq <= storage.sealed_after()? {
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
    let hashes = recomputed(storage, first_seq - 1, last_seq, None)?;
    let group: Vec<&str> = hashes.iter().map(String::as_str).collect();
    SignedBatch::from_seal(&signed, key, log_id, first_seq, &group)
        .map(Some)
        .map_err(|e| SealError::Tampered {
            seq,
            why: format!("records {first_seq} to {last_seq}: {e}"),
        })
}
