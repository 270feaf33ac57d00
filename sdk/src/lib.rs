//! Write a cordon tool in Rust.
//!
//! A tool is one function from a deserializable input to a serializable output. The
//! [`tool`] attribute exports it as the `cordon:tool/tool` interface of a WebAssembly component,
//! derives the input and output JSON Schemas with `schemars`, and maps errors:
//!
//! ```ignore
//! use cordon_sdk::{Error, JsonSchema};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct Input { text: String }
//! #[derive(Serialize, JsonSchema)]
//! struct Output { words: usize }
//!
//! #[cordon_sdk::tool(description = "Counts words")]
//! fn word_count(input: Input) -> Result<Output, Error> {
//!     Ok(Output { words: input.text.split_whitespace().count() })
//! }
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` (crate type `cdylib`).
//!
//! - Input that is not valid JSON for `Input` becomes `invalid-input` with serde's message.
//! - [`Error::failed`] becomes `failed`; [`Error::invalid_input`] becomes `invalid-input`.
//! - Files: plain `std::fs` on the directories the tool's policy mounts.
//! - Environment: [`env::var`] reads the variables the policy grants.
//! - HTTP: [`http::get`] and [`http::send`], over `wasi:http`, to hosts the policy allows.

pub mod env;
mod error;
pub mod http;

pub use cordon_sdk_macros::tool;
pub use error::Error;
pub use schemars::JsonSchema;

/// Items the `#[tool]` macro expands to. Not a stable API.
#[doc(hidden)]
pub mod __private {
    use crate::Error;
    use schemars::JsonSchema;
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    pub mod bindings {
        wit_bindgen::generate!({
            path: "../wit",
            world: "toolbox",
            pub_export_macro: true,
            export_macro_name: "export",
            default_bindings_module: "cordon_sdk::__private::bindings",
        });
    }

    pub use bindings::export;
    pub use bindings::exports::cordon::tool::tool::{Error as WitError, Guest, Info};

    /// The `describe()` answer for a tool function: schemas derived from its types.
    pub fn describe<I: JsonSchema, O: JsonSchema>(
        _tool: fn(I) -> Result<O, Error>,
        name: &str,
        version: &str,
        description: &str,
    ) -> Info {
        Info {
            name: name.to_owned(),
            version: version.to_owned(),
            description: description.to_owned(),
            input_schema: schemars::schema_for!(I).as_value().to_string(),
            output_schema: Some(schemars::schema_for!(O).as_value().to_string()),
        }
    }

    /// The `call()` answer: parse, run, serialize, map errors to the contract's variants.
    pub fn call<I: DeserializeOwned, O: Serialize>(
        tool: fn(I) -> Result<O, Error>,
        input: &str,
    ) -> Result<String, WitError> {
        let input: I =
            serde_json::from_str(input).map_err(|e| WitError::InvalidInput(e.to_string()))?;
        let output = tool(input);
        // stdout is line-buffered and the instance is dropped right after the call: flush so
        // a last line without a newline is not lost.
        let _ = std::io::Write::flush(&mut std::io::stdout());
        serde_json::to_string(&output.map_err(WitError::from)?)
            .map_err(|e| WitError::Failed(format!("cannot serialize the output: {e}")))
    }

    impl From<Error> for WitError {
        fn from(e: Error) -> Self {
            match e {
                Error::InvalidInput(m) => WitError::InvalidInput(m),
                Error::Failed(m) => WitError::Failed(m),
            }
        }
    }
}
