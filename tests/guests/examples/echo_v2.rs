//! A second version of `echo` (0.2.0) that says which version answered: the server tests use it
//! for version selection.

use cordon_sdk::Error;
use serde_json::{Map, Value};

#[cordon_sdk::tool(name = "echo", version = "0.2.0", description = "Returns its input, marked")]
fn echo(mut input: Map<String, Value>) -> Result<Map<String, Value>, Error> {
    input.insert("answered_by".into(), "0.2.0".into());
    Ok(input)
}
