//! The input document a decision reads, as a JSON Schema, and the check that a bundle only
//! reads fields it has: a typo in a field name (`input.caller.role`) is an error when the
//! bundle is applied or tested, not a call silently denied.

use crate::bundle::Bundle;
use crate::error::DecideError;
use serde_json::Value;

/// The input document's JSON Schema. `arguments` (the call's input) and `caller.claims` (a
/// token's claims) are whatever they are; everything else is listed.
pub const INPUT_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "cordon decision input",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "action": {
      "enum": ["invoke", "list", "publish", "policy_change", "key_change"],
      "description": "invoke: a call; list: whether a listing shows the tool; publish, policy_change, key_change: an operator's change"
    },
    "caller": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "id": {"type": "string", "description": "a key id, issuer#subject, or cert:subject:..., cert:dns:..., cert:uri:... for a client certificate"},
        "name": {"type": "string"},
        "kind": {"enum": ["key", "token", "certificate"]},
        "roles": {"type": "array", "items": {"type": "string"}},
        "issuer": {"type": "string", "description": "token callers"},
        "subject": {"type": "string", "description": "token callers: the token's sub; certificate callers: the certificate's subject (RFC 4514)"},
        "claims": {"type": "object", "description": "token callers: every claim of the token"},
        "certificate": {
          "type": "object",
          "description": "certificate callers: what the verified client certificate says besides its subject",
          "additionalProperties": false,
          "properties": {
            "fingerprint": {"type": "string", "description": "sha256: and the hex SHA-256 of its DER"},
            "dns": {"type": "array", "items": {"type": "string"}, "description": "its DNS subject alternative names"},
            "uris": {"type": "array", "items": {"type": "string"}, "description": "its URI subject alternative names (a SPIFFE ID is one)"}
          }
        }
      }
    },
    "tool": {
      "type": "object",
      "description": "the tool called or listed; for publish and policy_change, the tool as it would be after the change; absent for key_change",
      "additionalProperties": false,
      "properties": {
        "name": {"type": "string"},
        "version": {"type": "string"},
        "publisher": {"type": "string"},
        "digest": {"type": "string"},
        "read_only": {"type": "boolean", "description": "its policy grants no network and no writable mount"},
        "open_world": {"type": "boolean", "description": "its policy allows network destinations"},
        "hosts": {"type": "array", "items": {"type": "string"}, "description": "the network destinations its policy allows, as scheme://host:port (https://*.example.com:443)"},
        "mounts": {
          "type": "array",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "properties": {"path": {"type": "string"}, "writable": {"type": "boolean"}}
          }
        },
        "source": {"type": "string", "description": "the OCI reference it was published from"},
        "annotations": {
          "type": "object",
          "additionalProperties": false,
          "description": "what the tool says of itself (MCP's tool annotations, only those it gives): its author's claims, never checked, unlike read_only and open_world",
          "properties": {
            "title": {"type": "string"},
            "readOnlyHint": {"type": "boolean"},
            "destructiveHint": {"type": "boolean"},
            "idempotentHint": {"type": "boolean"},
            "openWorldHint": {"type": "boolean"}
          }
        }
      }
    },
    "arguments": {"description": "invoke: the call's input, as sent; publish: the signer and the description; policy_change: the new policy (its TOML as JSON, null for the closed default); key_change: operation (create, revoke), name, role and, to create, description and expires_in_secs"},
    "request": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "address": {"type": "string", "description": "the client's address"},
        "time": {"type": "string", "description": "UTC, RFC 3339"},
        "weekday": {"enum": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]},
        "hour": {"type": "integer", "minimum": 0, "maximum": 23},
        "minute": {"type": "integer", "minimum": 0, "maximum": 59},
        "protocol": {"enum": ["rest", "mcp"]},
        "mcp_method": {"type": "string"}
      }
    }
  }
}"#;

