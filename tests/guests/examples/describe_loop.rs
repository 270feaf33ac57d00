//! Written against the WIT contract directly (no SDK): `describe` never returns.

wit_bindgen::generate!({ path: "../../wit/v0.1", world: "toolbox" });

use exports::cordon::tool::tool::{Error, Guest, Info};

struct LoopingDescribe;

impl Guest for LoopingDescribe {
    fn describe() -> Info {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
    fn call(input: String) -> Result<String, Error> {
        Ok(input)
    }
}

export!(LoopingDescribe);
