//! `primes`: counts the primes below `below` by trial division, in a hundred slices, reporting
//! progress after each one. The worked example of docs/long-running.md: a call that takes
//! seconds, tells its caller where it is, and can be cancelled midway.

use cordon_sdk::Error;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Slices the range is counted in; one progress report each.
const SLICES: u64 = 100;

/// Largest bound accepted: beyond it a call takes longer than any policy should allow.
const MAX_BELOW: u64 = 1_000_000_000;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Input {
    /// Count the primes below this number (at most 1,000,000,000).
    below: u64,
}

#[derive(Serialize, JsonSchema)]
struct Output {
    /// The bound counted below.
    below: u64,
    /// How many primes are below it.
    primes: u64,
    /// The largest of them, if any.
    largest: Option<u64>,
}

#[cordon_sdk::tool]
fn primes(input: Input) -> Result<Output, Error> {
    let below = input.below;
    if below > MAX_BELOW {
        return Err(Error::invalid_input(format!(
            "below is {below}, over the most this tool counts ({MAX_BELOW})"
        )));
    }
    let (mut count, mut largest) = (0, None);
    let slice = below.div_ceil(SLICES).max(1);
    let mut start = 0;
    while start < below {
        let end = (start + slice).min(below);
        for n in start..end {
            if is_prime(n) {
                count += 1;
                largest = Some(n);
            }
        }
        start = end;
        cordon_sdk::progress(end, Some(below), &format!("{count} primes below {end}"));
    }
    Ok(Output {
        below,
        primes: count,
        largest,
    })
}

fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n % 2 == 0 {
        return n == 2;
    }
    let mut d = 3;
    while d * d <= n {
        if n % d == 0 {
            return false;
        }
        d += 2;
    }
    true
}
