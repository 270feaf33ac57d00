//! Progress for long work (publishing, signing a large component): a spinner with what is
//! happening and the time it has taken, on stderr when it is a terminal; nothing otherwise, so
//! scripts and logs get only the result.

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
