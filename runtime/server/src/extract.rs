//! Reading request bodies and query strings with errors that say what is wrong and how to fix
//! it. Handlers take the raw body or query and call these only after checking the caller's role,
//! so a caller without the permission gets 403 whatever it sent (never a parse error that tells
//! it about the endpoint).

use crate::error::ApiError;
use serde::de::DeserializeOwned;

/// Parses a JSON request body into `T`; `example` is a valid body shown in the error.
pub fn json_body<T: DeserializeOwned>(bytes: &[u8], example: &str) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "invalid_body",
            format!("the request body is empty; send JSON such as {example}"),
        ));
    }
    let value = cordon_core::json::parse_input(bytes).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!("the request body is not usable JSON ({e}); send JSON such as {example}"),
        )
    })?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let at = e.path().to_string();
        let at = if at == "." {
            String::new()
        } else {
            format!(" at {at}")
        };
        ApiError::bad_request(
            "invalid_body",
            format!(
                "the request body{at} is wrong: {}; send JSON such as {example}",
                e.into_inner()
            ),
        )
    })
}

/// Parses a query string into `T`.
pub fn query<T: DeserializeOwned>(raw: Option<&str>) -> Result<T, ApiError> {
    serde_urlencoded::from_str(raw.unwrap_or("")).map_err(|e| {
        ApiError::bad_request("invalid_query", format!("the query string is wrong: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Reason {
        reason: String,
    }

    #[test]
    fn body_errors_name_the_problem_and_show_an_example() {
        let example = r#"{"reason": "why"}"#;
        let msg = |b: &[u8]| json_body::<Reason>(b, example).unwrap_err().message;
        assert!(msg(b"").contains("empty"), "{}", msg(b""));
        assert!(
            msg(b"{}").contains("missing field `reason`"),
            "{}",
            msg(b"{}")
        );
        assert!(msg(b"{").contains("not usable JSON"), "{}", msg(b"{"));
        assert!(
            msg(br#"{"reason":1}"#).contains("at reason"),
            "{}",
            msg(br#"{"reason":1}"#)
        );
        assert!(msg(br#"{"reason":"a","x":1}"#).contains("unknown field `x`"));
        assert!(msg(br#"{"reason":"a","reason":"b"}"#).contains("duplicate key"));
        assert!(msg(b"{}").contains(example));
        assert_eq!(
            json_body::<Reason>(br#"{"reason":"r"}"#, example)
                .unwrap()
                .reason,
            "r"
        );
    }
}
