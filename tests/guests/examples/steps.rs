//! Works in `steps` steps of `step_ms` milliseconds each (sleeping in a host call), reporting
//! progress after each with `message` (default "step N"); returns how many steps it took.
//! Deterministic in time, unlike a computation, for the tests of progress and cancellation.

use cordon_sdk::Error;
use serde::Deserialize;

#[derive(Deserialize, schemars::JsonSchema)]
struct Input {
    steps: u64,
    step_ms: u64,
    #[serde(default)]
    message: Option<String>,
}

#[cordon_sdk::tool(name = "steps")]
fn steps(input: Input) -> Result<u64, Error> {
    for i in 1..=input.steps {
        std::thread::sleep(std::time::Duration::from_millis(input.step_ms));
        let message = match &input.message {
            Some(m) => m.clone(),
            None => format!("step {i}"),
        };
        cordon_sdk::progress(i, Some(input.steps), &message);
    }
    Ok(input.steps)
}
