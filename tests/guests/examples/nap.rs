//! Sleeps for the number of milliseconds it is given (at most 10 s), then answers how long it
//! slept: a tool that waits rather than computes, for concurrency tests and benchmarks.
//!
//! Written against the WIT contract directly: its name, `nap-0000`, must stay a plain string in
//! the component's data, because the restart benchmark rewrites the `0000` in the bytes to
//! publish many distinct tools from one build. (Through the SDK, the optimizer turns an 8-byte
//! name into an integer constant that no byte search finds; `black_box` keeps it as data.)

wit_bindgen::generate!({ path: "../../wit/v0.1", world: "toolbox" });

use exports::cordon::tool::tool::{Error, Guest, Info};

const NAME: &str = "nap-0000";

struct Nap;

impl Guest for Nap {
    fn describe() -> Info {
        Info {
            name: core::hint::black_box(NAME).to_owned(),
            version: "0.1.0".into(),
            description: "sleeps for the given milliseconds".into(),
            input_schema: r#"{"type":"object","properties":{"ms":{"type":"integer","minimum":0,"description":"Milliseconds to sleep, 0 to 10000."}},"required":["ms"]}"#.into(),
            output_schema: Some(
                r#"{"type":"object","properties":{"ms":{"type":"integer"}},"required":["ms"]}"#
                    .into(),
            ),
        }
    }

    fn call(input: String) -> Result<String, Error> {
        let input: serde_json::Value = serde_json::from_str(&input)
            .map_err(|e| Error::InvalidInput(format!("input is not JSON: {e}")))?;
        let ms = input["ms"]
            .as_u64()
            .ok_or_else(|| Error::InvalidInput("ms must be a non-negative integer".into()))?;
        if ms > 10_000 {
            return Err(Error::InvalidInput("ms is at most 10000".into()));
        }
        std::thread::sleep(std::time::Duration::from_millis(ms));
        Ok(serde_json::json!({ "ms": ms }).to_string())
    }
}

export!(Nap);
