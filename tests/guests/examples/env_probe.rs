//! Reports the environment it sees, and echoes a variable's value back on request (the tests use
//! it to check that secret values are redacted from everything a tool returns).

use cordon_sdk::Error;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize, schemars::JsonSchema)]
struct Input {
    /// Also print this variable's value to stdout and put it in the error when `fail` is set.
    #[serde(default)]
    leak: Option<String>,
    #[serde(default)]
    fail: bool,
}

#[cordon_sdk::tool(name = "env-probe")]
fn probe(input: Input) -> Result<BTreeMap<String, String>, Error> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    if let Some(name) = input.leak {
        let value = env.get(&name).cloned().unwrap_or_default();
        println!("leaking {name}={value}");
        if input.fail {
            return Err(Error::failed(format!("failed while holding {value}")));
        }
    }
    Ok(env)
}
