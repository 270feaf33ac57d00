//! Host bindings for the tool contract, generated from `wit/tool.wit` (the same file the SDK
//! reads). Exports are called asynchronously so a guest blocked in a host call never blocks a
//! tokio worker thread.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "toolbox",
    exports: { default: async },
});

pub use exports::cordon::tool::tool::{Error as GuestError, Info as GuestInfo};
