//! The one way cordon reads a JSON input: nesting bounded before parsing, and duplicate object
//! keys refused. `{"text":5,"text":"ok"}` means one thing to a parser that keeps the last value
//! and another to one that keeps the first, so a schema check on one reading could pass what the
//! guest then reads differently; refusing duplicates gives every input exactly one meaning.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Deepest JSON nesting accepted in an input; deeper documents are refused before parsing
/// (a cheap guard against parser stack exhaustion; serde_json's own limit is 128).
pub const MAX_JSON_DEPTH: usize = 64;

/// The nesting depth of a JSON text, counting brackets outside strings.
pub fn json_depth(text: &[u8]) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in text {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Why an input was refused, worded for the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    #[error("input is not UTF-8")]
    NotUtf8,
    #[error("input nests deeper than {MAX_JSON_DEPTH} levels")]
    TooDeep,
    #[error("input is not valid JSON: {0}")]
    NotJson(String),
}

/// Parses an input: UTF-8, at most [`MAX_JSON_DEPTH`] deep, valid JSON without duplicate keys.
pub fn parse_input(bytes: &[u8]) -> Result<Value, InputError> {
    let text = std::str::from_utf8(bytes).map_err(|_| InputError::NotUtf8)?;
    if json_depth(bytes) > MAX_JSON_DEPTH {
        return Err(InputError::TooDeep);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let value = de
        .deserialize_any(StrictVisitor)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| InputError::NotJson(e.to_string()))?;
    Ok(value)
}

struct Strict(Value);

impl<'de> de::Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key {key:?}; each key may appear once in an object"
                )));
            }
            let Strict(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_brackets_outside_strings() {
        assert_eq!(json_depth(br#"{"a":[1,{"b":2}]}"#), 3);
        assert_eq!(json_depth(br#"{"a":"[[[[{{{{"}"#), 1);
        assert_eq!(json_depth(br#"{"a":"\"[[["}"#), 1);
        assert_eq!(json_depth(&b"[".repeat(100)), 100);
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        for dup in [
            r#"{"text":5,"text":"ok"}"#,
            r#"{"a":{"b":1,"b":1}}"#,
            r#"[{"x":1,"y":2,"x":3}]"#,
            r#"{"t\u0065xt":1,"text":2}"#,
        ] {
            let err = parse_input(dup.as_bytes()).unwrap_err();
            assert!(
                matches!(&err, InputError::NotJson(m) if m.contains("duplicate key")),
                "{dup}: {err}"
            );
        }
        assert_eq!(
            parse_input(br#"{"a":{"b":[1,2.5,null,true,"s"]},"c":-1}"#).unwrap(),
            serde_json::json!({"a":{"b":[1,2.5,null,true,"s"]},"c":-1})
        );
    }

    #[test]
    fn other_refusals_are_named() {
        assert_eq!(parse_input(b"\xff"), Err(InputError::NotUtf8));
        assert_eq!(parse_input(&b"[".repeat(65)), Err(InputError::TooDeep));
        assert!(matches!(parse_input(b"{} x"), Err(InputError::NotJson(_))));
        assert!(matches!(parse_input(b""), Err(InputError::NotJson(_))));
    }
}
