//! Write a cordon tool in Rust.
//!
//! A tool is one function from a deserializable input to a serializable output. The
//! [`tool`] attribute exports it as the `cordon:tool/tool@0.2.0` interface of a WebAssembly
//! component, derives the input and output JSON Schemas with `schemars`, and maps errors:
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
//! - Content: return a [`Reply`] for images, audio, resource links and embedded resources
//!   beside (or instead of) structured output.
//! - Logging: [`log!`] and [`log()`] send messages to the caller's client.
//! - Asking: [`ask()`] gets a form, a link, a completion or the roots from the caller's client
//!   (see [`mod@ask`]).
//! - Several tools in one component: mark each `#[tool(toolbox)]` and list them once with
//!   [`toolbox!`]`(first, second)`; they share the component's code, version and policy.

pub mod ask;
pub mod env;
mod error;
pub mod http;
mod reply;

pub use cordon_sdk_macros::{tool, toolbox};

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
pub use ask::{Answers, Request, ask, may_ask, resumed};
pub use error::Error;
pub use reply::{Reply, ResourceLink, ToolOutput};
pub use schemars::JsonSchema;

/// Severity of a log message, least to most severe.
pub use __private::bindings::cordon::tool::log::Level;

/// Sends a log message to the caller's client (MCP `notifications/message`): passed on only
/// when the client asked for messages of this level or more severe, at most the policy's
/// `logs_per_sec` a second, cut at its `max_log_message_bytes`, secret values redacted. The
/// number written is in the call's usage record. For the operator's diagnostics use stderr
/// (`eprintln!`): that stays on the server.
pub fn log(level: Level, logger: Option<&str>, data: &impl serde::Serialize) {
    if let Ok(text) = serde_json::to_string(data) {
        __private::bindings::cordon::tool::log::write(level, logger, &text);
    }
}

/// `log!(Level::Info, "fetched {} rows", n)`: [`log()`] of a formatted message, with no
/// logger name.
#[macro_export]
macro_rules! log {
    ($level:expr, $($arg:tt)+) => {
        $crate::log($level, None, &::std::format!($($arg)+))
    };
}

/// Items the `#[tool]` macro expands to. Not a stable API.
#[doc(hidden)]
pub mod __private {
    use crate::Error;
    use crate::reply::ToolOutput;
    use schemars::JsonSchema;
    use serde::de::DeserializeOwned;

    pub mod bindings {
        wit_bindgen::generate!({
            path: "../wit/v0.2",
            world: "toolbox",
            pub_export_macro: true,
            export_macro_name: "export",
            default_bindings_module: "cordon_sdk::__private::bindings",
        });
    }

    pub use bindings::cordon::tool::types::{
        CallContext, Error as WitError, Hints, Reply as WitReply, TaskSupport, ToolInfo, Toolbox,
    };
    pub use bindings::export;
    pub use bindings::exports::cordon::tool::tool::Guest;

    /// One tool of the component, as `#[tool]` declares it.
    #[derive(Debug)]
    pub struct Entry {
        pub name: &'static str,
        pub info: fn() -> ToolInfo,
        pub call: fn(&str) -> Result<WitReply, WitError>,
    }

    /// What `#[tool(...)]` says of a tool beyond its name and description.
    #[derive(Debug, Clone, Copy)]
    pub struct Declared {
        pub title: Option<&'static str>,
        pub input_schema: Option<&'static str>,
        pub hints: Option<Hints>,
        pub task_support: TaskSupport,
    }

    /// Hints with none set (what `#[tool(destructive = true)]` fills in).
    pub fn no_hints() -> Hints {
        Hints {
            read_only: None,
            destructive: None,
            idempotent: None,
            open_world: None,
        }
    }

    /// What `describe()` says of one tool function: schemas derived from its types.
    pub fn info<I: JsonSchema, O: ToolOutput>(
        _tool: fn(I) -> Result<O, Error>,
        name: &str,
        description: &str,
        declared: Declared,
    ) -> ToolInfo {
        let input_schema = declared.input_schema;
        ToolInfo {
            name: name.to_owned(),
            title: declared.title.map(str::to_owned),
            description: description.to_owned(),
            input_schema: match input_schema {
                Some(text) => text.to_owned(),
                None => standard(schemars::schema_for!(I).to_value()).to_string(),
            },
            output_schema: O::output_schema().map(|s| s.to_string()),
            hints: declared.hints,
            task_support: declared.task_support,
        }
    }

    /// The `describe()` answer of a component with `tools`.
    pub fn toolbox(name: &str, version: &str, description: &str, tools: &[Entry]) -> Toolbox {
        Toolbox {
            name: name.to_owned(),
            version: version.to_owned(),
            description: description.to_owned(),
            tools: tools.iter().map(|t| (t.info)()).collect(),
        }
    }

    /// The `call()` answer of a component with `tools`: the one named `name` runs.
    pub fn dispatch(
        tools: &[Entry],
        name: &str,
        input: &str,
        context: CallContext,
    ) -> Result<WitReply, WitError> {
        crate::ask::enter(context);
        let tool = match (name, tools) {
            ("", [only]) => Some(only),
            _ => tools.iter().find(|t| t.name == name),
        };
        match tool {
            Some(tool) => (tool.call)(input),
            None => Err(WitError::Failed(format!(
                "this component has no tool named {name:?}"
            ))),
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

    /// One tool function's `call()`: parse, run, map errors to the contract's variants.
    pub fn call<I: DeserializeOwned, O: ToolOutput>(
        tool: fn(I) -> Result<O, Error>,
        input: &str,
    ) -> Result<WitReply, WitError> {
        let input: I =
            serde_json::from_str(input).map_err(|e| WitError::InvalidInput(e.to_string()))?;
        let output = tool(input);
        // stdout is line-buffered and the instance is dropped right after the call: flush so
        // a last line without a newline is not lost.
        let _ = std::io::Write::flush(&mut std::io::stdout());
        match output.and_then(ToolOutput::into_complete) {
            Ok(complete) => Ok(WitReply::Complete(complete)),
            // Asking ends the round: the requests, and every answer so far as the state.
            Err(Error::Asking(requests)) => Ok(WitReply::InputRequired(
                bindings::cordon::tool::types::InputRequired {
                    requests,
                    state: crate::ask::state(),
                },
            )),
            Err(e) => Err(e.into()),
        }
    }

    impl From<Error> for WitError {
        fn from(e: Error) -> Self {
            match e {
                Error::InvalidInput(m) => WitError::InvalidInput(m),
                Error::Failed(m) => WitError::Failed(m),
                Error::Asking(_) => WitError::Failed("the tool asked for input here".to_owned()),
            }
        }
    }
}
