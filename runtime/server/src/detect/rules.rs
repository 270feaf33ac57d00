//! `[detect]` in the server's config file.
//!
//! ```toml
//! [[detect.rules]]
//! name = "denied-tools"     # in alerts and events; default: on-per
//! on = "denial"             # auth_failure, rate_limited, quota_exceeded, output_finding,
//!                           # tool_failure, chain_broken
//! per = "tool"              # or caller, address; what is counted apart
//! count = 5
//! window = "1m"             # s, m, h, d
//! then = ["alert", "quarantine"]   # also suspend_caller (per = "caller")
//! suspend_for = "15m"       # how long suspend_caller suspends
//! severity = "warning"      # critical, warning, info
//! ```
//!
//! Two rules ship on (`defaults = false` turns them off): an alert when the audit log's chain is
//! found broken (critical, at once), and one on a burst of authentication failures from one
//! address (20 within a minute): what an operator must hear of whatever else they configure.

use serde::Deserialize;
use std::time::Duration;

/// What a rule counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum On {
    /// A call refused by the operator's decisions or a tool's `[access]`, or an operation its
    /// policy refused inside the sandbox.
    Denial,
    /// A request whose credential did not authenticate.
    AuthFailure,
    /// A request refused by a rate limit (of its address, or of its key after it
    /// authenticated).
    RateLimited,
    /// A call refused because one of its caller's quotas was used up.
    QuotaExceeded,
    /// A call whose output scan found something (`[output]`).
    OutputFinding,
    /// A call that ended `tool_error`, `trap` or killed at a limit.
    ToolFailure,
    /// The audit log's chain found broken: a link changed after it was committed, or a
    /// checkpoint or seal that does not verify.
    ChainBroken,
}

impl On {
    pub fn as_str(self) -> &'static str {
        match self {
            On::Denial => "denial",
            On::AuthFailure => "auth_failure",
            On::RateLimited => "rate_limited",
            On::QuotaExceeded => "quota_exceeded",
            On::OutputFinding => "output_finding",
            On::ToolFailure => "tool_failure",
            On::ChainBroken => "chain_broken",
        }
    }
}

/// What is counted apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Per {
    Tool,
    Caller,
    Address,
}

impl Per {
    pub fn as_str(self) -> &'static str {
        match self {
            Per::Tool => "tool",
            Per::Caller => "caller",
            Per::Address => "address",
        }
    }
}

/// What a rule that fires does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Then {
    Alert,
    /// Stops every version of the tool (`per = "tool"` only), until an admin releases it.
    Quarantine,
    /// Refuses the caller's requests for `suspend_for` (`per = "caller"` only), unless an
    /// admin lifts it sooner.
    SuspendCaller,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    #[serde(default)]
    pub name: Option<String>,
    pub on: On,
    #[serde(default)]
    pub per: Option<Per>,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default = "minute")]
    pub window: String,
    #[serde(default = "alert")]
    pub then: Vec<Then>,
    #[serde(default)]
    pub suspend_for: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
}

fn one() -> u32 {
    1
}

fn minute() -> String {
    "1m".into()
}

fn alert() -> Vec<Then> {
    vec![Then::Alert]
}

/// The `[detect]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectSettings {
    #[serde(default = "yes")]
    pub defaults: bool,
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
}

fn yes() -> bool {
    true
}

impl Default for DetectSettings {
    fn default() -> Self {
        DetectSettings {
            defaults: true,
            rules: Vec::new(),
        }
    }
}

/// A rule, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub on: On,
    pub per: Option<Per>,
    pub count: u32,
    pub window: Duration,
    pub then: Vec<Then>,
    /// How long `suspend_caller` suspends the caller.
    pub suspend_for: Duration,
    pub severity: String,
}

/// How long `suspend_caller` suspends unless the rule says: long enough to stop a burst and
/// have someone look, short enough that a false alarm passes by itself.
const SUSPEND_FOR: Duration = Duration::from_secs(15 * 60);

