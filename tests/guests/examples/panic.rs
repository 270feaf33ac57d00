//! Panics with a recognisable message.

use cordon_sdk::Error;

#[cordon_sdk::tool(name = "panic")]
fn boom(_: serde_json::Value) -> Result<(), Error> {
    panic!("hostile guest panicked on purpose");
}
