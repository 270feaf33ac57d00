use super::*;
use cordon_core::link::GENESIS;
use sha2::{Digest, Sha256 as Sha256v10};

/// A batch of `n` records starting at `first`, chained from `prev`; returns the batch and each
/// record's (prev_hash, hash, body).
fn batch(
    key: &PrivateKey,
    first: i64,
    n: usize,
    prev: &str,
) -> (SignedBatch, Vec<(String, String, String)>) {
    let mut links = Vec::new();
    let mut prev = prev.to_owned();
    for i in 0..n {
        let seq = first + i as i64;
        let body = format!(r#"{{"id":"ex_{seq}","outcome":"ok","tool":"echo"}}"#);
        let h = link_hash(&prev, seq, &body);
        links.push((std::mem::replace(&mut prev, h.clone()), h, body));
    }
    let hashes: Vec<&str> = links.iter().map(|(_, h, _)| h.as_str()).collect();
    let b = SignedBatch::sign(key, "log1", first, &hashes, 1_700_000_000_000).unwrap();
    (b, links)
}

fn receipt_of(
    b: &SignedBatch,
    links: &[(String, String, String)],
    first: i64,
    i: usize,
) -> Receipt {
    let (prev, h, body) = &links[i];
    b.receipt("log1", first + i as i64, prev, h, body.clone())
        .unwrap()
}

/// RFC 6962 section 2.1's Merkle Tree Hash, written out directly from the text, to check the
/// tree the batch is signed over against the standard.
fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    let n = leaves.len();
    if n == 1 {
        let mut h = Sha256v10::new();
        h.update([0u8]);
        h.update(leaves[0]);
        return h.finalize().into();
    }
    let k = n.next_power_of_two() / 2;
    let k = if k == n { n / 2 } else { k };
    let mut h = Sha256v10::new();
    h.update([1u8]);
    h.update(mth(&leaves[..k]));
    h.update(mth(&leaves[k..]));
    h.finalize().into()
}

#[test]
fn every_record_of_every_batch_size_verifies_and_the_root_is_rfc_6962s() {
    let key = PrivateKey::generate().unwrap();
    for n in 1..=33 {
        let (b, links) = batch(&key, 100, n, GENESIS);
        let statement: Batch = b.statement().verify(Batch::KIND, &key.key_id()).unwrap();
        let leaves: Vec<[u8; 32]> = links.iter().map(|(_, h, _)| decode32(h).unwrap()).collect();
        assert_eq!(statement.root, hex::encode(mth(&leaves)), "{n} leaves");
        assert_eq!(
            (statement.first_seq, statement.size),
            (100, 100 + n as i64 - 1)
        );
        assert_eq!(statement.head, links[n - 1].1);
        for i in 0..n {
            let r = receipt_of(&b, &links, 100, i);
            // Through JSON, as a caller keeps it.
            let back = Receipt::parse(serde_json::to_value(&r).unwrap()).unwrap();
            assert_eq!(
                back.verify(&key.key_id()).unwrap(),
                statement,
                "{n} leaves, record {i}"
            );
            assert_eq!(back.record_json().unwrap()["id"], format!("ex_{}", 100 + i));
        }
    }
}

#[test]
fn each_kind_of_change_is_refused_with_its_reason() {
    let key = PrivateKey::generate().unwrap();
    let id = key.key_id();
    let (b, links) = batch(&key, 7, 5, GENESIS);
    let good = receipt_of(&b, &links, 7, 2);
    assert!(good.verify(&id).is_ok());
    let refused = |change: &dyn Fn(&mut Receipt)| {
        let mut r = good.clone();
        change(&mut r);
        r.verify(&id).unwrap_err()
    };
    // The record, or its place in the chain.
    assert_eq!(
        refused(&|r| r.record = r.record.replace("\"ok\"", "\"error\"")),
        ReceiptError::RecordChanged
    );
    assert_eq!(refused(&|r| r.seq += 1), ReceiptError::RecordChanged);
    assert_eq!(
        refused(&|r| r.prev_hash = GENESIS.into()),
        ReceiptError::RecordChanged
    );
    assert_eq!(
        refused(&|r| r.hash = links[3].1.clone()),
        ReceiptError::RecordChanged
    );
    // The record and its hash rewritten together: the path no longer leads to the root.
    assert_eq!(
        refused(&|r| {
            r.record = r.record.replace("\"ok\"", "\"error\"");
            r.hash = link_hash(&r.prev_hash, r.seq, &r.record);
        }),
        ReceiptError::BadPath
    );
    // Another record's link presented with this path.
    assert_eq!(
        refused(&|r| {
            let (prev, h, body) = links[3].clone();
            (r.prev_hash, r.hash, r.record, r.seq) = (prev, h, body, 10);
        }),
        ReceiptError::BadPath
    );
    // The path: a node changed, dropped, added.
    assert_eq!(
        refused(&|r| r.path[0] = "00".repeat(32)),
        ReceiptError::BadPath
    );
    assert_eq!(refused(&|r| drop(r.path.pop())), ReceiptError::BadPath);
    assert_eq!(
        refused(&|r| r.path.push("00".repeat(32))),
        ReceiptError::BadPath
    );
    assert_eq!(
        refused(&|r| r.path[0] = "not hex".into()),
        ReceiptError::BadPath
    );
    // The batch: its statement edited, another batch's, another key's, another log's.
    assert_eq!(
        refused(&|r| r.batch.statement["size"] = 100.into()),
        ReceiptError::Batch(SignedError::BadSignature)
    );
    let (other, _) = batch(&key, 7, 5, &"11".repeat(32));
    assert_eq!(
        refused(&|r| r.batch = other.statement().clone()),
        ReceiptError::BadPath
    );
    let stranger = PrivateKey::generate().unwrap();
    let (forged, _) = batch(&stranger, 7, 5, GENESIS);
    assert!(matches!(
        refused(&|r| r.batch = forged.statement().clone()),
        ReceiptError::Batch(SignedError::OtherKey { .. })
    ));
    assert!(matches!(
        refused(&|r| r.log_id = "log2".into()),
        ReceiptError::OtherLog { .. }
    ));
    // A record outside the batch's range.
    let (far, far_links) = batch(&key, 1000, 5, GENESIS);
    let mut r = receipt_of(&far, &far_links, 1000, 0);
    r.batch = good.batch.clone();
    assert!(matches!(
        r.verify(&id),
        Err(ReceiptError::NotInBatch {
            seq: 1000,
            first: 7,
            last: 11
        })
    ));
    assert!(matches!(
        b.receipt("log1", 12, GENESIS, GENESIS, String::new()),
        Err(ReceiptError::NotInBatch { .. })
    ));
}

