//! Configuration values a tool receives through its environment. Only the variables the tool's
//! policy grants exist; nothing is inherited from the host.

use crate::Error;

/// The value of `name`, or `None` when the policy does not grant it.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The value of `name`, or a `failed` error naming the missing variable.
pub fn require(name: &str) -> Result<String, Error> {
    var(name).ok_or_else(|| Error::failed(format!("environment variable {name} is not set")))
}
