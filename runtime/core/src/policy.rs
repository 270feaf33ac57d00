//! The per-tool policy file (`policies/<tool>.toml`).
//!
//! For now a policy sets limits and the publishers allowed to sign the tool; filesystem, network,
//! environment and access sections arrive with later work. Unknown keys are errors, and every error names the file and the key.

use crate::limits::{LimitError, Limits};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A parsed policy. Anything it does not grant is denied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Publishers (names in the trust store) whose signature this tool must carry. Absent: any
    /// trusted publisher may sign it. Present but empty: nobody may, the tool cannot run.
    #[serde(default)]
    pub publishers: Option<Vec<String>>,
    /// Overrides of single limits; the rest keep their defaults.
    #[serde(default)]
    pub limits: LimitOverrides,
}

/// The `[limits]` section: every key optional, same names as [`Limits`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    pub fuel: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub table_elements: Option<u64>,
    pub instances: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub max_input_bytes: Option<u64>,
    pub max_output_bytes: Option<u64>,
    pub max_log_bytes: Option<u64>,
}

impl LimitOverrides {
    /// `base` with every value this section sets replaced.
    pub fn apply(&self, base: &Limits) -> Limits {
        Limits {
            fuel: self.fuel.unwrap_or(base.fuel),
            memory_bytes: self.memory_bytes.unwrap_or(base.memory_bytes),
            table_elements: self.table_elements.unwrap_or(base.table_elements),
            instances: self.instances.unwrap_or(base.instances),
            timeout_ms: self.timeout_ms.unwrap_or(base.timeout_ms),
            max_input_bytes: self.max_input_bytes.unwrap_or(base.max_input_bytes),
            max_output_bytes: self.max_output_bytes.unwrap_or(base.max_output_bytes),
            max_log_bytes: self.max_log_bytes.unwrap_or(base.max_log_bytes),
        }
    }
}

/// A policy file that cannot be used. The message always starts with the file's path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    #[error("{path}: cannot read: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {error}")]
    Limit { path: PathBuf, error: LimitError },
}

impl Policy {
    /// Reads and parses a policy file; see [`Policy::parse`].
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|error| PolicyError::Read {
            path: path.to_owned(),
            error,
        })?;
        Self::parse(&text, path)
    }

    /// Parses policy text; `path` is only used to name the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, PolicyError> {
        toml::from_str(text).map_err(|e| PolicyError::Parse {
            path: path.to_owned(),
            message: describe_toml_error(&e),
        })
    }

    /// The limits a call under this policy runs with: defaults, overridden by the policy, all
    /// checked against the server caps.
    pub fn effective_limits(
        &self,
        defaults: &Limits,
        caps: &Limits,
        path: &Path,
    ) -> Result<Limits, PolicyError> {
        let limits = self.limits.apply(defaults);
        limits
            .check_within(caps)
            .map_err(|error| PolicyError::Limit {
                path: path.to_owned(),
                error,
            })?;
        Ok(limits)
    }
}

/// toml's own message spans several lines with a source excerpt; keep the first line and the
/// line/column so errors fit on one line.
fn describe_toml_error(e: &toml::de::Error) -> String {
    let message = e.message().trim().to_owned();
    match e.span() {
        Some(span) => format!("{message} (at byte {})", span.start),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Policy, PolicyError> {
        Policy::parse(text, Path::new("policies/t.toml"))
    }

    #[test]
    fn empty_policy_is_the_closed_default() {
        let p = parse("").unwrap();
        let l = p
            .effective_limits(&Limits::default(), &Limits::server_caps(), Path::new("x"))
            .unwrap();
        assert_eq!(l, Limits::default());
    }

    #[test]
    fn overrides_apply_and_caps_hold() {
        let p = parse("[limits]\nfuel = 5\ntimeout_ms = 100\n").unwrap();
        let l = p
            .effective_limits(&Limits::default(), &Limits::server_caps(), Path::new("x"))
            .unwrap();
        assert_eq!((l.fuel, l.timeout_ms), (5, 100));
        assert_eq!(l.memory_bytes, Limits::default().memory_bytes);

        let p = parse("[limits]\nmemory_bytes = 99999999999\n").unwrap();
        let err = p
            .effective_limits(
                &Limits::default(),
                &Limits::server_caps(),
                Path::new("policies/t.toml"),
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "policies/t.toml: limits.memory_bytes: 99999999999 exceeds the server cap of 1073741824"
        );
    }

    #[test]
    fn unknown_keys_are_errors_that_name_file_and_key() {
        let err = parse("[limits]\nfule = 5\n").unwrap_err().to_string();
        assert!(
            err.starts_with("policies/t.toml: unknown field `fule`"),
            "{err}"
        );
        let err = parse("[limitz]\n").unwrap_err().to_string();
        assert!(
            err.starts_with("policies/t.toml: unknown field `limitz`"),
            "{err}"
        );
    }
}
