//! What a tool may ask of the caller's client (contract 0.2.0): the policy's `[ask]` section.
//! Deny by default: a tool asks nothing unless its policy says it may, because a sandboxed
//! tool that could put any form, link or prompt in front of a user through their client could
//! phish them.
//!
//! ```toml
//! [ask]
//! elicit = ["form", "url"]                # forms, and links to open
//! elicit_url_hosts = ["login.example.com", "*.example.org"]   # https only
//! sample_max_tokens = 1000                # sampling, at most this many tokens per call
//! roots = true                            # the client's roots
//! ```

use crate::authority::{Authority, HostPart};
use crate::reply::{Ask, Asking};
use serde::{Deserialize, Serialize};

/// An elicitation mode a policy may allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ElicitMode {
    Form,
    Url,
}

/// The `[ask]` section: nothing unless granted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskPolicy {
    /// Elicitation modes the tool may use.
    #[serde(default)]
    pub elicit: Vec<ElicitMode>,
    /// Hosts an elicited URL may point to: a name, or `*.name` for its subdomains. Required
    /// with `elicit = ["url"]`.
    #[serde(default)]
    pub elicit_url_hosts: Vec<String>,
    /// Most tokens (`maxTokens`, summed) the sampling requests of one call may ask for, over
    /// all its rounds; 0 (the default): no sampling.
    #[serde(default)]
    pub sample_max_tokens: u64,
    /// Whether the tool may ask for the client's roots.
    #[serde(default)]
    pub roots: bool,
}

impl AskPolicy {
    /// A section that cannot work, said with how to fix it.
    pub fn problem(&self) -> Option<(String, String)> {
        let url = self.elicit.contains(&ElicitMode::Url);
        if url && self.elicit_url_hosts.is_empty() {
            return Some((
                "ask.elicit_url_hosts".into(),
                "elicit = [\"url\"] needs the hosts its links may point to: elicit_url_hosts = [\"login.example.com\"]".into(),
            ));
        }
        if !url && !self.elicit_url_hosts.is_empty() {
            return Some((
                "ask.elicit_url_hosts".into(),
                "hosts are listed but URL elicitation is not allowed: add \"url\" to ask.elicit, or remove the hosts".into(),
            ));
        }
        for host in &self.elicit_url_hosts {
            let name = host.strip_prefix("*.").unwrap_or(host);
            if !matches!(
                Authority::parse(name),
                Some(Authority {
                    host: HostPart::Name(_),
                    port: None
                })
            ) {
                return Some((
                    "ask.elicit_url_hosts".into(),
                    format!("{host:?} is not a host name (or `*.` and one)"),
                ));
            }
        }
        None
    }

    /// What the policy lets a call ask, before the client's capabilities narrow it.
    pub fn asking(&self) -> Asking {
        Asking {
            elicit_form: self.elicit.contains(&ElicitMode::Form),
            elicit_url: self.elicit.contains(&ElicitMode::Url),
            sample: self.sample_max_tokens > 0,
            list_roots: self.roots,
        }
    }