/// `30s`, `5m`, `1h`, `1d`.
fn window(text: &str) -> Option<Duration> {
    let t = text.trim();
    let (n, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = n.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    (1..=7 * 86_400)
        .contains(&secs)
        .then(|| Duration::from_secs(secs))
}

impl DetectSettings {
    /// The rules in force: the defaults (unless turned off), then the configured ones, each
    /// checked; the first problem is said with its fix.
    pub fn rules(&self) -> Result<Vec<Rule>, String> {
        let mut specs = Vec::new();
        if self.defaults {
            specs.push(RuleSpec {
                name: Some("chain_broken".into()),
                on: On::ChainBroken,
                per: None,
                count: 1,
                window: "1m".into(),
                then: vec![Then::Alert],
                suspend_for: None,
                severity: Some("critical".into()),
            });
            specs.push(RuleSpec {
                name: Some("auth_failures".into()),
                on: On::AuthFailure,
                per: Some(Per::Address),
                count: 20,
                window: "1m".into(),
                then: vec![Then::Alert],
                suspend_for: None,
                severity: Some("warning".into()),
            });
        }
        specs.extend(self.rules.iter().cloned());
        let mut rules: Vec<Rule> = Vec::with_capacity(specs.len());
        for spec in specs {
            let name = spec.name.clone().unwrap_or_else(|| match spec.per {
                Some(per) => format!("{}-per-{}", spec.on.as_str(), per.as_str()),
                None => spec.on.as_str().to_owned(),
            });
            let at = format!("detect.rules {name}");
            if rules.iter().any(|r| r.name == name) {
                return Err(format!(
                    "{at}: two rules have this name; give each its own `name`"
                ));
            }
            let window = window(&spec.window).ok_or_else(|| {
                format!(
                    "{at}: window {:?} is a whole number and s, m, h or d, from 1s to 7d",
                    spec.window
                )
            })?;
            if spec.count == 0 {
                return Err(format!("{at}: count is at least 1"));
            }
            if spec.then.is_empty() {
                return Err(format!(
                    "{at}: then names what to do: [\"alert\"], [\"alert\", \"quarantine\"]"
                ));
            }
            if spec.then.contains(&Then::Quarantine) && spec.per != Some(Per::Tool) {
                return Err(format!(
                    "{at}: quarantine stops a tool, so the rule counts per = \"tool\""
                ));
            }
            if spec.then.contains(&Then::SuspendCaller) && spec.per != Some(Per::Caller) {
                return Err(format!(
                    "{at}: suspend_caller suspends a caller, so the rule counts per = \"caller\""
                ));
            }
            let suspend_for = match &spec.suspend_for {
                None => SUSPEND_FOR,
                Some(text) => self::window(text).ok_or_else(|| {
                    format!("{at}: suspend_for {text:?} is a whole number and s, m, h or d, from 1s to 7d")
                })?,
            };
            let severity = spec.severity.clone().unwrap_or_else(|| "warning".into());
            if !["critical", "warning", "info"].contains(&severity.as_str()) {
                return Err(format!(
                    "{at}: severity is critical, warning or info, not {severity:?}"
                ));
            }
            rules.push(Rule {
                name,
                on: spec.on,
                per: spec.per,
                count: spec.count,
                window,
                then: spec.then,
                suspend_for,
                severity,
            });
        }
        Ok(rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Rule>, String> {
        #[derive(Deserialize)]
        struct File {
            detect: DetectSettings,
        }
        toml::from_str::<File>(text)
            .map_err(|e| e.to_string())?
            .detect
            .rules()
    }

    #[test]
    fn rules_are_the_defaults_and_those_configured_each_checked() {
        let rules = parse(
            "[[detect.rules]]\non = \"denial\"\nper = \"tool\"\ncount = 5\nwindow = \"1m\"\nthen = [\"alert\", \"quarantine\"]\n",
        )
        .unwrap();
        let names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["chain_broken", "auth_failures", "denial-per-tool"]);
        assert_eq!(rules[2].window, Duration::from_secs(60));
        assert_eq!(rules[2].then, [Then::Alert, Then::Quarantine]);
        assert_eq!(rules[2].suspend_for, SUSPEND_FOR);
        let rules = parse(
            "[detect]\ndefaults = false\n[[detect.rules]]\non = \"quota_exceeded\"\nper = \"caller\"\nthen = [\"alert\", \"suspend_caller\"]\nsuspend_for = \"2h\"\n",
        )
        .unwrap();
        assert_eq!(rules[0].name, "quota_exceeded-per-caller");
        assert_eq!(rules[0].suspend_for, Duration::from_secs(7200));
        assert_eq!(
            parse("[detect]\ndefaults = false\n").unwrap(),
            Vec::<Rule>::new()
        );
        for (text, said) in [
            (
                "[[detect.rules]]\non = \"denial\"\nwindow = \"5 minutes\"\n",
                "from 1s to 7d",
            ),
            (
                "[[detect.rules]]\non = \"denial\"\nthen = [\"quarantine\"]\n",
                "per = \"tool\"",
            ),
            (
                "[[detect.rules]]\non = \"denial\"\ncount = 0\n",
                "at least 1",
            ),
            (
                "[[detect.rules]]\non = \"rate_limits\"\n",
                "unknown variant",
            ),
            (
                "[[detect.rules]]\non = \"denial\"\nper = \"tool\"\nthen = [\"suspend_caller\"]\n",
                "per = \"caller\"",
            ),
            (
                "[[detect.rules]]\non = \"rate_limited\"\nper = \"caller\"\nthen = [\"suspend_caller\"]\nsuspend_for = \"forever\"\n",
                "suspend_for",
            ),
            (
                "[[detect.rules]]\non = \"denial\"\nseverity = \"dire\"\n",
                "critical, warning or info",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(said), "{text}: {e}");
        }
    }
}
