//! Command-line arguments of `cordon` and the dispatch to each command.

use crate::commands;
use crate::logging::LogArgs;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "cordon",
    version,
    about = "Run untrusted WebAssembly tools under hard limits"
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: publish and invoke tools over HTTP.
    Serve(Box<commands::serve::ServeArgs>),
    /// Manage the server's API keys.
    Keys(commands::keys::KeysArgs),
    /// The audit log: verify it against checkpoints, print its key, list or export its events.
    Audit(commands::audit::AuditArgs),
    /// Check an execution receipt, offline, and optionally against the log.
    Receipt(commands::receipt::ReceiptArgs),
    /// Publish a signed tool to a server (API key from CORDON_API_KEY).
    Publish(commands::client::PublishArgs),
    /// Invoke a tool on a server.
    Invoke(commands::client::InvokeArgs),
    /// List a server's tools.
    Tools(commands::client::ListArgs),
    /// List a server's recent executions.
    Executions(commands::client::ExecutionsArgs),
    /// A caller's use of its quotas today (yours without CALLER).
    Quotas(commands::quotas::QuotasArgs),
    /// Stop every version of a tool on a server from running, with a reason.
    Quarantine(commands::client::QuarantineArgs),
    /// Lift a tool's quarantine on a server.
    Release(commands::client::ReleaseArgs),
    /// Bridge a stdio MCP client (a desktop app) to a server's /mcp endpoint.
    Mcp(commands::mcp::McpArgs),
    /// Run one call of a tool component and print its output.
    Run(commands::run::RunArgs),
    /// Print what a tool component says about itself (`describe()`), as JSON.
    Inspect(commands::inspect::InspectArgs),
    /// Create an ed25519 signing key.
    Keygen(commands::keygen::KeygenArgs),
    /// Sign a tool component with a private key.
    Sign(commands::sign::SignArgs),
    /// Check a tool component's signature against a trust store.
    Verify(commands::verify::VerifyArgs),
    /// Put a signed tool component in an OCI registry (oci://HOST/REPOSITORY:TAG).
    Push(commands::push::PushArgs),
    /// Validate policy files.
    Policy(commands::policy::PolicyArgs),
    /// Decisions as code: test a Rego bundle, see the decision it makes for an input, put it in
    /// force on a server.
    Decisions(commands::decisions::DecisionsArgs),
    /// Calls held for a person's approval: list them, approve or deny one.
    Approvals(commands::approvals::ApprovalsArgs),
    /// Alerts and their delivery to webhooks: list them, raise a test alert.
    Alerts(commands::alerts::AlertsArgs),
    /// Callers suspended by a detection rule or an admin: list, add, lift.
    Suspensions(commands::suspensions::SuspensionsArgs),
    /// Manage the encrypted secret store.
    Secret(commands::secret::SecretArgs),
}

/// Runs the chosen command. `Ok` carries the process exit code; `Err` is a failure of the
/// command itself (unreadable file, bad policy), reported with exit code 2.
pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => commands::serve::serve(*args).await,
        // Off the async workers: a PostgreSQL client blocks on a runtime of its own.
        Command::Keys(args) => tokio::task::spawn_blocking(|| commands::keys::keys(args)).await?,
        Command::Audit(args) => {
            tokio::task::spawn_blocking(|| commands::audit::audit(args)).await?
        }
        Command::Receipt(args) => commands::receipt::receipt(args),
        Command::Publish(args) => commands::client::publish(args),
        Command::Invoke(args) => commands::client::invoke(args),
        Command::Tools(args) => commands::client::tools(args),
        Command::Executions(args) => commands::client::executions(args),
        Command::Quotas(args) => commands::quotas::quotas(args),
        Command::Quarantine(args) => commands::client::quarantine(args),
        Command::Release(args) => commands::client::release(args),
        Command::Mcp(args) => commands::mcp::mcp(args).await,
        Command::Run(args) => commands::run::run(args).await,
        Command::Inspect(args) => commands::inspect::inspect(args).await,
        Command::Keygen(args) => commands::keygen::keygen(args),
        Command::Sign(args) => commands::sign::sign(args).await,
        Command::Verify(args) => commands::verify::verify(args).await,
        Command::Push(args) => commands::push::push(args).await,
        Command::Policy(args) => commands::policy::policy(args),
        Command::Decisions(args) => commands::decisions::decisions(args),
        Command::Approvals(args) => commands::approvals::approvals(args),
        Command::Alerts(args) => commands::alerts::alerts(args),
        Command::Suspensions(args) => commands::suspensions::suspensions(args),
        Command::Secret(args) => commands::secret::secret(args),
    }
}

/// An error and its causes on one line, each cause once: errors that already quote their cause
/// in their own message (as `thiserror`'s `#[error("...: {0}")]` with `#[from]` does) are not
/// followed by the cause again ("X: X").
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("database error: {0}")]
    struct Outer(#[from] std::io::Error);

    #[test]
    fn each_cause_is_said_once() {
        let e = anyhow::Error::from(Outer(std::io::Error::other("disk full")))
            .context("cannot publish");
        assert_eq!(
            super::error_chain(&e),
            "cannot publish: database error: disk full"
        );
    }

    /// Every command and subcommand says what it does, and every argument and option of each
    /// says what it is, in `--help` (the built-in help and version flags aside).
    #[test]
    fn every_argument_of_every_command_is_described() {
        use clap::CommandFactory;
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            if cmd.get_about().is_none() && path != "cordon" {
                missing.push(format!("{path}: no description of the command"));
            }
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if arg.is_hide_set() || id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path}: {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_name() != "help" {
                    walk(sub, &format!("{path} {}", sub.get_name()), missing);
                }
            }
        }
        let mut missing = Vec::new();
        let cli = super::Cli::command();
        walk(&cli, "cordon", &mut missing);
        assert!(
            missing.is_empty(),
            "described nowhere in --help: {missing:#?}"
        );
        assert!(
            cli.get_subcommands().count() > 15,
            "the walk saw the commands"
        );
    }
}
