//! Sleeps for an hour inside a host call.

use cordon_sdk::Error;

#[cordon_sdk::tool(name = "sleep")]
fn nap(_: serde_json::Value) -> Result<(), Error> {
    std::thread::sleep(std::time::Duration::from_secs(3600));
    Ok(())
}
