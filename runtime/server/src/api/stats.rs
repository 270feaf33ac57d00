//! `GET /v1/stats`: what the execution log says about a recent window, folded for a dashboard
//! (the console's overview): calls per minute by outcome, policy denials per minute, and per
//! tool the call count, failures, and median and 99th-percentile time and fuel; with this
//! node's refusals per minute (quotas, rate limits, access), which never reach the log.
//!
//! Folded from the newest records of the window, at most [`SCAN_CAP`] of them: the answer says
//! how many it read and whether that was all of the window, so a busy log costs a bounded read
//! and a dashboard never claims more than it saw.

use crate::callers::caller::Caller;
use crate::clock::now_ms;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::{RawQuery, State};
use cordon_core::{Action, Outcome};
use cordon_storage::{ExecutionRecord, Filter};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The most records one answer folds: 20 pages of the log's largest page, a fraction of a
/// second to read on either store.
pub const SCAN_CAP: usize = 20_000;

/// Minute buckets.
const MINUTE_MS: i64 = 60_000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// The window, ending now, in seconds: 60 to 86400 (default 3600).
    #[param(minimum = 60, maximum = 86400)]
    pub window_secs: Option<u64>,
}

/// The window's figures.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Stats {
    /// The window: from `since_ms` to `until_ms` (ms since the epoch).
    pub since_ms: i64,
    pub until_ms: i64,
    /// Records read.
    pub scanned: usize,
    /// Whether those were every record of the window (false: only the newest [`SCAN_CAP`]).
    pub complete: bool,
    /// One entry per minute of the window, oldest first, minutes without calls included.
    pub minutes: Vec<MinuteStats>,
    /// Per tool, most called first.
    pub tools: Vec<ToolStats>,
    /// This node's refused requests per minute by error code (last hour at most), oldest
    /// first; minutes without refusals left out.
    pub refusals: Vec<RefusalMinute>,
}

