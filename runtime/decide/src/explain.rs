//! Why a decision came out as it did: the value of every rule of the deciding package for one
//! input (those that are undefined, which did not fire, left out), as `cordon decisions eval`
//! shows them beside the decision.

use crate::bundle::{Bundle, package_of};
use crate::decider::engine_with;
use crate::error::DecideError;
use regorus::Value;
use std::collections::BTreeMap;

/// The names of the rules `text` defines at its top level (not functions, not `default`s'
/// targets twice): a rule head starts a line with its name.
fn rule_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in text.lines() {
        if line.starts_with(char::is_whitespace) {
            continue;
        }
        let line = line.strip_prefix("default ").unwrap_or(line);
        let name: String = line
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let rest = line[name.len()..].trim_start();
        let is_head = ["if", ":=", "=", "contains", "{", "["]
            .iter()
            .any(|t| rest.starts_with(t))
            || rest.is_empty() && !name.is_empty();
        if name.is_empty()
            || ["package", "import", "else"].contains(&name.as_str())
            || name.starts_with("test_")
            || !is_head
        {
            continue;
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Every defined rule of `bundle`'s deciding package for `input`, by name, as JSON.
pub fn fired(
    bundle: &Bundle,
    input: &serde_json::Value,
) -> Result<BTreeMap<String, serde_json::Value>, DecideError> {
    let mut engine = engine_with(bundle)?;
    engine.set_input(Value::from(input.clone()));
    let mut names = Vec::new();
    for m in &bundle.modules {
        if package_of(&m.text).as_deref() == Some(bundle.package.as_str()) {
            for name in rule_names(&m.text) {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
    }
    let mut fired = BTreeMap::new();
    for name in names {
        let value = engine
            .eval_rule(format!("data.{}.{name}", bundle.package))
            .map_err(|e| DecideError::Eval(format!("{name}: {e}")))?;
        if value == Value::Undefined || value == Value::Bool(false) {
            continue;
        }
        let json = value
            .to_json_str()
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(serde_json::Value::Null);
        fired.insert(name, json);
    }
    Ok(fired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::Module;
    use serde_json::json;

    #[test]
    fn the_rules_that_fired_are_named_with_their_values() {
        let text = "package cordon\nimport rego.v1\n\ndefault allow := false\n\nallow if working\n\nworking if input.hour < 19\n\nlate if input.hour >= 19\n\ndeny contains \"no\" if input.hour == 3\n\nlimit(x) := x * 2\n";
        assert_eq!(rule_names(text), ["allow", "working", "late", "deny"]);
        let bundle = Bundle::new(
            vec![Module {
                path: "p.rego".into(),
                text: text.into(),
            }],
            "cordon",
        )
        .unwrap();
        let day = fired(&bundle, &json!({"hour": 10})).unwrap();
        assert_eq!(
            day,
            BTreeMap::from([
                ("allow".to_owned(), json!(true)),
                ("working".to_owned(), json!(true)),
                ("deny".to_owned(), json!([])),
            ])
        );
        let night = fired(&bundle, &json!({"hour": 3})).unwrap();
        assert_eq!(night["deny"], json!(["no"]));
        assert!(!night.contains_key("late"));
        let evening = fired(&bundle, &json!({"hour": 20})).unwrap();
        assert_eq!(evening["late"], json!(true));
        assert!(!evening.contains_key("allow") && !evening.contains_key("working"));
    }
}
