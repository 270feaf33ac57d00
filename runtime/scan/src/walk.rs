//! A scan over what a call answers: each string of its structured output (by its JSON path),
//! its content blocks' text, its progress messages. Matches are counted per detector, kind and
//! path, redacted in place when asked, and reported without their values.

use crate::matcher::{Hit, find, redact, secret_key};
use cordon_core::output::{Detector, Finding};
use serde_json::Value;
use std::collections::BTreeMap;

/// One scan, accumulating findings across the parts of one answer.
pub struct Scan<'a> {
    detectors: &'a [Detector],
    reachable: &'a dyn Fn(&str) -> bool,
    redact: bool,
    found: BTreeMap<(Detector, &'static str, String), (u32, f64)>,
}

impl std::fmt::Debug for Scan<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scan")
            .field("detectors", &self.detectors)
            .field("redact", &self.redact)
            .field("found", &self.found.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Scan<'a> {
    /// A scan for `detectors`; `reachable` says whether the tool's policy lets it reach a host;
    /// with `redact`, matches are replaced as they are found.
    pub fn new(
        detectors: &'a [Detector],
        reachable: &'a dyn Fn(&str) -> bool,
        redact: bool,
    ) -> Scan<'a> {
        Scan {
            detectors,
            reachable,
            redact,
            found: BTreeMap::new(),
        }
    }

    fn note(&mut self, hits: &[Hit], path: &str) {
        for h in hits {
            let entry = self
                .found
                .entry((h.detector, h.kind, path.to_owned()))
                .or_insert((0, 0.0));
            entry.0 = entry.0.saturating_add(1);
            entry.1 = entry.1.max(h.risk);
        }
    }

    /// Scans one text found at `path`.
    pub fn text(&mut self, text: &mut String, path: &str) {
        let hits = find(text, self.detectors, self.reachable);
        if hits.is_empty() {
            return;
        }
        self.note(&hits, path);
        if self.redact {
            *text = redact(text, &hits);
        }
    }

    /// Scans every string of `value`, found at `path` (`$.output`). An object's string under a
    /// key that names a secret (`"api_key": "..."`) is a secret when it looks generated.
    pub fn value(&mut self, value: &mut Value, path: &str) {
        match value {
            Value::String(s) => self.text(s, path),
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.value(item, &format!("{path}[{i}]"));
                }
            }
            Value::Object(map) => {
                for (key, item) in map.iter_mut() {
                    let at = if !key.is_empty()
                        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    {
                        format!("{path}.{key}")
                    } else {
                        format!("{path}[{}]", Value::String(key.clone()))
                    };
                    if self.detectors.contains(&Detector::Secrets)
                        && let Value::String(s) = item
                        && secret_key(key)
                        && crate::checks::secret_like(s)
                    {
                        let hit = Hit {
                            detector: Detector::Secrets,
                            kind: "secret_assignment",
                            start: 0,
                            end: s.len(),
                            risk: 0.6,
                        };
                        self.note(std::slice::from_ref(&hit), &at);
                        if self.redact {
                            *s = redact(s, &[hit]);
                        }
                        continue;
                    }
                    self.value(item, &at);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// What was found, by detector, kind and path (never the values).
    pub fn findings(self) -> Vec<Finding> {
        self.found
            .into_iter()
            .map(|((detector, kind, path), (count, risk))| Finding {
                detector: detector.as_str().to_owned(),
                kind: kind.to_owned(),
                path,
                count,
                risk,
            })
            .collect()
    }
}

/// The risk of an answer: its most likely finding's (0 when none).
pub fn risk(findings: &[Finding]) -> f64 {
    findings.iter().map(|f| f.risk).fold(0.0, f64::max)
}
