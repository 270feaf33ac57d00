//! Checking a tool's input before anything is instantiated, the same way for the server and
//! `cordon run`: UTF-8, bounded nesting, JSON without duplicate keys (`cordon_core::json`), then
//! the tool's input schema. Every refusal is one line saying what is wrong and where.

use serde_json::Value;

/// Checks `bytes` against the tool's input schema; returns the input as text, or the reason it
/// is refused (the execution's `invalid_input` error).
pub fn check<'a>(
    bytes: &'a [u8],
    validator: Option<&jsonschema::Validator>,
) -> Result<&'a str, String> {
    let value = cordon_core::json::parse_input(bytes).map_err(|e| e.to_string())?;
    schema_error(&value, validator).map_or(Ok(()), Err)?;
    std::str::from_utf8(bytes).map_err(|_| cordon_core::json::InputError::NotUtf8.to_string())
}

/// The first schema violation of `value`, worded for the caller.
pub fn schema_error(value: &Value, validator: Option<&jsonschema::Validator>) -> Option<String> {
    let err = validator?.iter_errors(value).next()?;
    let at = err.instance_path().to_string();
    let at = if at.is_empty() {
        "the top level".to_owned()
    } else {
        at
    };
    Some(format!(
        "input does not match the tool's schema at {at}: {err}"
    ))
}

/// The validator for a tool's input schema, or `None` (with the reason) when the schema does not
/// compile.
pub fn validator(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::validator_for(schema).map_err(|e| e.to_string())
}
