//! A 16 MiB component (one large data segment), the size of a Python or JavaScript tool compiled
//! to a component: the server tests publish it through the upload limit and run it.

use cordon_sdk::Error;

static DATA: [u8; 16 << 20] = [7u8; 16 << 20];

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Input {
    index: usize,
}

#[cordon_sdk::tool(name = "big-data")]
fn byte_at(input: Input) -> Result<u8, Error> {
    // black_box keeps the data in the binary: every byte is 7, which the optimizer would
    // otherwise fold into a constant.
    std::hint::black_box(&DATA)
        .get(input.index)
        .copied()
        .ok_or_else(|| Error::invalid_input("index out of range"))
}
