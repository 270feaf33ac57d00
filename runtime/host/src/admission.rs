//! Admitting a component: the one path from untrusted bytes to a runnable tool.
//!
//! 1. the signature is verified against the trust store and the tool policy's publishers,
//!    before anything parses the bytes as wasm;
//! 2. only then is the component compiled (or loaded from the cache) and checked against the
//!    contract;
//! 3. its own `describe()` runs under the sandbox's limits and must name the toolbox and version
//!    that were signed (for a component of contract 0.1.0, its one tool).
//!
//! `cordon run` and the server both admit tools through [`admit`].

use cordon_core::{Limits, ToolInfo, Toolbox};
use cordon_sandbox::{DescribeError, LoadError, Sandbox, Tool};
use cordon_trust::{Rejection, TrustStore, Verified};

/// Why a component was not admitted. The three stages stay apart so a caller can tell a
/// signature problem from a broken component.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdmissionError {
    #[error("signature rejected ({code}): {0}", code = .0.code())]
    Signature(#[from] Rejection),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Describe(#[from] DescribeError),
}

/// A component ready to run, with what it says about itself (its toolbox: one tool or more)
/// and, when signed, who signed it.
#[derive(Debug)]
pub struct Admitted {
    /// The component, running its first tool.
    pub tool: Tool,
    pub toolbox: Toolbox,
    pub verified: Option<Verified>,
}

impl Admitted {
    /// The component running its tool `name`, and what that tool says about itself.
    pub fn tool_named(&self, name: &str) -> Option<(Tool, &ToolInfo)> {
        let info = self.toolbox.tool(name)?;
        Some((self.tool.named(name), info))
    }

    /// The first tool (the only one of a component of contract 0.1.0).
    pub fn first(&self) -> &ToolInfo {
        &self.toolbox.tools[0]
    }
}

/// What admission requires of the signature.
#[derive(Debug, Clone, Copy)]
pub enum SignatureCheck<'a> {
    /// A valid signature by a trusted key of an allowed publisher (`None`: any publisher).
    Required {
        store: &'a TrustStore,
        publishers: Option<&'a [String]>,
    },
    /// No check: any signature section is stripped and the tool runs unsigned. For local
    /// development only (`cordon run --allow-unsigned`); the server never uses it.
    AllowUnsigned,
}

/// Verifies, compiles and describes a component (see the module docs). CPU-heavy on a cache
/// miss; async callers should run it where blocking is acceptable.
pub async fn admit(
    sandbox: &Sandbox,
    bytes: &[u8],
    check: SignatureCheck<'_>,
    limits: &Limits,
) -> Result<Admitted, AdmissionError> {
    let (verified, component) = match check {
        SignatureCheck::Required { store, publishers } => {
            let verified = cordon_trust::verify(bytes, store, publishers)?;
            let len = verified.unsigned_len;
            (Some(verified), &bytes[..len])
        }
        SignatureCheck::AllowUnsigned => {
            // A malformed section is not trusted either way; keep the bytes as they are.
            let len = match cordon_trust::find_signature(bytes) {
                Ok(Some(section)) => section.unsigned_len,
                _ => bytes.len(),
            };
            (None, &bytes[..len])
        }
    };
    let mut tool = sandbox.load(component)?;
    let toolbox = sandbox.describe(&tool, limits).await?;
    if let Some(v) = &verified {
        cordon_trust::check_describe(v, &toolbox.name, &toolbox.version)?;
        tool.set_signer(v.statement.key.to_string());
    }
    // `describe` checked there is at least one.
    let tool = tool.named(&toolbox.tools[0].name);
    Ok(Admitted {
        tool,
        toolbox,
        verified,
    })
}
