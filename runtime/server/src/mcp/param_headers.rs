//! SEP-2243 (MCP 2026-07-28): a tool's input schema may mark a string property with
//! `x-mcp-header: NAME`, and a client then sends that argument's value as the header
//! `Mcp-Param-NAME` too, so a proxy can route on it without reading the body. The server must
//! check the header against the body: a missing header for a value in the body, a value that
//! differs, or `=?base64?...?=` that is not valid padded Base64 is refused with HTTP 400 and
//! JSON-RPC error -32020 (HeaderMismatch). A value without that exact wrapper is literal.

use axum::http::HeaderMap;
use base64::Engine as _;
use serde_json::Value;

/// JSON-RPC code of a header that does not match the body.
pub const HEADER_MISMATCH: i64 = -32020;

/// The revision whose requests carry parameter headers.
const REVISION: &str = "2026-07-28";

/// Why a request's parameter headers do not match its body, or `None` when they do (or the
/// request is not a `tools/call` of this revision, or the tool marks no property). `schema` is
/// the called tool's input schema.
pub fn mismatch(headers: &HeaderMap, body: &Value, schema: &Value) -> Option<String> {
    let revision = headers
        .get("mcp-protocol-version")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    if revision != Some(REVISION) || body["method"] != "tools/call" {
        return None;
    }
    let properties = schema.get("properties")?.as_object()?;
    for (name, property) in properties {
        let Some(header) = property.get("x-mcp-header").and_then(Value::as_str) else {
            continue;
        };
        let Some(argument) = body["params"]["arguments"].get(name) else {
            continue;
        };
        let expected = match argument {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other => other.to_string(),
        };
        let field = format!("mcp-param-{}", header.to_ascii_lowercase());
        let Some(sent) = headers.get(field.as_str()) else {
            return Some(format!(
                "argument {name} is in the body but header Mcp-Param-{header} is missing"
            ));
        };
        let Ok(sent) = sent.to_str() else {
            return Some(format!("header Mcp-Param-{header} is not text"));
        };
        let sent = sent.trim();
        let value = match sent
            .strip_prefix("=?base64?")
            .and_then(|rest| rest.strip_suffix("?="))
        {
            Some(encoded) => {
                match base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                {
                    Some(decoded) => decoded,
                    None => {
                        return Some(format!(
                            "header Mcp-Param-{header} is not valid Base64 (padded, standard alphabet) inside =?base64?...?="
                        ));
                    }
                }
            }
            None => sent.to_owned(),
        };
        if value != expected {
            return Some(format!(
                "header Mcp-Param-{header} does not match argument {name} in the body"
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(header: Option<&str>, argument: &str) -> Option<String> {
        let mut headers = HeaderMap::new();
        headers.insert("mcp-protocol-version", "2026-07-28".parse().unwrap());
        if let Some(h) = header {
            headers.insert("mcp-param-region", h.parse().unwrap());
        }
        let body = json!({"method": "tools/call", "params": {"name": "t", "arguments": {"region": argument}}});
        let schema = json!({"type": "object", "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}});
        mismatch(&headers, &body, &schema)
    }

    #[test]
    fn the_header_must_say_what_the_body_says() {
        assert_eq!(check(Some("Hello"), "Hello"), None);
        assert_eq!(check(Some("  Hello "), "Hello"), None);
        assert_eq!(check(Some("=?base64?SGVsbG8=?="), "Hello"), None);
        // Without the whole wrapper it is literal.
        assert_eq!(check(Some("SGVsbG8="), "SGVsbG8="), None);
        assert_eq!(check(Some("=?base64?SGVsbG8="), "=?base64?SGVsbG8="), None);
        for (header, why) in [
            (Some("=?base64?SGVsbG8?="), "Base64"),
            (Some("=?base64?SGVs!!!bG8=?="), "Base64"),
            (Some("Bye"), "does not match"),
            (None, "missing"),
        ] {
            let refused = check(header, "Hello").expect("refused");
            assert!(refused.contains(why), "{header:?}: {refused}");
        }
    }

    #[test]
    fn older_revisions_and_unmarked_tools_are_not_checked() {
        let body =
            json!({"method": "tools/call", "params": {"name": "t", "arguments": {"region": "x"}}});
        let marked =
            json!({"properties": {"region": {"type": "string", "x-mcp-header": "Region"}}});
        assert_eq!(mismatch(&HeaderMap::new(), &body, &marked), None);
        let mut modern = HeaderMap::new();
        modern.insert("mcp-protocol-version", "2026-07-28".parse().unwrap());
        assert_eq!(
            mismatch(&modern, &body, &json!({"properties": {"region": {}}})),
            None
        );
    }
}
