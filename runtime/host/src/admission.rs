//! Admitting a component: the one path from untrusted bytes to a runnable tool.
//!
//! 1. the signature is verified against the trust store and the tool policy's publishers,
//!    before anything parses the bytes as wasm;
//! 2. only then is the component compiled (or loaded from the cache) and checked against the
//!    contract;
//! 3. its own `describe()` runs under the sandbox's limits and must name the tool and version
//!    that were signed.
//!
//! `cordon run` and the server both admit tools through [`admit`].

use cordon_core::{Limits, ToolInfo};
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

/// A tool ready to run, with what it says about itself and, when signed, who signed it.
#[derive(Debug)]
pub struct Admitted {
    pub tool: Tool,
    pub info: ToolInfo,
    pub verified: Option<Verified>,
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
    let info = sandbox.describe(&tool, limits).await?;
    if let Some(v) = &verified {
        cordon_trust::check_describe(v, &info.name, &info.version)?;
        tool.set_signer(v.statement.key.to_string());
    }
    Ok(Admitted {
        tool,
        info,
        verified,
    })
}
