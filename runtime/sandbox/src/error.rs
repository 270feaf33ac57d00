//! Errors of the sandbox's own operations (starting, loading a component). How a *call* ends is
//! not an error of this kind: it is an [`cordon_core::Outcome`] inside an
//! [`cordon_core::Execution`].

/// The engine could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    #[error("cannot configure the wasm engine: {0}")]
    Engine(String),
    #[error("cannot use the compiled-component cache at {path}: {source}")]
    Cache {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the epoch thread: {0}")]
    Ticker(std::io::Error),
}

/// A component that cannot be loaded as a cordon tool.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error("not a WebAssembly binary")]
    NotWasm,
    #[error(
        "this is a core WebAssembly module, not a component; build it for wasm32-wasip2 or wrap it with `wasm-tools component new`"
    )]
    CoreModule,
    #[error("the component is invalid: {0}")]
    Invalid(String),
    #[error("the component imports something cordon does not provide: {0}")]
    UnsupportedImport(String),
    #[error(
        "the component exports neither `cordon:tool/tool@0.2.0` nor `cordon:tool/tool@0.1.0` (build it with cordon-sdk, or against wit/v0.2/tool.wit): {0}"
    )]
    MissingExport(String),
}

/// A tool whose `describe()` did not produce a usable description.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DescribeError {
    /// `describe()` did not return: it broke a limit, trapped, or the host failed.
    #[error("describe() ended with {}: {}", .0.outcome, .0.error.as_deref().unwrap_or(""))]
    Failed(Box<cordon_core::Execution>),
    /// `describe()` returned a toolbox cordon cannot serve.
    #[error("describe() returned a toolbox that cannot be served: {0}")]
    Invalid(String),
    /// `describe()` returned a schema that is not JSON.
    #[error("describe() returned an {field} that is not JSON: {message}")]
    BadSchema {
        field: &'static str,
        message: String,
    },
}
