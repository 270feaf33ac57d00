//! Host bindings for the tool contracts, generated from `wit/v0.1` and `wit/v0.2` (the files
//! the SDK and guests read). A component implements one of them; the host links both, so a
//! component built against 0.1.0 keeps working beside 0.2.0 ones. Exports are called
//! asynchronously so a guest blocked in a host call never blocks a tokio worker thread.

/// `cordon:tool@0.1.0`: one tool, JSON in, JSON out.
pub mod v01 {
    wasmtime::component::bindgen!({
        path: "../../wit/v0.1",
        world: "toolbox",
        exports: { default: async },
    });
}

/// `cordon:tool@0.2.0`: several tools, content blocks, tool errors, logging, asking for input.
pub mod v02 {
    wasmtime::component::bindgen!({
        path: "../../wit/v0.2",
        world: "toolbox",
        exports: { default: async },
    });
}