#[test]
fn every_single_byte_change_of_a_receipt_is_refused() {
    let key = PrivateKey::generate().unwrap();
    let (b, links) = batch(&key, 1, 6, GENESIS);
    let text = serde_json::to_string(&receipt_of(&b, &links, 1, 4)).unwrap();
    let accepted = crate::signed::single_byte_changes_accepted(&text, |changed| {
        serde_json::from_str(changed)
            .ok()
            .and_then(|v| Receipt::parse(v).ok())
            .is_some_and(|r| r.verify(&key.key_id()).is_ok())
    });
    assert!(accepted.is_empty(), "{accepted:?}");
}

#[test]
fn hostile_receipts_are_refused_without_panicking() {
    let key = PrivateKey::generate().unwrap();
    let (b, links) = batch(&key, 1, 3, GENESIS);
    let good = receipt_of(&b, &links, 1, 0);
    // A batch statement claiming a huge or negative range, signed by the real key (the key
    // holder is not trusted to sign sane numbers either).
    for (first, size) in [(1, i64::MAX), (i64::MIN, 3), (5, 1), (1, 1 << 40)] {
        let mut statement: Batch = good.batch.verify(Batch::KIND, &key.key_id()).unwrap();
        (statement.first_seq, statement.size) = (first, size);
        let mut r = good.clone();
        r.batch = Signed::sign(&key, Batch::KIND, &statement).unwrap();
        assert!(r.verify(&key.key_id()).is_err(), "{first}..={size}");
    }
    let mut r = good.clone();
    r.path = vec!["00".repeat(32); 10_000];
    assert_eq!(r.verify(&key.key_id()), Err(ReceiptError::BadPath));
    assert!(SignedBatch::sign(&key, "log1", 1, &[], 0).is_err());
    assert!(SignedBatch::sign(&key, "log1", 1, &["zz"], 0).is_err());
}

/// A batch kept as its seal is rebuilt over the hashes as stored: the same receipts while they
/// are the ones signed; refused when one changed, when the range or the log differs, or when
/// another key signed it.
#[test]
fn a_seal_holds_only_for_the_hashes_it_signed() {
    let key = PrivateKey::generate().unwrap();
    let (b, links) = batch(&key, 7, 5, GENESIS);
    let seal = b.statement_json().get().to_owned();
    let hashes: Vec<&str> = links.iter().map(|(_, h, _)| h.as_str()).collect();
    let again = SignedBatch::from_seal(&seal, &key.key_id(), "log1", 7, &hashes).unwrap();
    for i in 0..5 {
        assert_eq!(
            receipt_of(&again, &links, 7, i),
            receipt_of(&b, &links, 7, i)
        );
    }
    let own = SignedBatch::from_own_seal(&seal, 7, &hashes).unwrap();
    assert_eq!(own.path(9).unwrap(), b.path(9).unwrap());

    // One link rewritten (its hash recomputed): the root no longer matches.
    let forged = link_hash(
        &links[1].0,
        8,
        r#"{"id":"ex_8","outcome":"ok","tool":"evil"}"#,
    );
    let mut changed = hashes.clone();
    changed[1] = &forged;
    let refused = SignedBatch::from_seal(&seal, &key.key_id(), "log1", 7, &changed);
    assert!(
        matches!(refused, Err(ReceiptError::SealMismatch(_))),
        "{refused:?}"
    );
    assert!(SignedBatch::from_own_seal(&seal, 7, &changed).is_err());
    // Another range, one link fewer, another log, another key.
    for (first, n) in [(8, 5), (7, 4)] {
        let refused = SignedBatch::from_seal(&seal, &key.key_id(), "log1", first, &hashes[..n]);
        assert!(
            matches!(refused, Err(ReceiptError::SealMismatch(_))),
            "{refused:?}"
        );
    }
    let refused = SignedBatch::from_seal(&seal, &key.key_id(), "log2", 7, &hashes);
    assert!(
        matches!(refused, Err(ReceiptError::OtherLog { .. })),
        "{refused:?}"
    );
    let other = PrivateKey::generate().unwrap();
    let refused = SignedBatch::from_seal(&seal, &other.key_id(), "log1", 7, &hashes);
    assert!(
        matches!(refused, Err(ReceiptError::Batch(_))),
        "{refused:?}"
    );
    // Not a seal at all.
    assert!(SignedBatch::from_seal("{}", &key.key_id(), "log1", 7, &hashes).is_err());
    assert!(SignedBatch::from_seal("not json", &key.key_id(), "log1", 7, &hashes).is_err());
}
