//! Nothing to build: the build-dependencies are declared for their features only (Cargo.toml).
fn main() {}
