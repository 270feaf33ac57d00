//! The detectors compiled once for the process: per family, a `RegexSet` that says in one pass
//! over a text which patterns can match at all, then those patterns alone, and the attack
//! phrases in one Aho-Corasick automaton.

use crate::pattern::{Check, Pattern};
use aho_corasick::AhoCorasick;
use cordon_core::output::Detector;
use regex::{Regex, RegexSet};
use std::sync::LazyLock;

/// One match that passed its checks: where it is in the text scanned, what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub detector: Detector,
    pub kind: &'static str,
    pub start: usize,
    pub end: usize,
    pub risk: f64,
}

struct Compiled {
    pattern: Pattern,
    regex: Regex,
}

struct Family {
    detector: Detector,
    set: RegexSet,
    patterns: Vec<Compiled>,
}

impl Family {
    fn new(detector: Detector, patterns: Vec<Pattern>) -> Family {
        // The expressions are constants of this crate, each compiled by its tests.
        let compiled: Vec<Compiled> = patterns
            .into_iter()
            .filter_map(|pattern| {
                Regex::new(&pattern.regex)
                    .ok()
                    .map(|regex| Compiled { pattern, regex })
            })
            .collect();
        let set = RegexSet::new(compiled.iter().map(|c| c.pattern.regex.as_str()))
            .unwrap_or_else(|_| RegexSet::empty());
        Family {
            detector,
            set,
            patterns: compiled,
        }
    }
}

static FAMILIES: LazyLock<[Family; 3]> = LazyLock::new(|| {
    [
        Family::new(Detector::Secrets, crate::secrets::patterns()),
        Family::new(Detector::Pii, crate::pii::patterns()),
        Family::new(Detector::Injection, crate::injection::patterns()),
    ]
});

static PHRASES: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| {
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(crate::injection::PHRASES)
        .ok()
});

/// A JSON key that names a secret (`api_key`, `clientSecret`, `password`).
static SECRET_KEY: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(&format!("(?i){}", crate::secrets::SECRET_NAMES)).ok());

/// Whether a JSON object's key says its value is a secret.
pub(crate) fn secret_key(key: &str) -> bool {
    SECRET_KEY.as_ref().is_some_and(|r| r.is_match(key))
}

/// The host of an `http(s)://` URL and whether it carries a query string.
fn link_parts(url: &str) -> (&str, bool) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = if host_port.starts_with('[') {
        host_port.split(']').next().map_or(host_port, |h| &h[1..])
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    let query = rest
        .split_once('?')
        .is_some_and(|(_, q)| !q.split('#').next().unwrap_or_default().is_empty());
    (host, query)
}

/// Every match of `detectors` in `text`, in order, none overlapping (where two would, the one
/// that starts first wins, then the one listed first). `reachable` says whether the tool may
/// reach a host (links to such hosts are not exfiltration).
pub fn find(text: &str, detectors: &[Detector], reachable: &dyn Fn(&str) -> bool) -> Vec<Hit> {
    let mut hits: Vec<(usize, Hit)> = Vec::new();
    for (f, family) in FAMILIES.iter().enumerate() {
        if !detectors.contains(&family.detector) {
            continue;
        }
        for i in family.set.matches(text).iter() {
            let Some(c) = family.patterns.get(i) else {
                continue;
            };
            for caps in c.regex.captures_iter(text) {
                let Some(whole) = caps.get(0) else { continue };
                let span = caps.name("value").or(caps.name("url")).unwrap_or(whole);
                let ok = match c.pattern.check {
                    Check::Shape => true,
                    Check::Value(check) => check(span.as_str()),
                    Check::Span(check) => check(text, span.start(), span.end()),
                    Check::Link => {
                        let (host, query) = link_parts(span.as_str());
                        query && !reachable(host)
                    }
                };
                if ok {
                    hits.push((
                        f * 100 + i,
                        Hit {
                            detector: family.detector,
                            kind: c.pattern.kind,
                            start: span.start(),
                            end: span.end(),
                            risk: c.pattern.risk,
                        },
                    ));
                }
            }
        }
        if family.detector == Detector::Injection
            && let Some(phrases) = PHRASES.as_ref()
        {
            for m in phrases.find_iter(text) {
                hits.push((
                    f * 100 + 99,
                    Hit {
                        detector: Detector::Injection,
                        kind: "instruction",
                        start: m.start(),
                        end: m.end(),
                        risk: 0.8,
                    },
                ));
            }
        }
    }
    hits.sort_by_key(|(order, h)| (h.start, *order));
    let mut kept: Vec<Hit> = Vec::with_capacity(hits.len());
    for (_, hit) in hits {
        if kept.last().is_none_or(|last| hit.start >= last.end) {
            kept.push(hit);
        }
    }
    kept
}

/// `text` with every hit replaced by `[REDACTED:kind]`.
pub fn redact(text: &str, hits: &[Hit]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for h in hits {
        out.push_str(&text[at..h.start]);
        out.push_str("[REDACTED:");
        out.push_str(h.kind);
        out.push(']');
        at = h.end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_expression_compiles() {
        for (family, patterns) in [
            crate::secrets::patterns(),
            crate::pii::patterns(),
            crate::injection::patterns(),
        ]
        .into_iter()
        .enumerate()
        {
            for p in &patterns {
                assert!(Regex::new(&p.regex).is_ok(), "{family} {}", p.kind);
            }
            assert_eq!(FAMILIES[family].patterns.len(), patterns.len());
        }
        assert!(PHRASES.is_some() && SECRET_KEY.is_some());
    }

    #[test]
    fn links_give_their_host_and_whether_they_carry_a_query() {
        assert_eq!(
            link_parts("https://evil.test/p.png?d=secret"),
            ("evil.test", true)
        );
        assert_eq!(
            link_parts("https://u@evil.test:8443/x?"),
            ("evil.test", false)
        );
        assert_eq!(link_parts("http://[::1]/a?b=1"), ("::1", true));
        assert_eq!(
            link_parts("https://cdn.example.com/logo.png"),
            ("cdn.example.com", false)
        );
    }
}