#[derive(Debug, Default, serde::Serialize, utoipa::ToSchema)]
pub struct MinuteStats {
    /// The minute's start.
    pub at_ms: i64,
    /// Calls that finished in it, by outcome (outcomes with none left out).
    pub outcomes: BTreeMap<String, u64>,
    /// Operations policies refused during those calls.
    pub denials: u64,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ToolStats {
    pub tool: String,
    pub calls: u64,
    /// Calls whose outcome was not `ok`.
    pub failures: u64,
    pub denials: u64,
    pub p50_wall_us: u64,
    pub p99_wall_us: u64,
    pub p50_fuel: u64,
    pub p99_fuel: u64,
    pub max_memory_bytes: u64,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RefusalMinute {
    pub at_ms: i64,
    /// Refusals by error code (`quota_exceeded`, `rate_limited`, `forbidden`, ...).
    pub codes: BTreeMap<String, u64>,
}

/// Figures of the execution log over a recent window.
#[utoipa::path(
    get,
    path = "/v1/stats",
    tag = "executions",
    params(StatsQuery),
    responses(
        (status = 200, body = Stats),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn stats(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Stats>, ApiError> {
    caller.require(Action::ReadExecutions)?;
    let q: StatsQuery = crate::extract::query(raw.as_deref())?;
    let window = q.window_secs.unwrap_or(3600);
    if !(60..=86_400).contains(&window) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("window_secs must be between 60 and 86400, not {window}"),
        ));
    }
    let until_ms = now_ms();
    let window_ms = i64::try_from(window).unwrap_or(3600) * 1000;
    // Whole minutes, so the first bucket is as long as the others.
    let since_ms = (until_ms - window_ms) - (until_ms - window_ms).rem_euclid(MINUTE_MS);
    let (records, complete) = state
        .db(move |s| {
            let mut out: Vec<ExecutionRecord> = Vec::new();
            let mut cursor = None;
            loop {
                let (page, next) = s.executions(&Filter {
                    since_ms: Some(since_ms),
                    before_seq: cursor,
                    limit: 1000,
                    ..Filter::default()
                })?;
                out.extend(page);
                if out.len() >= SCAN_CAP {
                    out.truncate(SCAN_CAP);
                    return Ok((out, next.is_none()));
                }
                match next {
                    Some(n) => cursor = Some(n),
                    None => return Ok((out, true)),
                }
            }
        })
        .await?;
    Ok(Json(fold(&records, complete, since_ms, until_ms)))
}

/// Folds `records` (any order) into the window's figures.
pub fn fold(records: &[ExecutionRecord], complete: bool, since_ms: i64, until_ms: i64) -> Stats {
    let minutes_n = usize::try_from((until_ms - since_ms) / MINUTE_MS + 1).unwrap_or(0);
    let mut minutes: Vec<MinuteStats> = (0..minutes_n)
        .map(|i| MinuteStats {
            at_ms: since_ms + i as i64 * MINUTE_MS,
            ..MinuteStats::default()
        })
        .collect();
    struct Acc {
        calls: u64,
        failures: u64,
        denials: u64,
        wall: Vec<u64>,
        fuel: Vec<u64>,
        memory: u64,
    }
    let mut tools: BTreeMap<&str, Acc> = BTreeMap::new();
    for r in records {
        let e = &r.execution;
        let denials = e.usage.denials.len() as u64;
        let at = e.finished_at_ms.max(since_ms);
        if let Some(m) = usize::try_from((at - since_ms) / MINUTE_MS)
            .ok()
            .and_then(|i| minutes.get_mut(i))
        {
            *m.outcomes.entry(e.outcome.as_str().to_owned()).or_default() += 1;
            m.denials += denials;
        }
        let acc = tools.entry(&e.tool).or_insert_with(|| Acc {
            calls: 0,
            failures: 0,
            denials: 0,
            wall: Vec::new(),
            fuel: Vec::new(),
            memory: 0,
        });
        acc.calls += 1;
        acc.failures += u64::from(e.outcome != Outcome::Ok);
        acc.denials += denials;
        acc.wall.push(e.usage.wall_time_us);
        acc.fuel.push(e.usage.fuel_consumed);
        acc.memory = acc.memory.max(e.usage.peak_memory_bytes);
    }
    let mut tools: Vec<ToolStats> = tools
        .into_iter()
        .map(|(tool, mut a)| ToolStats {
            tool: tool.to_owned(),
            calls: a.calls,
            failures: a.failures,
            denials: a.denials,
            p50_wall_us: percentile(&mut a.wall, 50),
            p99_wall_us: percentile(&mut a.wall, 99),
            p50_fuel: percentile(&mut a.fuel, 50),
            p99_fuel: percentile(&mut a.fuel, 99),
            max_memory_bytes: a.memory,
        })
        .collect();
    tools.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.tool.cmp(&b.tool)));
    let refusals = crate::callers::refusals::since(since_ms)
        .into_iter()
        .map(|(at_ms, codes)| RefusalMinute {
            at_ms,
            codes: codes.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        })
        .collect();
    Stats {
        since_ms,
        until_ms,
        scanned: records.len(),
        complete,
        minutes,
        tools,
        refusals,
    }
}

/// The nearest-rank percentile `p` of `values` (sorted in place); 0 for none.
fn percentile(values: &mut [u64], p: usize) -> u64 {
    if values.is_empty() {
        return 0;
    }
    values.sort_unstable();
    let rank = (p * values.len()).div_ceil(100).max(1);
    values[rank.min(values.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(percentile(&mut v, 50), 50);
        assert_eq!(percentile(&mut v, 99), 99);
        assert_eq!(percentile(&mut [7], 99), 7);
        assert_eq!(percentile(&mut [], 50), 0);
        assert_eq!(percentile(&mut [1, 1000], 50), 1);
        assert_eq!(percentile(&mut [1, 1000], 99), 1000);
    }
}
