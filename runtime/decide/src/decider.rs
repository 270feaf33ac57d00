//! A compiled bundle, and the decisions it makes.

use crate::bundle::Bundle;
use crate::error::DecideError;
use regorus::Value;
use serde::{Deserialize, Serialize};
use std::num::NonZeroU32;
use std::time::Duration;

/// How long one decision may evaluate: a policy loop or an explosive comprehension is cut off
/// (and denies) long before a caller would notice; a policy of hundreds of rules takes well under
/// a millisecond.
pub const EVAL_LIMIT: Duration = Duration::from_millis(50);

/// How long a call may wait for its approval when the policy names no `timeout_secs`, and the
/// most it may name.
pub const DEFAULT_APPROVAL_SECS: u64 = 3_600;
pub const MAX_APPROVAL_SECS: u64 = 7 * 86_400;

/// What the bundle decided for one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// `allow` was `true`.
    pub allow: bool,
    /// The reasons `deny` gave (any refuses the call), in order.
    pub deny: Vec<String>,
    /// Who must approve the call before it runs, when the policy says so.
    pub approval: Option<Approval>,
}

impl Decision {
    /// True when the call may run (or wait for its approval): allowed and not denied.
    pub fn permits(&self) -> bool {
        self.allow && self.deny.is_empty()
    }
}

/// The policy's `approval` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Roles (`role:NAME`) or key names (`key:NAME`) of who may approve; none: any admin.
    #[serde(default)]
    pub approvers: Vec<String>,
    /// How long the call waits before it is denied.
    #[serde(default = "default_approval_secs")]
    pub timeout_secs: u64,
    /// Why the call needs approval, shown to the approvers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

fn default_approval_secs() -> u64 {
    DEFAULT_APPROVAL_SECS
}

/// An engine holding `bundle`'s modules (each parsed), every evaluation bounded by
/// [`EVAL_LIMIT`].
pub(crate) fn engine_with(bundle: &Bundle) -> Result<regorus::Engine, DecideError> {
    let mut engine = regorus::Engine::new();
    // As OPA decides by default: a built-in given an argument of the wrong type makes its
    // expression undefined (not an error), so that a policy written for OPA decides the same.
    engine.set_strict_builtin_errors(false);
    engine.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
        limit: EVAL_LIMIT,
        check_interval: NonZeroU32::new(64).unwrap_or(NonZeroU32::MIN),
    });
    for m in &bundle.modules {
        engine
            .add_policy(m.path.clone(), m.text.clone())
            .map_err(|e| DecideError::Module {
                module: m.path.clone(),
                message: e.to_string(),
            })?;
    }
    Ok(engine)
}

/// A bundle compiled: decisions are evaluated from it, from memory, with nothing read.
#[derive(Debug)]
pub struct Decider {
    engine: regorus::Engine,
    package: String,
    hash: String,
    has_deny: bool,
    has_approval: bool,
    /// The bundle compiled for regorus' virtual machine, when it compiles for it.
    vm: Option<Vm>,
}

/// The bundle as a program of regorus' Rego virtual machine, with machines ready to run it: a
/// decision takes one (or makes one) and gives it back. About four times quicker than the
/// interpreter for the same decision; a bundle the machine's compiler does not take is
/// interpreted instead.
#[derive(Debug)]
struct Vm {
    program: std::sync::Arc<regorus::rvm::program::Program>,
    /// The program serialized: each machine runs a copy of its own, so that machines on
    /// different threads never count references to the same values (a shared counter
    /// bouncing between cores doubled a decision's time with two threads deciding at once).
    binary: Vec<u8>,
    /// The entry points: `allow`, then `deny` and `approval` when declared.
    entries: Vec<String>,
    /// This program's identity among the machines each thread keeps.
    id: u64,
}

fn timer() -> regorus::utils::limits::ExecutionTimerConfig {
    regorus::utils::limits::ExecutionTimerConfig {
        limit: EVAL_LIMIT,
        check_interval: NonZeroU32::new(64).unwrap_or(NonZeroU32::MIN),
    }
}

