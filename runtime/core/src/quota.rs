//! Quotas per caller: how much one caller (an API key, or a subject from an identity provider)
//! may use in a day and at once. Set server-wide in the server's config file (`[quotas]`), and
//! per tool in its policy (`[quotas]`, a narrower limit for that tool: the server-wide ones still
//! hold). Counted in the store, so they hold across every node sharing it.
//!
//! No quota is set by default: rate limits bound request floods, and what a day's use should be
//! is the operator's decision, not a number cordon can guess.

use serde::{Deserialize, Serialize};

/// The limits of one quota set; each absent one is not limited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaLimits {
    /// Executions a caller may start in a UTC day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executions_per_day: Option<u64>,
    /// Executions a caller may have running at once, on all nodes together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent: Option<u64>,
    /// Fuel a caller's executions may consume in a UTC day. A call that starts below it may end
    /// above it; the next one is then refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel_per_day: Option<u64>,
}

impl QuotaLimits {
    pub fn is_empty(&self) -> bool {
        self.executions_per_day.is_none()
            && self.concurrent.is_none()
            && self.fuel_per_day.is_none()
    }

    /// The more generous of two limit sets, field by field (an unlimited field wins): what a
    /// caller holding two roles gets.
    pub fn widest(self, other: QuotaLimits) -> QuotaLimits {
        fn wide(a: Option<u64>, b: Option<u64>) -> Option<u64> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            }
        }
        QuotaLimits {
            executions_per_day: wide(self.executions_per_day, other.executions_per_day),
            concurrent: wide(self.concurrent, other.concurrent),
            fuel_per_day: wide(self.fuel_per_day, other.fuel_per_day),
        }
    }
}

/// Which quota a refusal is about (the name an operator writes in the config and a caller reads
/// in the 429).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaKind {
    ExecutionsPerDay,
    Concurrent,
    FuelPerDay,
}

impl QuotaKind {
    pub const ALL: [QuotaKind; 3] = [
        QuotaKind::ExecutionsPerDay,
        QuotaKind::Concurrent,
        QuotaKind::FuelPerDay,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            QuotaKind::ExecutionsPerDay => "executions_per_day",
            QuotaKind::Concurrent => "concurrent",
            QuotaKind::FuelPerDay => "fuel_per_day",
        }
    }

    pub fn limit(self, limits: &QuotaLimits) -> Option<u64> {
        match self {
            QuotaKind::ExecutionsPerDay => limits.executions_per_day,
            QuotaKind::Concurrent => limits.concurrent,
            QuotaKind::FuelPerDay => limits.fuel_per_day,
        }
    }
}

/// Milliseconds in a quota day (UTC days: every node agrees on when one ends).
pub const DAY_MS: i64 = 86_400_000;

/// The UTC day `at_ms` falls in (days since the Unix epoch).
pub fn day_of(at_ms: i64) -> i64 {
    at_ms.div_euclid(DAY_MS)
}

/// Whole seconds from `at_ms` until the next UTC day starts (at least 1).
pub fn secs_until_next_day(at_ms: i64) -> u64 {
    let next = (day_of(at_ms) + 1) * DAY_MS;
    u64::try_from((next - at_ms + 999) / 1000)
        .unwrap_or(1)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_widest_of_two_roles_wins_field_by_field() {
        let a = QuotaLimits {
            executions_per_day: Some(10),
            concurrent: Some(4),
            fuel_per_day: None,
        };
        let b = QuotaLimits {
            executions_per_day: Some(100),
            concurrent: Some(2),
            fuel_per_day: Some(5),
        };
        assert_eq!(
            a.widest(b),
            QuotaLimits {
                executions_per_day: Some(100),
                concurrent: Some(4),
                fuel_per_day: None,
            }
        );
    }

    #[test]
    fn days_are_utc_and_the_reset_is_counted_to_the_second() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(DAY_MS - 1), 0);
        assert_eq!(day_of(DAY_MS), 1);
        assert_eq!(secs_until_next_day(DAY_MS - 1), 1);
        assert_eq!(secs_until_next_day(DAY_MS), 86_400);
        assert_eq!(secs_until_next_day(DAY_MS - 1500), 2);
    }
}
