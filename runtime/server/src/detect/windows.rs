//! The windows of the detection rules on this node.
//!
//! A signal is counted by every rule on its kind, under its key (the tool, the caller or the
//! address the rule counts per). When a key's count within the window reaches the rule's, the
//! rule fires once and that key's window starts again empty: the next alert takes as many
//! signals again.
//!
//! Counts are kept per node: on several nodes sharing a store, a burst spread over them fires a
//! rule when one node alone sees the count.

use crate::detect::rules::{On, Per, Rule};
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

/// Keys kept at most across all rules (each a few signals): an attack from many addresses
/// cannot grow the detector without bound; beyond it, the keys whose windows ended go first.
const MAX_KEYS: usize = 10_000;

/// Executions named in a fired rule's evidence, at most.
const MAX_EVIDENCE: usize = 20;

/// Something that happened, with what it concerns.
#[derive(Debug, Clone, Default)]
pub struct Signal {
    pub tool: Option<String>,
    pub caller: Option<String>,
    pub address: Option<String>,
    pub execution: Option<String>,
}

/// A rule that fired: which, for what, and the evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    pub rule: Rule,
    pub key: Option<String>,
    pub count: usize,
    pub executions: Vec<String>,
}

/// One rule's window under one key: when each signal came, and its execution.
type Window = VecDeque<(i64, Option<String>)>;

/// The detection rules and their windows (by the rule's index and the key).
#[derive(Debug, Default)]
pub struct Detector {
    rules: Vec<Rule>,
    windows: Mutex<HashMap<(usize, Option<String>), Window>>,
}

impl Detector {
    pub fn new(rules: Vec<Rule>) -> Detector {
        Detector {
            rules,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts `signal` of kind `on` at `now_ms`; the rules it makes fire.
    pub fn observe(&self, on: On, signal: &Signal, now_ms: i64) -> Vec<Fired> {
        let mut fired = Vec::new();
        if !self.rules.iter().any(|r| r.on == on) {
            return fired;
        }
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.on != on {
                continue;
            }
            let key = match rule.per {
                None => None,
                Some(Per::Tool) => signal.tool.clone(),
                Some(Per::Caller) => signal.caller.clone(),
                Some(Per::Address) => signal.address.clone(),
            };
            if rule.per.is_some() && key.is_none() {
                continue;
            }
            let span = rule.window.as_millis() as i64;
            if windows.len() >= MAX_KEYS && !windows.contains_key(&(i, key.clone())) {
                let rules = &self.rules;
                windows.retain(|(r, _), seen| {
                    let span = rules[*r].window.as_millis() as i64;
                    seen.back().is_some_and(|(at, _)| now_ms - at < span)
                });
                if windows.len() >= MAX_KEYS {
                    continue;
                }
            }
            let seen = windows.entry((i, key.clone())).or_default();
            while seen.front().is_some_and(|(at, _)| now_ms - at >= span) {
                seen.pop_front();
            }
            seen.push_back((now_ms, signal.execution.clone()));
            if seen.len() >= rule.count as usize {
                let executions = seen
                    .iter()
                    .filter_map(|(_, e)| e.clone())
                    .take(MAX_EVIDENCE)
                    .collect();
                fired.push(Fired {
                    rule: rule.clone(),
                    key: key.clone(),
                    count: seen.len(),
                    executions,
                });
                windows.remove(&(i, key));
            }
        }
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::rules::Then;
    use std::time::Duration;

    fn rule(count: u32, secs: u64) -> Rule {
        Rule {
            name: "r".into(),
            on: On::Denial,
            per: Some(Per::Tool),
            count,
            window: Duration::from_secs(secs),
            then: vec![Then::Alert],
            severity: "warning".into(),
        }
    }

    fn denial(tool: &str, ex: &str) -> Signal {
        Signal {
            tool: Some(tool.into()),
            execution: Some(ex.into()),
            ..Signal::default()
        }
    }

    #[test]
    fn a_rule_fires_once_at_its_count_within_its_window_per_key() {
        let d = Detector::new(vec![rule(3, 60)]);
        let t = 1_000_000;
        assert!(d.observe(On::Denial, &denial("echo", "ex1"), t).is_empty());
        assert!(d.observe(On::Denial, &denial("other", "ex2"), t).is_empty());
        assert!(
            d.observe(On::Denial, &denial("echo", "ex3"), t + 1)
                .is_empty()
        );
        // Another kind, or a signal without the key, is not counted.
        assert!(
            d.observe(On::AuthFailure, &denial("echo", "x"), t)
                .is_empty()
        );
        assert!(d.observe(On::Denial, &Signal::default(), t).is_empty());
        let fired = d.observe(On::Denial, &denial("echo", "ex4"), t + 2);
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].key.as_deref(), Some("echo"));
        assert_eq!(fired[0].executions, ["ex1", "ex3", "ex4"]);
        // The window starts again empty.
        assert!(
            d.observe(On::Denial, &denial("echo", "ex5"), t + 3)
                .is_empty()
        );
        // Signals older than the window do not count.
        let d = Detector::new(vec![rule(2, 1)]);
        assert!(d.observe(On::Denial, &denial("echo", "a"), t).is_empty());
        assert!(
            d.observe(On::Denial, &denial("echo", "b"), t + 1_000)
                .is_empty()
        );
        assert_eq!(
            d.observe(On::Denial, &denial("echo", "c"), t + 1_500).len(),
            1
        );
    }

    #[test]
    fn many_keys_do_not_grow_the_detector_past_its_bound() {
        let d = Detector::new(vec![rule(100, 1)]);
        for i in 0..(MAX_KEYS + 500) {
            d.observe(On::Denial, &denial(&format!("t{i}"), "x"), 1_000_000);
        }
        assert_eq!(d.windows.lock().unwrap().len(), MAX_KEYS);
        // Once their windows end, new keys take their place.
        d.observe(On::Denial, &denial("late", "x"), 1_010_000);
        assert_eq!(d.windows.lock().unwrap().len(), 1);
    }
}
