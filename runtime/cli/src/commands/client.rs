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
    /// The signed component: a file, or an OCI reference the server pulls it from
    /// (`oci://HOST[:PORT]/REPOSITORY:TAG` or `...@sha256:DIGEST`; a tag is resolved once, now).
    pub tool: PathBuf,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// The tool to call, by its published name (`cordon tools` lists them).
    pub name: String,
    /// The tool's input: one JSON value, as its input schema asks (`'{"text":"hi"}'`).
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

/// The outcome names `--outcome` accepts (a typo is refused rather than matching nothing).
fn outcomes() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(cordon_core::Outcome::ALL.map(|o| o.as_str()))
}

/// The paging and output options of the listing commands (`executions`, `audit events`).
#[derive(Debug, Args)]
pub struct PageArgs {
    /// Only records at or after this time: RFC 3339 (`2026-12-01T10:00:00Z`) or a duration ago
    /// (`90m`, `2h`, `7d`).
    #[arg(long, value_parser = parse_when)]
    pub since: Option<i64>,
    /// Only records before this time (same forms as --since).
    #[arg(long, value_parser = parse_when)]
    pub until: Option<i64>,
    /// Continue after a previous page (its `next cursor`).
    #[arg(long)]
    pub cursor: Option<i64>,
    /// Records per page, 1 to 1000.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    /// Print the API's JSON instead of a table (the default when stdout is not a terminal).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

impl PageArgs {
    /// `path?limit=N` with the time range and cursor.
    pub(crate) fn url(&self, path: &str) -> String {
        let mut url = format!("{}{path}?limit={}", self.server.server, self.limit);
        for (name, value) in [
            ("since", self.since),
            ("until", self.until),
            ("cursor", self.cursor),
        ] {
            if let Some(v) = value {
                url.push_str(&format!("&{name}={v}"));
            }
        }
        url
    }
}

#[derive(Debug, Args)]
pub struct ExecutionsArgs {
    /// Only this tool.
    #[arg(long)]
    pub tool: Option<String>,
    /// Only this outcome.
    #[arg(long, value_parser = outcomes())]
    pub outcome: Option<String>,
    /// Only this caller (API key id).
    #[arg(long)]
    pub caller: Option<String>,
    #[command(flatten)]
    pub page: PageArgs,
}

#[derive(Debug, Args)]
pub struct QuarantineArgs {
    /// The tool (every version is stopped).
    pub name: String,
    /// Why: recorded, and shown to whoever tries to invoke it.
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The quarantined tool.
    pub name: String,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// A time for `--since` / `--until`, in milliseconds since the Unix epoch: RFC 3339, or a
/// duration ago.
pub(crate) fn parse_when(text: &str) -> Result<i64, String> {
    parse_time(text, false)
}

/// A time in milliseconds since the Unix epoch: an RFC 3339 time, or a duration from now
/// (`ahead`: into the future, as for an expiry; otherwise into the past).
pub(crate) fn parse_time(text: &str, ahead: bool) -> Result<i64, String> {
    let ms = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .map_err(|_| "before 1970".to_owned())
    };
    if let Ok(at) = humantime::parse_rfc3339_weak(text) {
        return ms(at);
    }
    let Ok(span) = humantime::parse_duration(text) else {
        let (example, way) = if ahead {
            ("2027-01-01T00:00:00Z", "from now (90d, 12h)")
        } else {
            ("2026-12-01T10:00:00Z", "ago (90m, 2h, 7d)")
        };
        return Err(format!(
            "{text:?} is neither an RFC 3339 time ({example}) nor a duration {way}"
        ));
    };
    let now = std::time::SystemTime::now();
    let at = if ahead {
        now.checked_add(span).ok_or("too far ahead")
    } else {
        now.checked_sub(span).ok_or("too far back")
    };
    at.map_err(str::to_owned).and_then(ms)
}

/// Query-string encoding of one value.
pub(crate) fn enc(v: &str) -> String {
    serde_urlencoded::to_string([("", v)])
        .map(|s| s.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

/// Percent-encodes one path segment (or query value): everything but RFC 3986's unreserved
/// characters, so `issuer#subject` travels as one segment.
pub fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .into()
}

pub(crate) fn key() -> anyhow::Result<String> {
    std::env::var(API_KEY_VAR).map_err(|_| {
        anyhow::anyhow!(
            "{API_KEY_VAR} is not set: export {API_KEY_VAR}=<an API key> (the one scripts/demo.sh printed, in <data>/admin.key; or make one with `cordon keys create --name NAME --role ROLE --data DIR`)"
        )
    })
}

/// Prints the JSON answer; exit code 0 for 2xx, 1 otherwise.
pub(crate) fn finish(mut response: ureq::http::Response<ureq::Body>) -> anyhow::Result<ExitCode> {
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
    let shown = args.tool.to_string_lossy().into_owned();
    let (body, content_type, progress) = if shown.starts_with("oci://") {
        // Checked here too, so a typo is named before anything is sent.
        cordon_oci::OciRef::parse(&shown)?;
        let message = format!(
            "publishing {shown}: the server pulls it, then verifies, compiles and describes it"
        );
        let body = serde_json::to_vec(&serde_json::json!({ "oci": shown }))?;
        (body, "application/json", message)
    } else {
        let bytes = super::read_component(&args.tool)?;
        let message = format!(
            "publishing {shown} ({:.1} MB): the server verifies, compiles and describes it",
            bytes.len() as f64 / 1e6
        );
        (bytes, "application/wasm", message)
    };
    let key = key()?;
    let progress = super::progress::spinner(progress);
    let response = agent()
        .post(format!("{}/v1/tools", args.server.server))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", content_type)
        .send(&body[..])
        .with_context(|| format!("cannot reach {}", args.server.server));
    progress.finish_and_clear();
    let response = response?;
    if !response.status().is_success() {
        return finish(response);
    }
    let tool = read_json(response)?;
    println!("{}", serde_json::to_string_pretty(&tool)?);
    for finding in tool["review"].as_array().into_iter().flatten() {
        eprintln!(
            "warning: review: {} {} at {} (docs/detection.md)",
            finding["detector"].as_str().unwrap_or_default(),
            finding["kind"].as_str().unwrap_or_default(),
            finding["path"].as_str().unwrap_or_default()
        );
    }
    if tool["default_policy"] == true {
        let name = tool["name"].as_str().unwrap_or("the tool");
        eprintln!(
            "note: the server has no policy for {name}; it runs under the closed default (no files, no network, no environment variables, default limits). To grant more: `cordon policy apply DIR` with DIR/{name}.toml (an admin key), or put it in the server's policies folder and reload it (SIGHUP)."
        );
    }
    Ok(ExitCode::SUCCESS)
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
    let mut url = args.page.url("/v1/executions");
    if let Some(t) = &args.tool {
        url.push_str(&format!("&tool={}", enc(t)));
    }
    if let Some(o) = &args.outcome {
        url.push_str(&format!("&outcome={o}"));
    }
    if let Some(c) = &args.caller {
        url.push_str(&format!("&caller={}", enc(c)));
    }
    let response = agent()
        .get(url)
        .header("authorization", format!("Bearer {}", key()?))
        .call()
        .with_context(|| format!("cannot reach {}", args.page.server.server))?;
    if super::table::wants_json(args.page.json) || !response.status().is_success() {
        return finish(response);
    }
    let page: serde_json::Value = read_json(response)?;
    let empty = Vec::new();
    let records = page["executions"].as_array().unwrap_or(&empty);
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            let text = |k: &str| r[k].as_str().unwrap_or("-").to_owned();
            vec![
                super::table::time(r["started_at_ms"].as_i64()),
                text("id"),
                format!("{} {}", text("tool"), text("version")),
                text("outcome"),
                format!(
                    "{} ms",
                    r["usage"]["wall_time_us"].as_u64().unwrap_or(0) / 1000
                ),
                text("caller"),
                text("transport"),
            ]
        })
        .collect();
    print!(
        "{}",
        super::table::render(
            &["STARTED", "ID", "TOOL", "OUTCOME", "WALL", "CALLER", "VIA"],
            &rows
        )
    );
    match page["next_cursor"].as_i64() {
        Some(next) => println!("more: --cursor {next}"),
        None if records.is_empty() => println!("(no executions)"),
        None => {}
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn read_json(
    mut response: ureq::http::Response<ureq::Body>,
) -> anyhow::Result<serde_json::Value> {
    let text = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .context("cannot read the server's answer")?;
    serde_json::from_str(&text).context("the server's answer is not JSON")
}

pub fn quarantine(args: QuarantineArgs) -> anyhow::Result<ExitCode> {
    let body = serde_json::json!({ "reason": args.reason }).to_string();
    let done = format!(
        "{} is quarantined: no version of it runs until it is released",
        args.name
    );
    tool_action(&args.server, &args.name, "quarantine", &body, &done)
}

pub fn release(args: ReleaseArgs) -> anyhow::Result<ExitCode> {
    let done = format!("{} is released: it can be invoked again", args.name);
    tool_action(&args.server, &args.name, "release", "", &done)
}

/// `POST /v1/tools/{name}/{action}` with a JSON `body`; says `done` on success, prints the
/// server's error otherwise.
fn tool_action(
    server: &ServerArgs,
    name: &str,
    action: &str,
    body: &str,
    done: &str,
) -> anyhow::Result<ExitCode> {
    let response = agent()
        .post(format!("{}/v1/tools/{}/{action}", server.server, enc(name)))
        .header("authorization", format!("Bearer {}", key()?))
        .header("content-type", "application/json")
        .send(body.as_bytes())
        .with_context(|| format!("cannot reach {}", server.server))?;
    if response.status().is_success() {
        eprintln!("{done}");
        return Ok(ExitCode::SUCCESS);
    }
    finish(response)
}