/// The schema, parsed.
pub fn schema() -> Value {
    serde_json::from_str(INPUT_SCHEMA).unwrap_or(Value::Null)
}

/// Every `input.a.b...` a module reads (outside comments and strings), with its line.
fn references(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let bytes = line.as_bytes();
        let mut i = 0;
        let mut quote: Option<u8> = None;
        while i < bytes.len() {
            let b = bytes[i];
            match quote {
                Some(q) if b == b'\\' && q == b'"' => i += 1,
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None if b == b'#' => break,
                None if b == b'"' || b == b'`' => quote = Some(b),
                None if line[i..].starts_with("input.")
                    && (i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != b'.') =>
                {
                    let mut path = Vec::new();
                    let mut j = i + "input".len();
                    while j < bytes.len() && bytes[j] == b'.' {
                        let start = j + 1;
                        let mut end = start;
                        while end < bytes.len() && is_ident(bytes[end]) {
                            end += 1;
                        }
                        if end == start {
                            break;
                        }
                        path.push(line[start..end].to_owned());
                        j = end;
                    }
                    out.push((n + 1, path));
                    i = j;
                    continue;
                }
                None => {}
            }
            i += 1;
        }
    }
    out
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Checks that every `input.` path of `bundle` names a field of the input document.
pub(crate) fn check_references(bundle: &Bundle) -> Result<(), DecideError> {
    let schema = schema();
    for m in &bundle.modules {
        for (line, path) in references(&m.text) {
            let mut node = &schema;
            for (depth, field) in path.iter().enumerate() {
                let Some(properties) = node.get("properties").and_then(Value::as_object) else {
                    // A value of any shape (the arguments, a token's claims): anything goes.
                    break;
                };
                match properties.get(field) {
                    Some(next) => node = next,
                    None => {
                        let known: Vec<&str> = properties.keys().map(String::as_str).collect();
                        let at = if depth == 0 {
                            "input".to_owned()
                        } else {
                            format!("input.{}", path[..depth].join("."))
                        };
                        return Err(DecideError::Module {
                            module: format!("{}:{line}", m.path),
                            message: format!(
                                "input.{} is not in the input document: {at} has {} (`cordon decisions schema` prints it whole)",
                                path[..=depth].join("."),
                                known.join(", ")
                            ),
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::Module;

    fn bundle(text: &str) -> Bundle {
        Bundle::new(
            vec![Module {
                path: "p.rego".into(),
                text: text.into(),
            }],
            "cordon",
        )
        .unwrap()
    }

    #[test]
    fn the_schema_is_a_json_schema_object() {
        let s = schema();
        assert_eq!(s["type"], "object");
        assert!(s["properties"]["caller"]["properties"]["roles"].is_object());
    }

    #[test]
    fn references_are_found_outside_strings_and_comments() {
        let found = references(
            "allow if input.caller.roles[_] == \"input.nope\" # input.comment\nx := my_input.y\ny := input.arguments.path.deep",
        );
        assert_eq!(
            found,
            [
                (1, vec!["caller".to_owned(), "roles".to_owned()]),
                (
                    3,
                    vec!["arguments".to_owned(), "path".to_owned(), "deep".to_owned()]
                )
            ]
        );
    }

    #[test]
    fn a_field_the_document_lacks_is_named_with_what_it_has() {
        assert!(
            check_references(&bundle(
                "allow if input.tool.read_only\nx := input.caller.claims.groups.admins"
            ))
            .is_ok()
        );
        let err = check_references(&bundle(
            "package cordon\n\nallow if input.caller.role == \"x\"",
        ))
        .unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("p.rego:3: input.caller.role is not in the input document"),
            "{message}"
        );
        assert!(
            message.contains("input.caller has certificate, claims, id, issuer, kind, name, roles"),
            "{message}"
        );
        assert!(check_references(&bundle("allow if input.user.name == \"x\"")).is_err());
    }
}
