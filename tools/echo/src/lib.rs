//! `echo`: returns its input object unchanged. The smallest useful tool; the per-call benchmark
//! uses it.

use cordon_sdk::Error;
use serde_json::{Map, Value};

#[cordon_sdk::tool]
fn echo(input: Map<String, Value>) -> Result<Map<String, Value>, Error> {
    Ok(input)
}
