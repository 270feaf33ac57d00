//! What can go wrong moving a tool through a registry, each with what to do about it.

/// A failed push or pull. Messages name the reference and never carry credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OciError {
    /// The reference is not `oci://HOST[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST]`.
    #[error("{0}")]
    Reference(String),
    /// The file to push carries no valid cordon signature.
    #[error("{0}")]
    NotSigned(String),
    /// The artifact is not a Wasm component in the layout cordon reads.
    #[error("{0}")]
    Layout(String),
    /// The registry refused the credentials (or asked for some and none were given).
    #[error("the registry refused access to {reference}: {message}")]
    Unauthorized { reference: String, message: String },
    /// No such tag, digest or repository.
    #[error("{reference} was not found in the registry")]
    NotFound { reference: String },
    /// Bytes served under a digest are not the bytes of that digest (a pin the registry's
    /// manifest does not have, or content altered in the registry).
    #[error(
        "{what} of {reference} does not match its digest (expected {expected}, got {actual}): the registry served other bytes than the digest names; check the digest in the reference, and if it is right, the registry's content was altered"
    )]
    Digest {
        reference: String,
        what: &'static str,
        expected: String,
        actual: String,
    },
    /// Over the size a pull may take.
    #[error("{reference}: the component is {size} bytes, over the limit of {limit}")]
    TooLarge {
        reference: String,
        size: u64,
        limit: u64,
    },
    /// The registry did not answer within the time allowed.
    #[error("{reference}: the registry did not answer within {secs} s")]
    Timeout { reference: String, secs: u64 },
    /// The registry, its token service or a redirect led to an address pulls may not reach.
    #[error(
        "{reference}: refused to connect to {destination}; pulls reach public addresses only, unless the range is listed in the server's registries.allow_private"
    )]
    Address {
        reference: String,
        destination: String,
    },
    /// The registry, its token service or a redirect could not be reached: its host name does
    /// not resolve, or no address of it accepted a connection. `problem` says which, and what
    /// to check.
    #[error("{reference}: {problem}")]
    Unreachable {
        reference: String,
        /// `host:port` as the registry, its challenge or its redirect named it.
        destination: String,
        problem: String,
    },
    /// Anything else the registry or the connection did.
    #[error("{reference}: {message}")]
    Registry { reference: String, message: String },
}
