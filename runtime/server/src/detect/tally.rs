//! What this node counted for the detection rules since it last added to the store.
//!
//! A signal is tallied by every rule on its kind, under its key (the tool, the caller or the
//! address the rule counts per). About once a second (`flush.rs`) the tallies go to the store,
//! which adds up every node's within each rule's window and says which rules reached their
//! counts (`cordon_storage::detect`): a burst spread over several nodes fires its rule as one
//! node's would. A tally that alone reaches its rule's count asks for the flush at once.

use crate::detect::rules::{On, Per, Rule};
use cordon_storage::Tally;
use cordon_storage::detect::MAX_EVIDENCE;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use tokio::sync::Notify;

/// Keys tallied at most between two flushes, across all rules: an attack from many addresses
/// cannot grow the tallies without bound; past it, signals of new keys are dropped (and
/// counted, and said at the next flush).
const MAX_KEYS: usize = 10_000;

/// Something that happened, with what it concerns.
#[derive(Debug, Clone, Default)]
pub struct Signal {
    pub tool: Option<String>,
    pub caller: Option<String>,
    pub address: Option<String>,
    pub execution: Option<String>,
}

/// One rule's tally under one key.
#[derive(Debug, Default)]
struct Count {
    n: u32,
    executions: Vec<String>,
}

/// The detection rules and this node's tallies (by the rule's index and the key).
#[derive(Debug, Default)]
pub struct Detector {
    rules: Vec<Rule>,
    tallies: Mutex<HashMap<(usize, String), Count>>,
    dropped: AtomicU64,
    /// Told when a tally reached its rule's count: the flush need not wait for its tick.
    pub due: Notify,
}

impl Detector {
    pub fn new(rules: Vec<Rule>) -> Detector {
        Detector {
            rules,
            ..Detector::default()
        }
    }

    /// Whether any rule is in force.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rule of this name.
    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }

    /// The longest window of any rule: older signals count for none.
    pub fn longest_window(&self) -> std::time::Duration {
        self.rules
            .iter()
            .map(|r| r.window)
            .max()
            .unwrap_or_default()
    }

    /// Tallies `signal` of kind `on` under every rule that counts it.
    pub fn observe(&self, on: On, signal: &Signal) {
        if !self.rules.iter().any(|r| r.on == on) {
            return;
        }
        let mut due = false;
        {
            let mut tallies = self.tallies.lock().unwrap_or_else(PoisonError::into_inner);
            for (i, rule) in self.rules.iter().enumerate() {
                if rule.on != on {
                    continue;
                }
                let key = match rule.per {
                    None => Some(String::new()),
                    Some(Per::Tool) => signal.tool.clone(),
                    Some(Per::Caller) => signal.caller.clone(),
                    Some(Per::Address) => signal.address.clone(),
                };
                let Some(key) = key else { continue };
                let entry = (i, key);
                if tallies.len() >= MAX_KEYS && !tallies.contains_key(&entry) {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let count = tallies.entry(entry).or_default();
                count.n = count.n.saturating_add(1);
                if let Some(e) = &signal.execution
                    && count.executions.len() < MAX_EVIDENCE
                {
                    count.executions.push(e.clone());
                }
                due |= count.n >= rule.count;
            }
        }
        if due {
            self.due.notify_one();
        }
    }

    /// Takes the tallies to add to the store, and how many signals were dropped since the last
    /// take.
    pub fn take(&self) -> (Vec<Tally>, u64) {
        let taken =
            std::mem::take(&mut *self.tallies.lock().unwrap_or_else(PoisonError::into_inner));
        let tallies = taken
            .into_iter()
            .map(|((i, key), count)| {
                let rule = &self.rules[i];
                Tally {
                    rule: rule.name.clone(),
                    key,
                    n: count.n,
                    executions: count.executions,
                    window_ms: i64::try_from(rule.window.as_millis()).unwrap_or(i64::MAX),
                    count: rule.count,
                }
            })
            .collect();
        (tallies, self.dropped.swap(0, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::rules::Then;
    use std::time::Duration;

    fn rule(name: &str, on: On, per: Option<Per>, count: u32) -> Rule {
        Rule {
            name: name.into(),
            on,
            per,
            count,
            window: Duration::from_secs(60),
            then: vec![Then::Alert],
            suspend_for: Duration::from_secs(900),
            severity: "warning".into(),
        }
    }

    fn denial(tool: &str, ex: &str) -> Signal {
        Signal {
            tool: Some(tool.into()),
            caller: Some("c1".into()),
            execution: Some(ex.into()),
            ..Signal::default()
        }
    }

    fn sorted(mut t: Vec<Tally>) -> Vec<Tally> {
        t.sort_by(|a, b| (&a.rule, &a.key).cmp(&(&b.rule, &b.key)));
        t
    }

    #[test]
    fn signals_are_tallied_per_rule_and_key_until_taken() {
        let d = Detector::new(vec![
            rule("per-tool", On::Denial, Some(Per::Tool), 3),
            rule("all", On::Denial, None, 100),
            rule("failures", On::AuthFailure, Some(Per::Address), 2),
        ]);
        d.observe(On::Denial, &denial("echo", "ex1"));
        d.observe(On::Denial, &denial("notes", "ex2"));
        d.observe(On::Denial, &denial("echo", "ex3"));
        // A kind no rule counts, or a signal without the rule's key, is not tallied.
        d.observe(On::ToolFailure, &denial("echo", "x"));
        d.observe(On::AuthFailure, &denial("echo", "y"));
        let (t, dropped) = d.take();
        let t = sorted(t);
        assert_eq!(dropped, 0);
        let seen: Vec<(&str, &str, u32)> = t
            .iter()
            .map(|t| (t.rule.as_str(), t.key.as_str(), t.n))
            .collect();
        assert_eq!(
            seen,
            [
                ("all", "", 3),
                ("per-tool", "echo", 2),
                ("per-tool", "notes", 1)
            ]
        );
        assert_eq!(t[1].executions, ["ex1", "ex3"]);
        assert_eq!((t[1].window_ms, t[1].count), (60_000, 3));
        // Taken: nothing is left.
        assert!(d.take().0.is_empty());
    }

    #[tokio::test]
    async fn a_tally_that_reaches_its_count_asks_for_the_flush() {
        let d = Detector::new(vec![rule("per-tool", On::Denial, Some(Per::Tool), 2)]);
        d.observe(On::Denial, &denial("echo", "ex1"));
        let waited = tokio::time::timeout(Duration::from_millis(50), d.due.notified()).await;
        assert!(waited.is_err(), "asked before the count");
        d.observe(On::Denial, &denial("echo", "ex2"));
        tokio::time::timeout(Duration::from_secs(1), d.due.notified())
            .await
            .expect("asked at the count");
    }

    #[test]
    fn many_keys_do_not_grow_the_tallies_past_their_bound() {
        let d = Detector::new(vec![rule("r", On::Denial, Some(Per::Tool), 100)]);
        for i in 0..(MAX_KEYS + 500) {
            d.observe(On::Denial, &denial(&format!("t{i}"), "x"));
        }
        // A key already tallied is still counted.
        d.observe(On::Denial, &denial("t0", "x"));
        let (t, dropped) = d.take();
        assert_eq!((t.len(), dropped), (MAX_KEYS, 500));
        assert_eq!(t.iter().find(|t| t.key == "t0").map(|t| t.n), Some(2));
        d.observe(On::Denial, &denial("late", "x"));
        assert_eq!(d.take().0.len(), 1);
    }
}
