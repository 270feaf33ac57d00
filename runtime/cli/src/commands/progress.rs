//! Progress for long work (publishing, signing a large component, a tool that reports its own):
//! a spinner or bar with what is happening and the time it has taken, on stderr when it is a
//! terminal; nothing otherwise, so scripts and logs get only the result.

use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;

/// A spinner saying `message`; call `finish_and_clear` when the work is done.
pub fn spinner(message: String) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A bar following a running tool's progress reports (`cordon_sdk::progress`): done of total
/// and the tool's message. Returns the bar (`finish_and_clear` it after the call) and the sink
/// to give the call.
pub fn tool_bar() -> (ProgressBar, cordon_sandbox::ProgressSink) {
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {pos}/{len} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    let shown = bar.clone();
    let sink = std::sync::Arc::new(move |p: &cordon_core::Progress| {
        if let Some(total) = p.total {
            shown.set_length(total);
        }
        shown.set_position(p.done);
        shown.set_message(p.message.clone());
    });
    (bar, sink)
}
