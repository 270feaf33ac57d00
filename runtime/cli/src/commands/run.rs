//! `cordon run`: one call of a tool component, printed as output or as a JSON report.

use super::SandboxArgs;
use anyhow::Context;
use clap::Args;
use cordon_core::{Execution, Outcome, Usage};
use cordon_host::admission::{SignatureCheck, admit};
use cordon_trust::TrustStore;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The tool component (.wasm).
    pub tool: PathBuf,
    /// Input JSON.
    #[arg(
        long,
        required_unless_present = "input_file",
        conflicts_with = "input_file"
    )]
    pub input: Option<String>,
    /// Read the input JSON from this file (`-` for stdin).
    #[arg(long)]
    pub input_file: Option<PathBuf>,
    /// Which tool of a component that has several to run (`cordon inspect` lists them);
    /// default: its first.
    #[arg(long)]
    pub name: Option<String>,
    /// Print one JSON object {"outcome", "output", "content", "error", "usage"} instead of the
    /// output.
    #[arg(long)]
    pub json: bool,
    /// Trust store that must vouch for the tool's signature: a TOML file or a directory of
    /// `<publisher>.pub` files.
    #[arg(long, env = "CORDON_TRUST")]
    pub trust: Option<PathBuf>,
    /// Run without checking the signature. A local development escape hatch: the server has
    /// no such option.
    #[arg(long)]
    pub allow_unsigned: bool,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    #[command(flatten)]
    pub data: super::secret::DataArgs,
    /// Run without confining the process (Landlock, seccomp; docs/security.md).
    #[arg(long)]
    pub no_confine: bool,
}

/// What a confined `cordon run` keeps: read access to the tool, its input, trust store, policy
/// and the secret store; the compiled-component cache; the policy's mounts with their modes.
/// Runs before any thread exists.
pub fn confinement_plan(args: &RunArgs) -> anyhow::Result<cordon_host::confine::Plan> {
    let mut plan = cordon_host::confine::Plan::new();
    plan.read(&args.tool);
    if let Some(input) = args.input_file.as_ref().filter(|p| p.as_os_str() != "-") {
        plan.read(input);
    }
    if let Some(trust) = &args.trust {
        plan.read(trust);
    }
    if let Some(path) = &args.sandbox.policy {
        plan.read(path);
        for m in &args.sandbox.policy()?.mounts {
            plan.mount(&m.host, m.writable);
        }
    }
    if let Ok(data) = args.data.dir() {
        plan.read(data);
    }
    if let Some(cache) = args.sandbox.cache_dir() {
        std::fs::create_dir_all(&cache)
            .with_context(|| format!("cannot create {}", cache.display()))?;
        plan.write(cache);
    }
    Ok(plan)
}

/// Exit code 0 only for `ok`; 1 for every other outcome.
pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    super::serve::log_confinement();
    let input = match (&args.input, &args.input_file) {
        (Some(text), _) => text.clone(),
        (None, Some(path)) if path.as_os_str() == "-" => {
            std::io::read_to_string(std::io::stdin()).context("cannot read the input from stdin")?
        }
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        (None, None) => anyhow::bail!("give --input or --input-file"),
    };
    let bytes = super::read_component(&args.tool)?;
    let sandbox = args.sandbox.sandbox()?;
    let policy = args.sandbox.policy()?;
    let limits = args.sandbox.limits(&policy, &sandbox)?;
    let grants = args
        .sandbox
        .grants(&policy, limits.clone(), || args.data.dir())?;
    let store;
    let check = match (&args.trust, args.allow_unsigned) {
        (_, true) => {
            tracing::warn!("running without signature verification (--allow-unsigned)");
            SignatureCheck::AllowUnsigned
        }
        (Some(path), false) => {
            store = TrustStore::load(path)?;
            SignatureCheck::Required {
                store: &store,
                publishers: policy.publishers.as_deref(),
            }
        }
        (None, false) => anyhow::bail!(
            "no trust store to check the tool's signature with: give --trust FILE (a trust.toml, or a directory of <publisher>.pub files), or --allow-unsigned to run a tool you built yourself without checking it"
        ),
    };
    let admitted = admit(&sandbox, &bytes, check, &limits)
        .await
        .with_context(|| format!("cannot run {}", args.tool.display()))?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| admitted.first().name.clone());
    let Some((tool, info)) = admitted.tool_named(&name) else {
        let names: Vec<&str> = admitted
            .toolbox
            .tools
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        anyhow::bail!(
            "{} has no tool named {name:?}; its tools: {}",
            args.tool.display(),
            names.join(", ")
        );
    };
    let span = tracing::info_span!("run", tool = info.name, version = info.version);
    // The same checks as the server's, with the same messages: nothing runs on a refused input.
    let validator = cordon_host::input::validator(&info.input_schema)
        .map_err(|e| {
            tracing::warn!(
                error = e,
                "the tool's input schema does not compile; inputs are not pre-validated"
            )
        })
        .ok();
    let exec = match cordon_host::input::check(input.as_bytes(), validator.as_ref()) {
        Err(message) => Execution::refused(
            Outcome::InvalidInput,
            message,
            Usage {
                input_bytes: input.len() as u64,
                ..Usage::default()
            },
            tool.digest().to_owned(),
            tool.signer().map(str::to_owned),
        ),
        Ok(text) => {
            // Progress the tool reports is shown on a terminal; Ctrl-C stops the call (recorded
            // as cancelled, with what it used) instead of killing the process.
            let (bar, sink) = super::progress::tool_bar();
            let control = cordon_sandbox::CallControl::new().with_progress(sink);
            let stop = control.clone();
            let interrupt = tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    stop.cancel("the user (Ctrl-C)");
                }
            });
            tracing::debug!("the tool runs; Ctrl-C stops it");
            let exec = tracing::Instrument::instrument(
                sandbox.call_with(&tool, text, &grants, &control),
                span,
            )
            .await;
            interrupt.abort();
            bar.finish_and_clear();
            exec
        }
    };

    if args.json {
        println!("{}", serde_json::to_string(&exec)?);
    } else {
        for (stream, text) in [("stdout", &exec.stdout), ("stderr", &exec.stderr)] {
            for line in text.lines() {
                eprintln!("[tool {stream}] {line}");
            }
        }
        if exec.outcome == Outcome::Ok {
            if let Some(output) = &exec.output {
                println!("{}", serde_json::to_string_pretty(output)?);
            }
            // Content blocks, one line each: text as it is, anything else as its JSON (binary
            // data as base64).
            for block in &exec.content {
                match block {
                    cordon_core::Content::Text { text } => println!("{text}"),
                    other => println!("{}", serde_json::to_string(other)?),
                }
            }
        } else {
            eprintln!(
                "{}: {}",
                exec.outcome,
                exec.error.as_deref().unwrap_or("no reason given")
            );
        }
    }
    Ok(if exec.outcome == Outcome::Ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
