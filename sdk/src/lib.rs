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
//! - Progress: [`progress`] tells the caller of a long call how far it has come.

pub mod env;
mod error;
pub mod http;

pub use cordon_sdk_macros::tool;

/// Tells the caller how far this call has come: `done` units of work finished, of `total` when
/// known, with a short status line. Cheap: call it as often as is natural (per item, per page);
/// the host forwards at most the policy's `progress_per_sec` reports a second and drops the
/// rest, so every report should carry the whole state, not an increment. A caller that asked for
/// progress sees it as MCP `notifications/progress` or as `progress` server-sent events; the
/// number of reports is in the call's usage record. Messages longer than the policy's
/// `max_progress_message_bytes` are cut.
///
/// ```ignore
/// for (i, page) in pages.iter().enumerate() {
///     fetch(page)?;
///     cordon_sdk::progress(i as u64 + 1, Some(pages.len() as u64), &format!("fetched {page}"));
/// }
/// ```
pub fn progress(done: u64, total: Option<u64>, message: &str) {
    __private::bindings::cordon::tool::progress::report(done, total, message);
}
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
            input_schema: standard(schemars::schema_for!(I).to_value()).to_string(),
            output_schema: Some(standard(schemars::schema_for!(O).to_value()).to_string()),
        }
    }

    /// The formats JSON Schema 2020-12 defines. schemars also writes its own (`uint`, `int32`,
    /// `double`, ...), which validators warn about; the numeric bounds it writes beside them
    /// (`minimum: 0` for unsigned types) already say what they mean, so they are dropped.
    const STANDARD_FORMATS: &[&str] = &[
        "date-time",
        "date",
        "time",
        "duration",
        "email",
        "idn-email",
        "hostname",
        "idn-hostname",
        "ipv4",
        "ipv6",
        "uri",
        "uri-reference",
        "iri",
        "iri-reference",
        "uuid",
        "uri-template",
        "json-pointer",
        "relative-json-pointer",
        "regex",
    ];

    /// `schema` with every non-standard `format` removed, at any depth.
    pub fn standard(mut schema: serde_json::Value) -> serde_json::Value {
        fn walk(v: &mut serde_json::Value) {
            match v {
                serde_json::Value::Object(map) => {
                    if map
                        .get("format")
                        .and_then(|f| f.as_str())
                        .is_some_and(|f| !STANDARD_FORMATS.contains(&f))
                    {
                        map.remove("format");
                    }
                    map.values_mut().for_each(walk);
                }
                serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
                _ => {}
            }
        }
        walk(&mut schema);
        schema
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