    /// Checks one round's requests, after earlier rounds of the same call asked for `sampled`
    /// tokens of sampling; the reason of the first refused one.
    pub fn check(&self, asks: &[&Ask], sampled: u64) -> Result<(), String> {
        let mut tokens: u64 = sampled;
        for ask in asks {
            if !self.asking().allows(ask) {
                return Err(format!(
                    "the tool asked for {} ({}), which its policy does not allow (policy [ask])",
                    ask.to_mcp()["method"].as_str().unwrap_or("?"),
                    match ask {
                        Ask::ElicitForm { .. } => "elicit = [\"form\"]",
                        Ask::ElicitUrl { .. } => "elicit = [\"url\"]",
                        Ask::Sample { .. } => "sample_max_tokens",
                        Ask::ListRoots => "roots = true",
                    }
                ));
            }
            match ask {
                Ask::ElicitUrl { url, .. } if !self.url_allowed(url) => {
                    return Err(format!(
                        "the tool asked the user to open {url}, whose host is not in its policy's ask.elicit_url_hosts (https only)"
                    ));
                }
                Ask::Sample { params } => {
                    // The client's context (its conversation, its other servers' data) is not
                    // the tool's to read.
                    let context = params.get("includeContext");
                    if context.is_some_and(|c| !c.is_null() && c != "none") {
                        return Err(format!(
                            "the tool asked for sampling with includeContext {}: a sandboxed tool gets none of the client's context",
                            context.map(ToString::to_string).unwrap_or_default()
                        ));
                    }
                    let asked = params.get("maxTokens").and_then(serde_json::Value::as_u64);
                    let Some(asked) = asked else {
                        return Err("the tool asked for sampling without a whole maxTokens".into());
                    };
                    tokens = tokens.saturating_add(asked);
                    if tokens > self.sample_max_tokens {
                        return Err(format!(
                            "the tool asked for {tokens} tokens of sampling in this call, over its policy's ask.sample_max_tokens of {}",
                            self.sample_max_tokens
                        ));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// An `https` URL whose host is listed (a `*.name` entry: its subdomains).
    fn url_allowed(&self, url: &str) -> bool {
        let Some(rest) = url.strip_prefix("https://") else {
            return false;
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        // No user information: `https://allowed.com@evil.com` names evil.com.
        if authority.contains('@') {
            return false;
        }
        let Some(Authority {
            host: HostPart::Name(name),
            ..
        }) = Authority::parse(authority)
        else {
            return false;
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.elicit_url_hosts.iter().any(|h| {
            let h = h.to_ascii_lowercase();
            match h.strip_prefix("*.") {
                Some(parent) => name.ends_with(&format!(".{parent}")),
                None => name == h,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(text: &str) -> AskPolicy {
        toml::from_str(text).unwrap()
    }

    fn url(u: &str) -> Ask {
        Ask::ElicitUrl {
            message: "m".into(),
            url: u.into(),
            elicitation_id: "1".into(),
        }
    }

    #[test]
    fn nothing_is_allowed_by_default() {
        let p = AskPolicy::default();
        assert_eq!(p.asking(), Asking::default());
        for ask in [
            Ask::ElicitForm {
                message: "m".into(),
                requested_schema: json!({}),
            },
            Ask::ListRoots,
            Ask::Sample {
                params: json!({"maxTokens": 1}),
            },
        ] {
            let err = p.check(&[&ask], 0).unwrap_err();
            assert!(err.contains("policy [ask]"), "{err}");
        }
    }

    #[test]
    fn urls_must_be_https_to_a_listed_host() {
        let p = policy(
            "elicit = [\"url\"]\nelicit_url_hosts = [\"login.example.com\", \"*.example.org\"]",
        );
        assert_eq!(p.problem(), None);
        for ok in [
            "https://login.example.com/start?x=1",
            "https://LOGIN.example.com",
            "https://a.b.example.org/",
        ] {
            assert_eq!(p.check(&[&url(ok)], 0), Ok(()), "{ok}");
        }
        for refused in [
            "http://login.example.com/",
            "https://example.org/",
            "https://evil.com/login.example.com",
            "https://login.example.com@evil.com/",
            "https://login.example.com.evil.com/",
            "javascript:alert(1)",
        ] {
            assert!(p.check(&[&url(refused)], 0).is_err(), "{refused}");
        }
    }

    #[test]
    fn sampling_is_bounded_per_call() {
        let p = policy("sample_max_tokens = 100");
        let ask = |n: u64| Ask::Sample {
            params: json!({"messages": [], "maxTokens": n}),
        };
        assert_eq!(p.check(&[&ask(60), &ask(40)], 0), Ok(()));
        let err = p.check(&[&ask(60), &ask(41)], 0).unwrap_err();
        assert!(err.contains("101 tokens"), "{err}");
        // Earlier rounds of the call count: 70 asked before leaves 30.
        assert_eq!(p.check(&[&ask(30)], 70), Ok(()));
        let err = p.check(&[&ask(31)], 70).unwrap_err();
        assert!(err.contains("101 tokens of sampling in this call"), "{err}");
        let no_budget = Ask::Sample {
            params: json!({"messages": []}),
        };
        assert!(p.check(&[&no_budget], 0).is_err());
        // None of the client's context.
        for context in ["thisServer", "allServers"] {
            let with = Ask::Sample {
                params: json!({"messages": [], "maxTokens": 10, "includeContext": context}),
            };
            let err = p.check(&[&with], 0).unwrap_err();
            assert!(err.contains("includeContext"), "{err}");
        }
        let none = Ask::Sample {
            params: json!({"messages": [], "maxTokens": 10, "includeContext": "none"}),
        };
        assert_eq!(p.check(&[&none], 0), Ok(()));
    }

    #[test]
    fn a_section_that_cannot_work_says_how_to_fix_it() {
        let (key, message) = policy("elicit = [\"url\"]").problem().unwrap();
        assert_eq!(key, "ask.elicit_url_hosts");
        assert!(message.contains("login.example.com"), "{message}");
        assert!(policy("elicit_url_hosts = [\"a.com\"]").problem().is_some());
        assert!(
            policy("elicit = [\"url\"]\nelicit_url_hosts = [\"a.com:443\"]")
                .problem()
                .is_some()
        );
    }
}
