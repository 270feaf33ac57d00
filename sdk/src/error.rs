//! The error a tool function returns.

use std::fmt;

/// Why a tool call did not produce output. Both variants reach the caller with their message.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The input does not fit what the tool expects (outcome `invalid_input`).
    InvalidInput(String),
    /// The tool ran and failed (outcome `tool_error`).
    Failed(String),
    /// The call needs answers from the caller's client first (made by [`crate::ask()`]).
    #[doc(hidden)]
    Asking(Vec<crate::__private::bindings::cordon::tool::types::KeyedRequest>),
}

impl Error {
    /// The tool ran and failed.
    pub fn failed(message: impl fmt::Display) -> Self {
        Error::Failed(message.to_string())
    }

    /// The input does not fit what the tool expects.
    pub fn invalid_input(message: impl fmt::Display) -> Self {
        Error::InvalidInput(message.to_string())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidInput(m) => write!(f, "invalid input: {m}"),
            Error::Failed(m) => f.write_str(m),
            Error::Asking(requests) => write!(f, "{} answers needed first", requests.len()),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Failed(e.to_string())
    }
}
