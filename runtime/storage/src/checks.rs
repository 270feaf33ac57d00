//! Check bytes: one per field of a link's canonical body, the first byte of
//! `sha256(path || 0 || value)`. They are not part of the hash and prove nothing; they let the
//! chain walk (`chain.rs`) name the field an edit changed (an edit keeps a field's byte with
//! probability 1/256), where the hash alone can only say that the link changed.
//!
//! A body's fields are its leaves in order, as (path, JSON text of the value): objects are
//! walked (keys in sorted order, paths joined with `.`, a key given twice counting once, as its
//! last value), anything else is one leaf. On a canonical body (compact, as `serde_json` writes
//! it) a leaf's text is exactly its canonical JSON.
//!
//! This runs for every record appended, so the body is read in one pass straight from its text:
//! no `Value` tree, no map, keys borrowed from the text, one path buffer reused for every field.

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::borrow::Cow;

/// A key as written in the text (borrowed), or unescaped (owned) when it had escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// The members of one JSON object in key order, each with the raw text of its value.
struct Members<'a>(Vec<(Key<'a>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Members<'de>, M::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(32));
                while let Some(entry) = map.next_entry::<Key<'de>, &'de RawValue>()? {
                    members.push(entry);
                }
                // Stable: of a key given twice, the later stays after the earlier...
                members.sort_by(|a, b| a.0.0.cmp(&b.0.0));
                // ...and is the one kept.
                members.dedup_by(|later, earlier| {
                    let same = later.0.0 == earlier.0.0;
                    if same {
                        std::mem::swap(later, earlier);
                    }
                    same
                });
                Ok(Members(members))
            }
        }
        d.deserialize_map(MembersVisitor)
    }
}

/// Calls `leaf(path, text)` for every leaf of the object in `text`, in order, `path` being the
/// buffer the caller started with plus the keys down to the leaf. `None` when `text` (or an
/// object inside it) is not a JSON object.
fn walk(text: &str, path: &mut String, leaf: &mut impl FnMut(&str, &str)) -> Option<()> {
    let Members(members) = serde_json::from_str(text).ok()?;
    for (Key(key), value) in members {
        let len = path.len();
        if len > 0 {
            path.push('.');
        }
        path.push_str(&key);
        let text = value.get();
        if text.starts_with('{') {
            walk(text, path, leaf)?;
        } else {
            leaf(path, text);
        }
        path.truncate(len);
    }
    Some(())
}

pub(crate) fn check_byte(path: &str, value: &str) -> u8 {
    let mut h = Sha256::new();
    h.update(path.as_bytes());
    h.update([0]);
    h.update(value.as_bytes());
    h.finalize()[0]
}

/// One check byte per field of the canonical JSON `body`; none when it is not a JSON object.
pub fn field_checks(body: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    let mut path = String::with_capacity(64);
    match walk(body, &mut path, &mut |p, v| out.push(check_byte(p, v))) {
        Some(()) => out,
        None => Vec::new(),
    }
}

/// The fields of `body` whose check byte differs from `stored`; `None` when the body no longer
/// has the same fields (one was added or removed), so they cannot be paired up.
pub fn edited_fields(body: &str, stored: &[u8]) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut path = String::new();
    walk(body, &mut path, &mut |p, v| {
        fields.push((p.to_owned(), check_byte(p, v)))
    })?;
    if fields.len() != stored.len() {
        return None;
    }
    Some(
        fields
            .into_iter()
            .zip(stored)
            .filter(|((_, byte), b)| byte != *b)
            .map(|((p, _), _)| p)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The definition, written the plain way (a map per object, a path string per field): the
    /// one-pass walk must give the same bytes, in the same order, for every body.
    fn plain<'a>(body: &'a str, prefix: &str, out: &mut Vec<(String, &'a str)>) -> Option<()> {
        let map: BTreeMap<String, &'a RawValue> = serde_json::from_str(body).ok()?;
        for (k, v) in map {
            let path = if prefix.is_empty() {
                k
            } else {
                format!("{prefix}.{k}")
            };
            let text = v.get();
            if text.starts_with('{') {
                plain(text, &path, out)?;
            } else {
                out.push((path, text));
            }
        }
        Some(())
    }

    fn plain_checks(body: &str) -> Vec<u8> {
        let mut out = Vec::new();
        if plain(body, "", &mut out).is_none() {
            return Vec::new();
        }
        out.iter().map(|(p, v)| check_byte(p, v)).collect()
    }

    const BODIES: &[&str] = &[
        r#"{"id":"ex_1","usage":{"fuel_consumed":5,"denials":[{"kind":"network"}],"z":{"b":1,"a":[]}},"outcome":"ok","a":null}"#,
        r#"{"b":1,"a":2,"b":3}"#,
        r#"{"k\"ey":"v","k\u00e9y":{"x":"\u0041"},"":1,"empty":{}}"#,
        r#"{"tool":"echo","input":"{\"message\":\"hi\"}","error":"line\nbreak"}"#,
        r#"{}"#,
        r#"[1,2]"#,
        r#""text""#,
        r#"{"a":{"b":[}}"#,
        r#"{"a":1"#,
        "",
    ];

    #[test]
    fn the_one_pass_walk_gives_the_plain_definitions_bytes() {
        for body in BODIES {
            assert_eq!(field_checks(body), plain_checks(body), "{body}");
        }
        // Leaves of the first: a, id, outcome, usage.denials, usage.fuel_consumed, usage.z.a,
        // usage.z.b.
        let checks = field_checks(BODIES[0]);
        assert_eq!(checks.len(), 7);
        assert!(field_checks("[1,2]").is_empty() && field_checks("{\"a\":1").is_empty());
    }

    #[test]
    fn an_edit_is_named_by_its_path() {
        let body = BODIES[0];
        let stored = field_checks(body);
        assert_eq!(edited_fields(body, &stored), Some(vec![]));
        let edited = body.replace("\"fuel_consumed\":5", "\"fuel_consumed\":6");
        assert_eq!(
            edited_fields(&edited, &stored),
            Some(vec!["usage.fuel_consumed".to_owned()])
        );
        let added = body.replace("\"a\":null", "\"a\":null,\"extra\":1");
        assert_eq!(edited_fields(&added, &stored), None);
    }
}
