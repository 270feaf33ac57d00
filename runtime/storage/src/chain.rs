//! The hash chain every backend keeps, and its verification, independent of how links are
//! stored.
//!
//! A link's hash is `sha256(prev_hash || "\n" || seq || "\n" || body)` in lowercase hex, where
//! `body` is the canonical JSON of the event (an execution record, or an administrative event)
//! and `prev_hash` the hash of the link before it: 64 zeros for the first, or the retention
//! anchor once older links were pruned. Executions and administrative events share one sequence
//! and one chain.
//!
//! Beside its hash, each link stores one *check byte* per field of its body (`checks.rs`), which
//! lets [`Walk`] name the field an edit changed, where the hash alone can only say that the link
//! changed.
//!
//! [`Walk`] takes the links in sequence order and reports every problem by link: an edited
//! field, a link that no longer decodes, a gap, an insertion, a reordering, and, against signed
//! checkpoints held elsewhere, a truncated tail or a rewritten prefix.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use crate::checks::{edited_fields, field_checks};
pub use cordon_core::link::{GENESIS, link_hash};

/// The anchor the chain starts after, from its two stored values (none: the genesis, 0).
pub(crate) fn anchor_of(
    hash: Option<String>,
    seq: Option<String>,
) -> Result<(String, i64), crate::error::StorageError> {
    let seq = seq
        .map(|s| {
            s.parse()
                .map_err(|_| crate::error::StorageError::Corrupt("anchor_seq".into()))
        })
        .transpose()?
        .unwrap_or(0);
    Ok((hash.unwrap_or_else(|| GENESIS.to_owned()), seq))
}

/// Most problems a report lists (it always counts them all).
const MAX_LISTED: usize = 100;

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChainReport {
    pub intact: bool,
    /// Links (executions and administrative events) checked.
    pub records: u64,
    /// Sequence number of the newest link (or of the anchor when the log is empty).
    pub size: i64,
    /// Every problem found (at most 100 listed), each naming the link.
    pub problems: Vec<String>,
    /// Problems found in all.
    pub problem_count: u64,
    /// Hash of the newest link (or of the anchor when the log is empty).
    pub head: String,
    /// Checkpoints the log was checked against.
    pub checkpoints_checked: u64,
    /// Checkpoints older than the retention anchor: the links they cover were pruned, so they
    /// can be neither confirmed nor refuted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unprovable: Vec<String>,
}

/// One link as a backend read it, ready to be checked.
#[derive(Debug)]
pub struct Link {
    pub seq: i64,
    /// How the report names it besides its number (an execution id, an event kind).
    pub label: String,
    /// The canonical body rebuilt from what is stored.
    pub body: String,
    /// The hash stored with it.
    pub stored_hash: String,
    /// Its check bytes, when it has them (links written before they existed do not).
    pub checks: Option<Vec<u8>>,
    /// Problems the backend found comparing stored columns with the body (an index column
    /// that no longer says what the hashed body says).
    pub column_problems: Vec<String>,
}

/// A checkpoint the log must be consistent with: its size (the last sequence number it covers)
/// and the hash of that link. The caller checked its signature.
#[derive(Debug, Clone)]
pub struct Claim {
    pub size: i64,
    pub head: String,
    /// How the report names it (for example its signing time).
    pub label: String,
}

/// Verification of a chain, fed link by link in sequence order.
#[derive(Debug)]
pub struct Walk {
    anchor_hash: String,
    anchor_seq: i64,
    expected_prev: String,
    expected_seq: i64,
    prev_bad: bool,
    problems: Vec<String>,
    count: u64,
    records: u64,
    claims: BTreeMap<i64, Vec<Claim>>,
    claims_checked: u64,
    unprovable: Vec<String>,
}

