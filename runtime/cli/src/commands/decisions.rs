//! `cordon decisions`: decisions as code (Rego bundles, `cordon-decide`), checked where they
//! are written. `test DIR` runs the bundle's `test_*` rules, as `opa test` does; `eval DIR
//! --input FILE` shows the decision the bundle makes for one input document; `apply DIR` puts
//! the bundle in force on a server (hence on every node sharing its store) once it compiles and
//! its tests pass here; `show` and `remove` read and take away the bundle in force.

use super::client::{ServerArgs, agent, finish, key, read_json};

use anyhow::Context;
use clap::{Args, Subcommand};
use cordon_decide::{Bundle, Decider};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct DecisionsArgs {
    #[command(subcommand)]
    pub command: DecisionsCommand,
}

#[derive(Debug, Subcommand)]
pub enum DecisionsCommand {
    /// Run a bundle's test rules (`test_*` in any of its packages); exit 1 when one fails.
    Test {
        /// The bundle: a directory of `.rego` files (and an optional manifest.json naming the
        /// package that decides).
        dir: PathBuf,
    },
    /// Print the JSON Schema of the input document a decision reads.
    Schema,
    /// Put a bundle in force on a server (an admin key in CORDON_API_KEY), hence on every node
    /// sharing its store within a second. It is compiled and its test rules are run here first:
    /// a bundle whose tests fail is not sent.
    Apply {
        /// The bundle's directory.
        dir: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// The bundle in force on a server, and who changed it when.
    Show {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Take the bundle in force away: the tools' `[access]` rules alone decide again.
    Remove {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Print the decision a bundle makes for one input document (JSON), with its bundle hash
    /// and the rules of its package that fired (with their values); exit 1 when it refuses the
    /// call.
    Eval {
        /// The bundle's directory.
        dir: PathBuf,
        /// The input document: a JSON file, or - for stdin.
        #[arg(long)]
        input: PathBuf,
    },
}

pub fn decisions(args: DecisionsArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        DecisionsCommand::Test { dir } => test(&dir),
        DecisionsCommand::Eval { dir, input } => eval(&dir, &input),
        DecisionsCommand::Schema => {
            println!("{}", cordon_decide::INPUT_SCHEMA);
            Ok(ExitCode::SUCCESS)
        }
        DecisionsCommand::Apply { dir, server } => apply(&dir, &server),
        DecisionsCommand::Show { server } => {
            let response = agent()
                .get(format!("{}/v1/decisions", server.server))
                .header("authorization", format!("Bearer {}", key()?))
                .call()
                .with_context(|| format!("cannot reach {}", server.server))?;
            finish(response)
        }
        DecisionsCommand::Remove { server } => {
            let response = agent()
                .delete(format!("{}/v1/decisions", server.server))
                .header("authorization", format!("Bearer {}", key()?))
                .call()
                .with_context(|| format!("cannot reach {}", server.server))?;
            finish(response)
        }
    }
}

fn apply(dir: &std::path::Path, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let key = key()?;
    let bundle = Bundle::from_dir(dir)?;
    let decider = Decider::new(&bundle)?;
    let outcomes = cordon_decide::run_tests(&bundle)?;
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.passed)
        .map(|o| o.rule.as_str())
        .collect();
    if !failed.is_empty() {
        anyhow::bail!(
            "not applied: {} of the bundle's {} tests fail ({}); `cordon decisions test {}` shows why",
            failed.len(),
            outcomes.len(),
            failed.join(", "),
            dir.display()
        );
    }
    let body = serde_json::json!({
        "package": bundle.package,
        "modules": bundle.modules,
    });
    let response = agent()
        .put(format!("{}/v1/decisions", server.server))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .send(body.to_string().as_bytes())
        .with_context(|| format!("cannot reach {}", server.server))?;
    let status = response.status().as_u16();
    let answer = read_json(response)?;
    if status != 200 {
        anyhow::bail!(
            "not applied: {} ({})",
            answer["error"]["message"].as_str().unwrap_or("refused"),
            answer["error"]["code"].as_str().unwrap_or("error")
        );
    }
    let hash = answer["hash"].as_str().unwrap_or_default();
    if hash != decider.hash() {
        anyhow::bail!(
            "the server holds bundle {hash}, not the {} sent",
            decider.hash()
        );
    }
    if answer["changed"] == serde_json::json!(true) {
        eprintln!(
            "decisions {hash} in force on {} ({} modules, package {}, {} tests passed)",
            server.server,
            bundle.modules.len(),
            bundle.package,
            outcomes.len()
        );
    } else {
        eprintln!(
            "decisions {hash} were already in force on {}",
            server.server
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn test(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let bundle = Bundle::from_dir(dir)?;
    // The bundle must also be one the server would take.
    Decider::new(&bundle)?;
    let outcomes = cordon_decide::run_tests(&bundle)?;
    if outcomes.is_empty() {
        anyhow::bail!(
            "{} has no test rules: name them test_... (e.g. `test_invokers_may if data.cordon.allow with input as {{...}}`)",
            dir.display()
        );
    }
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    for o in &outcomes {
        match (&o.detail, o.passed) {
            (_, true) => println!("PASS {}", o.rule),
            (Some(detail), false) => println!("FAIL {} ({detail})", o.rule),
            (None, false) => println!("FAIL {}", o.rule),
        }
    }
    println!(
        "{} passed, {failed} failed",
        outcomes.len().saturating_sub(failed)
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn eval(dir: &std::path::Path, input: &std::path::Path) -> anyhow::Result<ExitCode> {
    let bundle = Bundle::from_dir(dir)?;
    let decider = Decider::new(&bundle)?;
    let text = if input.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read the input from stdin")?
    } else {
        std::fs::read_to_string(input)
            .with_context(|| format!("cannot read {}", input.display()))?
    };
    let document: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", input.display()))?;
    // An evaluation error denies, here as on the server.
    let (decision, error) = match decider.decide(&document) {
        Ok(d) => (Some(d), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let permits = decision
        .as_ref()
        .is_some_and(cordon_decide::Decision::permits);
    // The rules of the deciding package that fired (defined, not false), with their values.
    let rules = cordon_decide::fired(&bundle, &document).unwrap_or_default();
    let report = serde_json::json!({
        "bundle": decider.hash(),
        "package": decider.package(),
        "permits": permits,
        "decision": decision,
        "error": error,
        "rules": rules,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(if permits {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
