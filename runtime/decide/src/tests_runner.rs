//! `cordon decisions test DIR`: the bundle's test rules (`test_*`, in any package), each
//! evaluated as `opa test` does: it passes when it is `true`.

use crate::bundle::Bundle;
use crate::error::DecideError;
use regorus::Value;

/// One test rule and how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOutcome {
    /// `data.PACKAGE.test_NAME`.
    pub rule: String,
    pub passed: bool,
    /// What it evaluated to, or the error, when it did not pass.
    pub detail: Option<String>,
}

/// Runs every `test_*` rule of `bundle` (a rule head at the start of a line, after its
/// module's `package`).
pub fn run_tests(bundle: &Bundle) -> Result<Vec<TestOutcome>, DecideError> {
    let mut engine = crate::decider::engine_with(bundle)?;
    let mut rules = Vec::new();
    for m in &bundle.modules {
        let mut package = None;
        for line in m.text.lines() {
            let line = line.trim_start();
            if let Some(rest) = line.strip_prefix("package ") {
                package = Some(rest.trim().to_owned());
            } else if line.starts_with("test_")
                && let Some(package) = &package
            {
                let name: String = line
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let rule = format!("data.{package}.{name}");
                if !rules.contains(&rule) {
                    rules.push(rule);
                }
            }
        }
    }
    Ok(rules
        .into_iter()
        .map(|rule| match engine.eval_rule(rule.clone()) {
            Ok(Value::Bool(true)) => TestOutcome {
                rule,
                passed: true,
                detail: None,
            },
            Ok(other) => TestOutcome {
                rule,
                passed: false,
                detail: Some(match other {
                    Value::Undefined => "undefined".to_owned(),
                    v => v.to_json_str().unwrap_or_default(),
                }),
            },
            Err(e) => TestOutcome {
                rule,
                passed: false,
                detail: Some(e.to_string()),
            },
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::Module;

    #[test]
    fn test_rules_pass_when_true_and_say_what_they_were_otherwise() {
        let policy = Module {
            path: "policy.rego".into(),
            text: "package cordon\nimport rego.v1\ndefault allow := false\nallow if input.caller.name == \"ada\"\n".into(),
        };
        let tests = Module {
            path: "policy_test.rego".into(),
            text: "package cordon_test\nimport rego.v1\ntest_ada_may if data.cordon.allow with input as {\"caller\": {\"name\": \"ada\"}}\ntest_bob_may if data.cordon.allow with input as {\"caller\": {\"name\": \"bob\"}}\n".into(),
        };
        let bundle = Bundle::new(vec![policy, tests], "cordon").unwrap();
        let outcomes = run_tests(&bundle).unwrap();
        assert_eq!(outcomes.len(), 2, "{outcomes:?}");
        assert_eq!(outcomes[0].rule, "data.cordon_test.test_ada_may");
        assert!(outcomes[0].passed, "{outcomes:?}");
        assert!(!outcomes[1].passed);
        assert_eq!(outcomes[1].detail.as_deref(), Some("undefined"));
    }
}
