//! The HTTP client commands: `cordon publish`, `invoke`, `tools`, `executions`. They talk to a
//! running server; the API key comes from `CORDON_API_KEY`, never from argv.

use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Environment variable holding the API key the client commands send.
pub const API_KEY_VAR: &str = "CORDON_API_KEY";

#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// The server's base URL.
    #[arg(long, env = "CORDON_SERVER", default_value = "http://127.0.0.1:7878")]
    pub server: String,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The signed component.
    pub tool: PathBuf,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct InvokeArgs {
    pub name: String,
    #[arg(long)]
    pub input: String,
    /// A specific version (default: the newest).
    #[arg(long)]
    pub version: Option<String>,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct ExecutionsArgs {
    #[arg(long)]
    pub tool: Option<String>,
    #[arg(long)]
    pub outcome: Option<String>,
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    #[command(flatten)]
    pub server: ServerArgs,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .into()
}

fn key() -> anyhow::Result<String> {
    std::env::var(API_KEY_VAR).with_context(|| format!("set {API_KEY_VAR} to an API key"))
}

/// Prints the JSON answer; exit code 0 for 2xx, 1 otherwise.
fn finish(mut response: ureq::http::Response<ureq::Body>) -> anyhow::Result<ExitCode> {
    let status = response.status();
    let text = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .context("cannot read the server's answer")?;
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) => println!("{}", serde_json::to_string_pretty(&v)?),
        Err(_) => println!("{text}"),
    }
    Ok(if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn publish(args: PublishArgs) -> anyhow::Result<ExitCode> {
    let bytes = super::read_component(&args.tool)?;
    let response = agent()
        .post(format!("{}/v1/tools", args.server.server))
        .header("authorization", format!("Bearer {}", key()?))
        .header("content-type", "application/wasm")
        .send(&bytes[..])
        .with_context(|| format!("cannot reach {}", args.server.server))?;
    finish(response)
}

pub fn invoke(args: InvokeArgs) -> anyhow::Result<ExitCode> {
    let mut url = format!("{}/v1/tools/{}/invoke", args.server.server, args.name);
    if let Some(v) = &args.version {
        url.push_str(&format!("?version={v}"));
    }
    let response = agent()
        .post(url)
        .header("authorization", format!("Bearer {}", key()?))
        .header("content-type", "application/json")
        .send(args.input.as_bytes())
        .with_context(|| format!("cannot reach {}", args.server.server))?;
    finish(response)
}

pub fn tools(args: ListArgs) -> anyhow::Result<ExitCode> {
    let response = agent()
        .get(format!("{}/v1/tools", args.server.server))
        .header("authorization", format!("Bearer {}", key()?))
        .call()
        .with_context(|| format!("cannot reach {}", args.server.server))?;
    finish(response)
}

pub fn executions(args: ExecutionsArgs) -> anyhow::Result<ExitCode> {
    let mut url = format!("{}/v1/executions?limit={}", args.server.server, args.limit);
    if let Some(t) = &args.tool {
        url.push_str(&format!("&tool={t}"));
    }
    if let Some(o) = &args.outcome {
        url.push_str(&format!("&outcome={o}"));
    }
    let response = agent()
        .get(url)
        .header("authorization", format!("Bearer {}", key()?))
        .call()
        .with_context(|| format!("cannot reach {}", args.server.server))?;
    finish(response)
}
