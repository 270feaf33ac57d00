//! `cordon approvals`: calls the operator's decisions hold for a person's approval
//! (docs/decisions.md). `list` shows those the key in CORDON_API_KEY may decide on, with their
//! caller, tool, arguments and reasons; `approve ID` runs one (once, now), `deny ID` refuses it
//! (recorded `denied`). The ID is the held call's execution id.

use super::client::{ServerArgs, agent, enc, finish, key};
use anyhow::Context;
use clap::{Args, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ApprovalsArgs {
    #[command(subcommand)]
    pub command: ApprovalsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// The held calls this key may decide on, oldest first (JSON).
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Let a held call run: it runs at once, as its caller, exactly once.
    Approve {
        /// The held call's execution id.
        id: String,
        /// Why (kept in the audit log).
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Refuse a held call: it never runs, and is recorded `denied` with the reason.
    Deny {
        /// The held call's execution id.
        id: String,
        /// Why (kept in the audit log, and told to the call's caller).
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub fn approvals(args: ApprovalsArgs) -> anyhow::Result<ExitCode> {
    let (id, approve, reason, server) = match args.command {
        ApprovalsCommand::List { server } => {
            let response = agent()
                .get(format!("{}/v1/approvals", server.server))
                .header("authorization", format!("Bearer {}", key()?))
                .call()
                .with_context(|| format!("cannot reach {}", server.server))?;
            return finish(response);
        }
        ApprovalsCommand::Approve { id, reason, server } => (id, true, reason, server),
        ApprovalsCommand::Deny { id, reason, server } => (id, false, reason, server),
    };
    let body = serde_json::json!({"approve": approve, "reason": reason});
    let response = agent()
        .post(format!("{}/v1/approvals/{}", server.server, enc(&id)))
        .header("authorization", format!("Bearer {}", key()?))
        .header("content-type", "application/json")
        .send(body.to_string().as_bytes())
        .with_context(|| format!("cannot reach {}", server.server))?;
    finish(response)
}
