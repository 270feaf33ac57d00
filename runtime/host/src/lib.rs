//! What every cordon process that runs tools on this host shares, with no HTTP server in it:
//!
//! - [`admission`]: verify the signature, compile, check `describe()`: the one path from a
//!   component's bytes to a runnable tool (the server's publish and registry load, `cordon run`,
//!   `sign`, `verify`, `inspect`);
//! - [`input`]: the checks an input passes before a call (JSON, then the tool's schema);
//! - [`confine`]: the process's own Landlock and seccomp confinement (`cordon serve`, `cordon
//!   run`).
//!
//! The server (`cordon-server`) and the `cordon` command both build on it; wasmtime is reached
//! only through `cordon-sandbox`.

pub mod admission;
pub mod confine;
pub mod input;