impl Vm {
    fn compile(
        engine: &regorus::Engine,
        package: &str,
        has_deny: bool,
        has_approval: bool,
    ) -> Result<Vm, String> {
        let mut entries = vec![format!("data.{package}.allow")];
        if has_deny {
            entries.push(format!("data.{package}.deny"));
        }
        if has_approval {
            entries.push(format!("data.{package}.approval"));
        }
        let mut engine = engine.clone();
        let entry: regorus::Rc<str> = entries[0].as_str().into();
        let policy = engine
            .compile_with_entrypoint(&entry)
            .map_err(|e| e.to_string())?;
        let names: Vec<&str> = entries.iter().map(String::as_str).collect();
        let program =
            regorus::languages::rego::compiler::Compiler::compile_from_policy(&policy, &names)
                .map_err(|e| e.to_string())?;
        let binary = program.serialize_binary()?;
        Ok(Vm {
            program,
            binary,
            entries,
            id: NEXT_PROGRAM.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// Evaluates every entry point for `input`, in order.
    fn machine(&self) -> regorus::rvm::vm::RegoVM {
        use regorus::rvm::program::{DeserializationResult, Program};
        let own = match Program::deserialize_binary(&self.binary) {
            Ok(DeserializationResult::Complete(program)) => std::sync::Arc::new(program),
            _ => self.program.clone(),
        };
        let mut vm = regorus::rvm::vm::RegoVM::new();
        vm.load_program(own);
        vm.set_execution_timer_config(Some(timer()));
        vm
    }

    /// Evaluates every entry point for `input`, in order, on this thread's machine for this
    /// program (made the first time).
    fn run(&self, input: Value) -> Result<Vec<Value>, DecideError> {
        MACHINES.with(|machines| {
            let mut machines = machines.borrow_mut();
            let at = match machines.iter().position(|(id, _)| *id == self.id) {
                Some(at) => at,
                None => {
                    if machines.len() >= MACHINES_PER_THREAD {
                        machines.remove(0);
                    }
                    machines.push((self.id, self.machine()));
                    machines.len() - 1
                }
            };
            let vm = &mut machines[at].1;
            vm.set_input(input);
            let mut values = Vec::with_capacity(self.entries.len());
            let mut failed = None;
            for entry in &self.entries {
                let rule = entry.rsplit('.').next().unwrap_or(entry);
                match vm.execute_entry_point_by_name(entry) {
                    Ok(value) => values.push(value),
                    Err(e) => {
                        failed = Some(DecideError::Eval(format!("{rule}: {e}")));
                        break;
                    }
                }
            }
            match failed {
                // A machine that failed is not used again.
                Some(e) => {
                    machines.remove(at);
                    Err(e)
                }
                None => Ok(values),
            }
        })
    }
}

/// Programs get an identity each, so that a thread's machines are never run with another
/// bundle's program.
static NEXT_PROGRAM: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Machines a thread keeps: the newest bundles' (one in force, and the one just replaced).
const MACHINES_PER_THREAD: usize = 2;

thread_local! {
    /// Each thread's machines, by program: a decision takes its thread's, shared with no other
    /// thread (two threads sharing machines, or their values, slowed each other's decisions).
    static MACHINES: std::cell::RefCell<Vec<(u64, regorus::rvm::vm::RegoVM)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl Decider {
    /// Compiles `bundle`: every module must parse, and its package must declare `allow`.
    pub fn new(bundle: &Bundle) -> Result<Decider, DecideError> {
        let mut engine = engine_with(bundle)?;
        crate::input::check_references(bundle)?;
        let package = bundle.package.clone();
        // Which of the answers the package declares, read from the modules' rule heads
        // (nothing is evaluated here).
        let declares =
            |rule: &str| -> Result<bool, DecideError> {
                let mut found = false;
                for m in bundle.modules.iter().filter(|m| {
                    crate::bundle::package_of(&m.text).as_deref() == Some(package.as_str())
                }) {
                    found |= engine
                        .has_declared_rule_rooted_at(&m.path, rule)
                        .map_err(|e| DecideError::Module {
                            module: m.path.clone(),
                            message: e.to_string(),
                        })?;
                }
                Ok(found)
            };
        if !declares("allow")? {
            return Err(DecideError::Bundle(format!(
                "package {package} declares no `allow` rule: a call runs only when `allow` is true, so add `default allow := false` and the rules that allow"
            )));
        }
        let has_deny = declares("deny")?;
        let has_approval = declares("approval")?;
        // Analyzed once here; every decision clones the prepared engine.
        engine
            .eval_bool_query("true".to_owned(), false)
            .map_err(|e| DecideError::Bundle(format!("the bundle does not compile: {e}")))?;
        let vm = Vm::compile(&engine, &package, has_deny, has_approval).ok();
        Ok(Decider {
            engine,
            package,
            hash: bundle.hash(),
            has_deny,
            has_approval,
            vm,
        })
    }

    /// The package that answers.
    pub fn package(&self) -> &str {
        &self.package
    }

    /// The bundle's hash (see [`Bundle::hash`]).
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The decision for `input`; an error when it could not be evaluated (the caller denies).
    pub fn decide(&self, input: &serde_json::Value) -> Result<Decision, DecideError> {
        self.decide_input(Value::from(input.clone()))
    }

    /// The decision for a document the server built.
    pub fn decide_document(
        &self,
        document: &crate::document::Document,
    ) -> Result<Decision, DecideError> {
        self.decide_input(crate::document::input_of(document))
    }

    /// Whether decisions run on the virtual machine (else the interpreter).
    pub fn compiled(&self) -> bool {
        self.vm.is_some()
    }

    /// The same bundle, always interpreted (to compare the two).
    #[doc(hidden)]
    pub fn interpreted(mut self) -> Decider {
        self.vm = None;
        self
    }

    /// The values of `allow`, `deny` and `approval` (those declared) for `input`.
    fn evaluate(&self, input: Value) -> Result<Vec<Value>, DecideError> {
        if let Some(vm) = &self.vm {
            return vm.run(input);
        }
        let mut engine = self.engine.clone();
        engine.set_input(input);
        let mut rules = vec!["allow"];
        if self.has_deny {
            rules.push("deny");
        }
        if self.has_approval {
            rules.push("approval");
        }
        rules
            .into_iter()
            .map(|rule| {
                engine
                    .eval_rule(format!("data.{}.{rule}", self.package))
                    .map_err(|e| DecideError::Eval(format!("{rule}: {e}")))
            })
            .collect()
    }

    fn decide_input(&self, input: Value) -> Result<Decision, DecideError> {
        let mut values = self.evaluate(input)?.into_iter();
        let allow = values.next() == Some(Value::Bool(true));
        let deny = if self.has_deny {
            reasons(values.next().unwrap_or(Value::Undefined))?
        } else {
            Vec::new()
        };
        let approval = if !self.has_approval {
            None
        } else {
            match values.next().unwrap_or(Value::Undefined) {
                Value::Undefined | Value::Null | Value::Bool(false) => None,
                Value::Bool(true) => Some(Approval {
                    approvers: Vec::new(),
                    timeout_secs: DEFAULT_APPROVAL_SECS,
                    reason: None,
                }),
                value => {
                    let text = value
                        .to_json_str()
                        .map_err(|e| DecideError::Eval(format!("approval: {e}")))?;
                    let approval: Approval = serde_json::from_str(&text).map_err(|e| {
                    DecideError::Eval(format!(
                        "approval is {{\"approvers\": [\"role:NAME\" or \"key:NAME\", ...], \"timeout_secs\": N}}, not {text}: {e}"
                    ))
                })?;
                    if approval.timeout_secs == 0 || approval.timeout_secs > MAX_APPROVAL_SECS {
                        return Err(DecideError::Eval(format!(
                            "approval.timeout_secs is 1 to {MAX_APPROVAL_SECS}, not {}",
                            approval.timeout_secs
                        )));
                    }
                    Some(approval)
                }
            }
        };
        Ok(Decision {
            allow,
            deny,
            approval,
        })
    }
}

/// `deny`'s reasons: a set (or array) of strings; undefined is none.
fn reasons(value: Value) -> Result<Vec<String>, DecideError> {
    let items: Vec<Value> = match value {
        Value::Undefined => return Ok(Vec::new()),
        Value::Set(set) => set.iter().cloned().collect(),
        Value::Array(items) => items.iter().cloned().collect(),
        other => {
            return Err(DecideError::Eval(format!(
                "deny is a set of reason strings, not {}",
                other.to_json_str().unwrap_or_default()
            )));
        }
    };
    Ok(items
        .into_iter()
        .map(|v| match v {
            Value::String(s) => s.to_string(),
            other => other.to_json_str().unwrap_or_default(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::Module;
    use serde_json::json;

    fn decider(text: &str) -> Result<Decider, DecideError> {
        Decider::new(&Bundle::new(
            vec![Module {
                path: "policy.rego".into(),
                text: text.into(),
            }],
            "cordon",
        )?)
    }

    const POLICY: &str = r#"
package cordon
import rego.v1

default allow := false
allow if "invoker" in input.caller.roles

deny contains "no path under /etc" if startswith(input.arguments.path, "/etc")
deny contains sprintf("%s may not call after hours", [input.caller.name]) if input.request.hour >= 22

approval := {"approvers": ["role:admin"], "timeout_secs": 600} if input.tool.name == "delete_files"
"#;

    fn input(roles: &[&str], path: &str, hour: u32, tool: &str) -> serde_json::Value {
        json!({
            "caller": {"name": "ada", "roles": roles},
            "tool": {"name": tool},
            "arguments": {"path": path},
            "request": {"hour": hour},
        })
    }

    #[test]
    fn allow_deny_and_approval_come_from_the_bundle() {
        let d = decider(POLICY).unwrap();
        let ok = d
            .decide(&input(&["invoker"], "/tmp/a", 10, "echo"))
            .unwrap();
        assert!(ok.permits());
        assert_eq!(ok.approval, None);
        let not_invoker = d
            .decide(&input(&["auditor"], "/tmp/a", 10, "echo"))
            .unwrap();
        assert!(!not_invoker.allow && !not_invoker.permits());
        let denied = d
            .decide(&input(&["invoker"], "/etc/passwd", 23, "echo"))
            .unwrap();
        assert!(denied.allow && !denied.permits());
        assert_eq!(
            denied.deny,
            ["ada may not call after hours", "no path under /etc"]
        );
        let held = d
            .decide(&input(&["invoker"], "/tmp/a", 10, "delete_files"))
            .unwrap();
        assert_eq!(
            held.approval,
            Some(Approval {
                approvers: vec!["role:admin".into()],
                timeout_secs: 600,
                reason: None,
            })
        );
    }

    #[test]
    fn a_bundle_without_allow_or_that_does_not_parse_is_refused() {
        let err =
            decider("package cordon\nimport rego.v1\ndeny contains \"x\" if true\n").unwrap_err();
        assert!(err.to_string().contains("default allow := false"), "{err}");
        let err = decider("package cordon\nallow if {").unwrap_err();
        assert!(err.to_string().starts_with("policy.rego:"), "{err}");
    }

    #[test]
    fn an_evaluation_that_fails_or_runs_away_is_an_error_and_denies_nothing_by_itself() {
        // A malformed approval is an error (the caller denies), never an approval.
        let d =
            decider("package cordon\nimport rego.v1\nallow := true\napproval := {\"who\": 1}\n")
                .unwrap();
        assert!(d.decide(&json!({})).is_err());
        // A rule that does not finish within the limit is cut off.
        let slow = decider(
            "package cordon\nimport rego.v1\nallow if { count([1 | some i in numbers.range(1, 5000); some j in numbers.range(1, 5000)]) > 0 }\n",
        )
        .unwrap();
        let started = std::time::Instant::now();
        assert!(slow.decide(&json!({})).is_err());
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

#[cfg(test)]
mod shared {
    use super::*;
    use crate::bundle::Module;

    /// The server holds one decider for every request: decisions made on several threads at
    /// once each get their own answer.
    #[test]
    fn one_decider_decides_on_many_threads_at_once() {
        let bundle = Bundle::new(
            vec![Module {
                path: "p.rego".into(),
                text: "package cordon\nimport rego.v1\ndefault allow := false\nallow if input.caller.name == \"ada\"\n".into(),
            }],
            "cordon",
        )
        .unwrap();
        let decider = std::sync::Arc::new(Decider::new(&bundle).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let d = decider.clone();
                std::thread::spawn(move || {
                    let name = if i % 2 == 0 { "ada" } else { "bob" };
                    (0..200)
                        .map(|_| {
                            d.decide(&serde_json::json!({"caller": {"name": name}}))
                                .unwrap()
                                .allow
                        })
                        .all(|allowed| allowed == (i % 2 == 0))
                })
            })
            .collect();
        for t in threads {
            assert!(t.join().unwrap());
        }
    }
}

#[cfg(test)]
mod machine {
    use super::*;
    use serde_json::json;

    fn bundle(name: &str) -> Bundle {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../policies/decisions")
            .join(name);
        Bundle::from_dir(&dir).unwrap()
    }

    /// The virtual machine decides exactly as the interpreter does, for the example bundle and
    /// the benchmarks' one, over documents as the server builds them that take every rule's
    /// branches (arguments of any shape, or none).
    #[test]
    fn the_machine_decides_as_the_interpreter_does() {
        for name in ["example", "bench"] {
            let b = bundle(name);
            let compiled = Decider::new(&b).unwrap();
            assert!(compiled.compiled(), "{name} runs on the machine");
            let interpreted = Decider::new(&b).unwrap().interpreted();
            let mut cases = 0;
            for roles in [
                json!(["invoker"]),
                json!(["admin"]),
                json!([]),
                json!(["auditor"]),
            ] {
                for tool in ["echo", "notes", "tickets", "delete_files", "read_file"] {
                    for (hour, weekday) in [(10, "Tue"), (22, "Tue"), (10, "Sun")] {
                        for arguments in [
                            json!({"text": "hi"}),
                            json!({"paths": ["/etc/shadow"], "text": "password: x"}),
                            json!({"text": "see https://x", "priority": "urgent"}),
                            json!(null),
                        ] {
                            for address in ["127.0.0.1", "203.0.113.9"] {
                                let input = json!({
                                    "action": "invoke",
                                    "caller": {"name": "mallory", "kind": "token", "roles": roles, "claims": {"tenant": "acme"}},
                                    "tool": {"name": tool, "read_only": tool == "echo"},
                                    "arguments": arguments,
                                    "request": {"hour": hour, "weekday": weekday, "address": address},
                                });
                                // The time limit is wall-clock: a debug build on a loaded
                                // machine (the test suite runs beside it) may reach it. Such a
                                // decision is asked again, up to three times: what is compared
                                // is what each decides, not how fast.
                                let decide = |d: &Decider| {
                                    let mut got = d.decide(&input);
                                    for _ in 0..3 {
                                        match &got {
                                            Err(DecideError::Eval(m))
                                                if m.contains("time limit") =>
                                            {
                                                got = d.decide(&input)
                                            }
                                            _ => break,
                                        }
                                    }
                                    got
                                };
                                let (a, b) = (decide(&compiled), decide(&interpreted));
                                match (&a, &b) {
                                    (Ok(a), Ok(b)) => assert_eq!(a, b, "{name}: {input}"),
                                    (Err(_), Err(_)) => {}
                                    _ => panic!("{name}: {input}: {a:?} / {b:?}"),
                                }
                                cases += 1;
                            }
                        }
                    }
                }
            }
            assert_eq!(cases, 480);
        }
    }
}
