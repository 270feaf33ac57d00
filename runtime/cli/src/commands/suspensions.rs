//! `cordon suspensions`: the callers suspended for a while by a detection rule or an admin
//! (docs/detection.md): `list` those in force, `add` one (an admin's key), `lift` one sooner.

use super::client::{ServerArgs, agent, enc, finish, key};
use anyhow::Context;
use clap::{Args, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct SuspensionsArgs {
    #[command(subcommand)]
    pub command: SuspensionsCommand,
}

#[derive(Debug, Subcommand)]
pub enum SuspensionsCommand {
    /// The suspensions in force (JSON; an auditor's or admin's key).
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Suspend a caller: its requests are refused on every node until the end (an admin's key).
    Add {
        /// The caller's id: an API key's id, or issuer#subject for a token.
        caller: String,
        /// For how long: a whole number and s, m, h or d, from 1s to 7d.
        #[arg(long = "for", value_name = "DURATION")]
        duration: String,
        /// Why (kept in the record, and told to the caller).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Lift a caller's suspension before its end (an admin's key).
    Lift {
        /// The caller's id, as `list` shows it.
        caller: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub fn suspensions(args: SuspensionsArgs) -> anyhow::Result<ExitCode> {
    let bearer = format!("Bearer {}", key()?);
    let response = match args.command {
        SuspensionsCommand::List { server } => agent()
            .get(format!("{}/v1/suspensions", server.server))
            .header("authorization", &bearer)
            .call()
            .with_context(|| format!("cannot reach {}", server.server))?,
        SuspensionsCommand::Add {
            caller,
            duration,
            reason,
            server,
        } => {
            let for_secs = seconds(&duration)?;
            let body =
                serde_json::json!({"caller": caller, "for_secs": for_secs, "reason": reason});
            agent()
                .post(format!("{}/v1/suspensions", server.server))
                .header("authorization", &bearer)
                .header("content-type", "application/json")
                .send(body.to_string().as_bytes())
                .with_context(|| format!("cannot reach {}", server.server))?
        }
        SuspensionsCommand::Lift { caller, server } => {
            let response = agent()
                .delete(format!(
                    "{}/v1/suspensions?caller={}",
                    server.server,
                    enc(&caller)
                ))
                .header("authorization", &bearer)
                .call()
                .with_context(|| format!("cannot reach {}", server.server))?;
            if response.status().is_success() {
                println!("lifted: {caller} may call again");
                return Ok(ExitCode::SUCCESS);
            }
            response
        }
    };
    finish(response)
}

/// `30s`, `15m`, `2h`, `1d` in seconds.
fn seconds(text: &str) -> anyhow::Result<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
        anyhow::anyhow!("--for {text:?}: a whole number and s, m, h or d, such as 15m or 2h")
    })?;
    let per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => anyhow::bail!("--for {text:?}: a whole number and s, m, h or d, such as 15m or 2h"),
    };
    n.checked_mul(per)
        .ok_or_else(|| anyhow::anyhow!("--for {text:?} is too long"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_are_read_as_the_rules_write_them() {
        assert_eq!(super::seconds("90s").unwrap(), 90);
        assert_eq!(super::seconds("15m").unwrap(), 900);
        assert_eq!(super::seconds("2h").unwrap(), 7200);
        assert_eq!(super::seconds("1d").unwrap(), 86_400);
        for bad in ["", "0m", "h", "1w", "1.5h", "-1h"] {
            assert!(super::seconds(bad).is_err(), "{bad}");
        }
    }
}
