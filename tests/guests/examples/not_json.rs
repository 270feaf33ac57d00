//! Written against the WIT contract directly (no SDK): returns output that is not JSON, and
//! reports its own errors through both variants of the contract's `error`.

wit_bindgen::generate!({ path: "../../wit/v0.1", world: "toolbox" });

use exports::cordon::tool::tool::{Error, Guest, Info};

struct Raw;

impl Guest for Raw {
    fn describe() -> Info {
        Info {
            name: "not-json".into(),
            version: "0.1.0".into(),
            description: "returns text that is not JSON".into(),
            input_schema: "{\"type\":\"object\"}".into(),
            output_schema: None,
        }
    }
    fn call(input: String) -> Result<String, Error> {
        match input.as_str() {
            "{\"mode\":\"invalid\"}" => Err(Error::InvalidInput("mode invalid chosen".into())),
            "{\"mode\":\"failed\"}" => Err(Error::Failed("mode failed chosen".into())),
            _ => Ok("this is not json".into()),
        }
    }
}

export!(Raw);
