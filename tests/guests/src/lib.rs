//! Hostile guest programs for cordon's tests: each file in `examples/` is one small component
//! that misbehaves in one way. They are built for wasm32-wasip2 by the `cordon-tests` build
//! script; every one of them has a test in `tests/` that checks the exact outcome.