impl Walk {
    /// A walk starting after the anchor (`GENESIS`, 0 for a log never pruned).
    pub fn new(anchor_hash: &str, anchor_seq: i64) -> Self {
        Walk {
            anchor_hash: anchor_hash.to_owned(),
            anchor_seq,
            expected_prev: anchor_hash.to_owned(),
            expected_seq: anchor_seq + 1,
            prev_bad: false,
            problems: Vec::new(),
            count: 0,
            records: 0,
            claims: BTreeMap::new(),
            claims_checked: 0,
            unprovable: Vec::new(),
        }
    }

    /// Checkpoints to hold the log against (before the first link is fed).
    pub fn claim(&mut self, claims: impl IntoIterator<Item = Claim>) {
        for c in claims {
            self.claims.entry(c.size).or_default().push(c);
        }
    }

    pub fn note(&mut self, problem: String) {
        self.count += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push(problem);
        }
    }

    /// A link whose `field` no longer decodes: it cannot be checked, and the chain is picked up
    /// again after it (from its stored hash, when that is readable).
    pub fn unreadable(&mut self, seq: i64, field: &str, stored_hash: Option<String>) {
        self.records += 1;
        self.note(format!(
            "record {seq}: field {field} is unreadable (the record was edited)"
        ));
        self.check_claims(seq, stored_hash.as_deref());
        self.expected_prev = stored_hash.unwrap_or_default();
        self.expected_seq = seq + 1;
        self.prev_bad = true;
    }

    pub fn link(&mut self, link: Link) {
        self.records += 1;
        let Link {
            seq,
            label,
            body,
            stored_hash,
            checks,
            column_problems,
        } = link;
        let name = format!("record {seq} ({label})");
        if seq != self.expected_seq {
            if seq > self.expected_seq {
                self.note(format!(
                    "{name}: expected record {} here; records {}..{} are missing",
                    self.expected_seq,
                    self.expected_seq,
                    seq - 1
                ));
            } else {
                self.note(format!(
                    "{name}: expected record {} here; the records are out of order",
                    self.expected_seq
                ));
            }
        }
        for p in column_problems {
            self.note(format!("{name}: {p}"));
        }
        let bad = link_hash(&self.expected_prev, seq, &body) != stored_hash;
        if bad {
            // What changed in this link itself, by its check bytes (the hash cannot tell).
            let fields = checks.as_ref().and_then(|c| edited_fields(&body, c));
            let problem = if seq != self.expected_seq {
                format!(
                    "{name}: does not link to the record before it (a record was deleted, inserted or reordered)"
                )
            } else {
                match fields {
                    Some(f) if !f.is_empty() => format!(
                        "{name}: field {} was edited (contents do not match its hash)",
                        f.join(", ")
                    ),
                    _ if self.prev_bad => format!(
                        "{name}: does not match its hash, or the record before it was changed"
                    ),
                    _ if checks.is_none() => {
                        format!("{name}: contents do not match its hash (the record was edited)")
                    }
                    _ => format!(
                        "{name}: contents do not match its hash (the record was edited, or its hash was replaced)"
                    ),
                }
            };
            self.note(problem);
        } else if let Some(c) = &checks
            && edited_fields(&body, c).is_none_or(|f| !f.is_empty())
        {
            self.note(format!(
                "{name}: its field check bytes were edited (the record itself matches its hash)"
            ));
        }
        self.check_claims(seq, Some(&stored_hash));
        self.prev_bad = bad;
        self.expected_prev = stored_hash;
        self.expected_seq = seq + 1;
    }

    fn check_claims(&mut self, seq: i64, stored: Option<&str>) {
        let Some(claims) = self.claims.remove(&seq) else {
            return;
        };
        for c in claims {
            self.claims_checked += 1;
            if stored != Some(c.head.as_str()) {
                self.note(format!(
                    "record {seq}: differs from checkpoint {} ({}): the log was rewritten at or before record {seq}",
                    c.size, c.label
                ));
            }
        }
    }

    /// The report, after the last link.
    pub fn finish(mut self) -> ChainReport {
        let last = self.expected_seq - 1;
        let claims = std::mem::take(&mut self.claims);
        for (size, claims) in claims {
            for c in claims {
                if size > last {
                    self.claims_checked += 1;
                    self.note(format!(
                        "the log ends at record {last}, but checkpoint {size} ({}) covers records up to {size}: records {}..{size} were deleted",
                        c.label,
                        last + 1
                    ));
                } else if size == self.anchor_seq {
                    self.claims_checked += 1;
                    if c.head != self.anchor_hash {
                        self.note(format!(
                            "the retention anchor (record {size}) differs from checkpoint {size} ({}): the log was rewritten before it",
                            c.label
                        ));
                    }
                } else if size < self.anchor_seq {
                    self.unprovable.push(format!(
                        "checkpoint {size} ({}) is older than the retention anchor (record {}): the records it covers were pruned; check a newer checkpoint",
                        c.label, self.anchor_seq
                    ));
                }
                // Other sizes were checked on the way (a missing link there is a gap, reported).
                else {
                    self.claims_checked += 1;
                    self.note(format!(
                        "record {size} is missing, so checkpoint {size} ({}) cannot be confirmed",
                        c.label
                    ));
                }
            }
        }
        ChainReport {
            intact: self.count == 0,
            records: self.records,
            size: last,
            problems: self.problems,
            problem_count: self.count,
            head: self.expected_prev,
            checkpoints_checked: self.claims_checked,
            unprovable: self.unprovable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn check_bytes_name_the_edited_field() {
        let a = json!({"id": "x", "n": 1, "usage": {"fuel": 5, "denials": []}}).to_string();
        let checks = field_checks(&a);
        assert_eq!(checks.len(), 4);
        assert_eq!(edited_fields(&a, &checks), Some(vec![]));
        let b = json!({"id": "x", "n": 1, "usage": {"fuel": 6, "denials": []}}).to_string();
        assert_eq!(edited_fields(&b, &checks), Some(vec!["usage.fuel".into()]));
        let c = json!({"id": "x", "n": 1, "usage": {"fuel": 5}}).to_string();
        assert_eq!(edited_fields(&c, &checks), None);
        assert_eq!(edited_fields("[1]", &checks), None);
        assert!(field_checks("not json").is_empty());
    }

    /// The check bytes as version 4 logs were first written: walked over a parsed `Value`. The
    /// bytes read from the text must be the same, or those logs would report edits.
    fn checks_via_value(v: &Value, prefix: &str, out: &mut Vec<u8>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    checks_via_value(v, &path, out);
                }
            }
            other => out.push(crate::checks::check_byte(prefix, &other.to_string())),
        }
    }

    #[test]
    fn check_bytes_read_from_the_text_are_those_of_the_parsed_value() {
        let bodies = [
            json!({"b": 1, "a": -2, "c": null, "d": true, "e": 1.5e300}),
            json!({"s": "quote \" backslash \\ tab \t nl \n ctl \u{1} é 漢 🦀", "k": ""}),
            json!({"usage": {"z": 0, "denials": [{"kind": "fs", "path": "/x"}], "inner": {"deep": [1, [2]]}}, "empty": {}}),
            json!({"u64": u64::MAX, "i64": i64::MIN, "list": [], "obj_in_list": [{"a": {"b": 1}}]}),
        ];
        for v in bodies {
            let mut expected = Vec::new();
            checks_via_value(&v, "", &mut expected);
            assert_eq!(field_checks(&v.to_string()), expected, "{v}");
        }
    }

    /// Link `seq` with body `v`, chained to `prev` (which it then becomes).
    fn link(prev: &mut String, seq: i64, v: Value) -> Link {
        let body = v.to_string();
        let h = link_hash(prev, seq, &body);
        *prev = h.clone();
        Link {
            seq,
            label: format!("e{seq}"),
            checks: Some(field_checks(&body)),
            body,
            stored_hash: h,
            column_problems: vec![],
        }
    }

    fn chain(n: i64) -> Vec<Link> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| link(&mut prev, seq, json!({"id": format!("e{seq}"), "x": seq})))
            .collect()
    }

    fn walk(links: Vec<Link>, claims: Vec<(i64, String)>) -> ChainReport {
        let mut w = Walk::new(GENESIS, 0);
        w.claim(claims.into_iter().map(|(size, head)| Claim {
            size,
            head,
            label: "cp".into(),
        }));
        for l in links {
            w.link(l);
        }
        w.finish()
    }

    #[test]
    fn an_intact_chain_and_its_checkpoints_verify() {
        let links = chain(5);
        let head3 = links[2].stored_hash.clone();
        let head5 = links[4].stored_hash.clone();
        let r = walk(links, vec![(3, head3), (5, head5.clone())]);
        assert!(r.intact, "{r:?}");
        assert_eq!((r.records, r.size, r.checkpoints_checked), (5, 5, 2));
        assert_eq!(r.head, head5);
    }

    #[test]
    fn an_edited_field_is_named() {
        let mut links = chain(3);
        links[1].body = json!({"id": "e2", "x": 99}).to_string();
        let r = walk(links, vec![]);
        // Record 3 links to record 2's stored hash, which did not change.
        assert_eq!(r.problem_count, 1, "{r:?}");
        assert_eq!(
            r.problems[0],
            "record 2 (e2): field x was edited (contents do not match its hash)"
        );
    }

    #[test]
    fn a_deleted_last_record_is_caught_by_a_checkpoint() {
        let mut links = chain(4);
        let head4 = links[3].stored_hash.clone();
        links.pop();
        assert!(walk(chain(4).into_iter().take(3).collect(), vec![]).intact);
        let r = walk(links, vec![(4, head4)]);
        assert!(!r.intact);
        assert!(
            r.problems[0].starts_with("the log ends at record 3, but checkpoint 4"),
            "{r:?}"
        );
    }

    #[test]
    fn a_rewritten_suffix_with_recomputed_hashes_is_caught_by_a_checkpoint() {
        let links = chain(4);
        let head3 = links[2].stored_hash.clone();
        // Rewrite from record 2 on, recomputing every hash: the chain itself is consistent.
        let mut prev = links[0].stored_hash.clone();
        let mut forged: Vec<Link> = vec![chain(1).remove(0)];
        for seq in 2..=4 {
            forged.push(link(
                &mut prev,
                seq,
                json!({"id": format!("e{seq}"), "x": seq * 10}),
            ));
        }
        let plain = walk(
            forged
                .iter()
                .map(|l| Link {
                    seq: l.seq,
                    label: l.label.clone(),
                    body: l.body.clone(),
                    stored_hash: l.stored_hash.clone(),
                    checks: l.checks.clone(),
                    column_problems: vec![],
                })
                .collect(),
            vec![],
        );
        assert!(plain.intact, "the chain alone cannot tell");
        let r = walk(forged, vec![(3, head3)]);
        assert!(!r.intact);
        assert_eq!(
            r.problems,
            [
                "record 3: differs from checkpoint 3 (cp): the log was rewritten at or before record 3"
            ]
        );
    }

    #[test]
    fn claims_older_than_the_anchor_are_unprovable() {
        let mut w = Walk::new(&"a".repeat(64), 10);
        w.claim([
            Claim {
                size: 7,
                head: "z".repeat(64),
                label: "old".into(),
            },
            Claim {
                size: 10,
                head: "a".repeat(64),
                label: "anchor".into(),
            },
        ]);
        let r = w.finish();
        assert!(r.intact, "{r:?}");
        assert_eq!(r.unprovable.len(), 1);
        assert_eq!(r.checkpoints_checked, 1);
        let mut w = Walk::new(&"a".repeat(64), 10);
        w.claim([Claim {
            size: 10,
            head: "b".repeat(64),
            label: "other".into(),
        }]);
        assert!(!w.finish().intact);
    }
}
