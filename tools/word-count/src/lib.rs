//! `word-count`: counts the words, lines and characters of a text.

use cordon_sdk::Error;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// The text to count.
    text: String,
}

#[derive(Serialize, JsonSchema)]
struct Output {
    /// Runs of non-whitespace characters.
    words: usize,
    /// Lines, counting a last line without a newline.
    lines: usize,
    /// Unicode scalar values.
    chars: usize,
}

#[cordon_sdk::tool]
fn word_count(input: Input) -> Result<Output, Error> {
    Ok(Output {
        words: input.text.split_whitespace().count(),
        lines: input.text.lines().count(),
        chars: input.text.chars().count(),
    })
}
