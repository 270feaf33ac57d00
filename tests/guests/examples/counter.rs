//! Counts its calls in a global. Every call runs in a fresh instance, so it must always say 1.

use cordon_sdk::Error;
use std::sync::atomic::{AtomicU64, Ordering};

static CALLS: AtomicU64 = AtomicU64::new(0);

#[cordon_sdk::tool(name = "counter")]
fn count(_: serde_json::Value) -> Result<u64, Error> {
    Ok(CALLS.fetch_add(1, Ordering::SeqCst) + 1)
}
