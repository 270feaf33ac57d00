//! A task's times as MCP carries them: RFC 3339 with milliseconds, and how long a finished
//! task's answer is kept (`async_result_ttl`).

use crate::state::AppState;
use std::time::{Duration, UNIX_EPOCH};

pub(crate) fn ttl_ms(state: &AppState) -> u64 {
    u64::try_from(state.settings.async_result_ttl.as_millis()).unwrap_or(u64::MAX)
}

pub(crate) fn rfc3339(ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(at).to_string()
}
