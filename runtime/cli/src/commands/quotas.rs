//! `cordon quotas [CALLER]`: a caller's use of its quotas today, from a running server
//! (`GET /v1/quotas/{caller}`; yours without CALLER).

use super::client::{ServerArgs, agent, key, read_json};
use anyhow::Context;
use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct QuotasArgs {
    /// A key id or name, or a token caller as `issuer#subject` [default: the caller
    /// CORDON_API_KEY authenticates].
    pub caller: Option<String>,
    /// Print JSON even on a terminal.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

fn cell(used: &serde_json::Value, limit: &serde_json::Value) -> String {
    let used = used.as_u64().unwrap_or(0);
    match limit.as_u64() {
        Some(limit) => format!("{used} / {limit}"),
        None => format!("{used}"),
    }
}

pub fn quotas(args: QuotasArgs) -> anyhow::Result<ExitCode> {
    let who = args.caller.as_deref().unwrap_or("me");
    let response = agent()
        .get(format!(
            "{}/v1/quotas/{}",
            args.server.server,
            super::client::path_segment(who)
        ))
        .header("authorization", format!("Bearer {}", key()?))
        .call()
        .with_context(|| format!("cannot reach {}", args.server.server))?;
    if !response.status().is_success() {
        return super::client::finish(response);
    }
    let view = read_json(response)?;
    if super::table::wants_json(args.json) {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = view["scopes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let scope = s["scope"].as_str().unwrap_or_default();
            vec![
                if scope.is_empty() {
                    "(all tools)".to_owned()
                } else {
                    scope.to_owned()
                },
                cell(&s["executions"], &s["limits"]["executions_per_day"]),
                cell(&s["running"], &s["limits"]["concurrent"]),
                cell(&s["fuel"], &s["limits"]["fuel_per_day"]),
            ]
        })
        .collect();
    println!(
        "{} on {} (UTC; resets in {} s)",
        view["caller"].as_str().unwrap_or_default(),
        view["day"].as_str().unwrap_or_default(),
        view["resets_in_secs"]
    );
    print!(
        "{}",
        super::table::render(&["SCOPE", "EXECUTIONS", "RUNNING", "FUEL"], &rows)
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_subject_is_one_path_segment() {
        assert_eq!(
            super::super::client::path_segment("https://id.example.com#alice smith"),
            "https%3A%2F%2Fid.example.com%23alice%20smith"
        );
        assert_eq!(
            super::super::client::path_segment("a1b2c3d4e5f6"),
            "a1b2c3d4e5f6"
        );
    }
}
