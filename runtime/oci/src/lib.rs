//! cordon's tools in OCI registries.
//!
//! - [`OciRef`]: `oci://HOST[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST]`, the host always named.
//! - [`artifact`]: the Wasm OCI artifact layout (CNCF TAG Runtime, v0) cordon writes and reads.
//! - [`docker_credentials`]: registry credentials from a Docker config file's `auths`.
//! - [`push`] and [`pull`]: through the OCI distribution protocol, digests checked here, sizes
//!   and time bounded ([`RegistryOptions`]); a server's pulls connect only to addresses its
//!   [`AddressRules`] allow, redirects and token services included.
//!
//! A registry is transport only: the cordon signature travels inside the component, and a
//! pulled component is admitted through exactly the same checks as an uploaded one.

pub mod artifact;
mod docker_config;
mod egress;
mod error;
mod reference;
mod registry;

pub use docker_config::{credentials_from, docker_config_path, docker_credentials};
pub use egress::AddressRules;
pub use error::OciError;
pub use reference::OciRef;
pub use registry::{
    Credentials, DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT, Pulled, Pushed, RegistryOptions, pull, push,
};
