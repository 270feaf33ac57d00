//! `cordon alerts`: the alerts the detection rules and the server raised (docs/detection.md),
//! with the state of each delivery to the configured webhooks (`list`); `test` raises a test
//! alert, to check that receivers get and verify what cordon sends.

use super::client::{ServerArgs, agent, finish, key};
use anyhow::Context;
use clap::{Args, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct AlertsArgs {
    #[command(subcommand)]
    pub command: AlertsCommand,
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// The newest alerts with their deliveries (JSON; an auditor's or admin's key).
    List {
        /// How many, newest first (1-500).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Raise a test alert, delivered to every webhook like a real one (an admin's key).
    Test {
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub fn alerts(args: AlertsArgs) -> anyhow::Result<ExitCode> {
    let response = match args.command {
        AlertsCommand::List { limit, server } => agent()
            .get(format!("{}/v1/alerts?limit={limit}", server.server))
            .header("authorization", format!("Bearer {}", key()?))
            .call()
            .with_context(|| format!("cannot reach {}", server.server))?,
        AlertsCommand::Test { server } => agent()
            .post(format!("{}/v1/alerts/test", server.server))
            .header("authorization", format!("Bearer {}", key()?))
            .send_empty()
            .with_context(|| format!("cannot reach {}", server.server))?,
    };
    finish(response)
}
