//! Why a bundle was refused or a decision could not be made. Messages name the module or rule
//! and say what to change.

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecideError {
    /// The bundle cannot be read or is not a bundle (no modules, too large, a bad manifest).
    #[error("{0}")]
    Bundle(String),
    /// A module does not parse or compile.
    #[error("{module}: {message}")]
    Module { module: String, message: String },
    /// The evaluation failed: the call is denied.
    #[error("the decision could not be evaluated: {0}")]
    Eval(String),
}
