//! A bundle: the Rego modules an operator applies together, and the package that answers.

use crate::error::DecideError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The optional manifest in a bundle's directory: `{"package": "example.authz"}` names the
/// package whose `allow`, `deny` and `approval` decide, so that policies written for OPA run
/// unchanged.
pub const MANIFEST: &str = "manifest.json";

/// Modules one bundle may hold, and their total size: far beyond a readable policy, small
/// enough that applying one cannot exhaust a node.
const MAX_MODULES: usize = 256;
const MAX_BYTES: usize = 1 << 20;

/// One `.rego` file, by its path in the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Module {
    pub path: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    /// In path order.
    pub modules: Vec<Module>,
    /// The package that answers, dotted (`cordon` by default).
    pub package: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    package: String,
}

impl Bundle {
    pub const DEFAULT_PACKAGE: &'static str = "cordon";

    /// A bundle of `modules` answering in `package`, checked.
    pub fn new(mut modules: Vec<Module>, package: &str) -> Result<Bundle, DecideError> {
        if modules.is_empty() {
            return Err(DecideError::Bundle(
                "the bundle has no .rego module".to_owned(),
            ));
        }
        if modules.len() > MAX_MODULES {
            return Err(DecideError::Bundle(format!(
                "the bundle has {} modules, more than the {MAX_MODULES} one bundle may",
                modules.len()
            )));
        }
        let size: usize = modules.iter().map(|m| m.text.len()).sum();
        if size > MAX_BYTES {
            return Err(DecideError::Bundle(format!(
                "the bundle's modules hold {size} bytes, more than the {MAX_BYTES} one bundle may"
            )));
        }
        let fits = !package.is_empty()
            && package.split('.').all(|part| {
                !part.is_empty()
                    && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    && !part.as_bytes()[0].is_ascii_digit()
            });
        if !fits {
            return Err(DecideError::Bundle(format!(
                "package {package:?} is not a dotted Rego package name (e.g. \"example.authz\")"
            )));
        }
        modules.sort_by(|a, b| a.path.cmp(&b.path));
        if modules.windows(2).any(|w| w[0].path == w[1].path) {
            return Err(DecideError::Bundle(
                "two modules have the same path".to_owned(),
            ));
        }
        Ok(Bundle {
            modules,
            package: package.to_owned(),
        })
    }

    /// The `.rego` files of `dir` (not its subdirectories) and its manifest, if any.
    pub fn from_dir(dir: &Path) -> Result<Bundle, DecideError> {
        let unreadable =
            |e: std::io::Error| DecideError::Bundle(format!("cannot read {}: {e}", dir.display()));
        let mut modules = Vec::new();
        let mut package = Bundle::DEFAULT_PACKAGE.to_owned();
        for entry in std::fs::read_dir(dir).map_err(unreadable)? {
            let path = entry.map_err(unreadable)?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            if name == MANIFEST {
                let text = std::fs::read_to_string(&path).map_err(unreadable)?;
                let manifest: Manifest = serde_json::from_str(&text).map_err(|e| {
                    DecideError::Bundle(format!(
                        "{}: {e} (it is {{\"package\": \"dotted.name\"}})",
                        path.display()
                    ))
                })?;
                package = manifest.package;
            } else if name.ends_with(".rego") && path.is_file() {
                let text = std::fs::read_to_string(&path).map_err(unreadable)?;
                modules.push(Module { path: name, text });
            }
        }
        Bundle::new(modules, &package).map_err(|e| match e {
            DecideError::Bundle(m) => DecideError::Bundle(format!("{}: {m}", dir.display())),
            other => other,
        })
    }

    /// sha256 of the bundle as applied (its package, then each module's path and text, each
    /// length-prefixed): the decision's version, named in every record it allowed.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        let mut part = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        };
        part(self.package.as_bytes());
        for m in &self.modules {
            part(m.path.as_bytes());
            part(m.text.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// The package a module declares (its first `package` line), dotted.
pub(crate) fn package_of(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim_start)
        .find_map(|l| l.strip_prefix("package "))
        .map(|p| p.split('#').next().unwrap_or_default().trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(path: &str, text: &str) -> Module {
        Module {
            path: path.into(),
            text: text.into(),
        }
    }

    #[test]
    fn a_bundle_is_checked_and_its_hash_covers_every_module() {
        let a = Bundle::new(
            vec![
                module("b.rego", "package cordon"),
                module("a.rego", "package x"),
            ],
            "cordon",
        )
        .unwrap();
        assert_eq!(a.modules[0].path, "a.rego");
        let mut changed = a.clone();
        changed.modules[1].text.push(' ');
        assert_ne!(a.hash(), changed.hash());
        assert_ne!(
            a.hash(),
            Bundle::new(a.modules.clone(), "other").unwrap().hash()
        );
        assert!(Bundle::new(Vec::new(), "cordon").is_err());
        for bad in ["", "a..b", "1a", "a-b", "data.a b"] {
            assert!(Bundle::new(a.modules.clone(), bad).is_err(), "{bad}");
        }
        let twice = vec![module("a.rego", "package a"), module("a.rego", "package b")];
        assert!(Bundle::new(twice, "cordon").is_err());
    }
}
