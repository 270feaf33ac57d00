//! `cordon audit`: verify the audit log on disk against signed checkpoints (`verify`), print
//! its public key (`key`), and read a running server's log (`events`, `export`).
//!
//! `verify` exits 0 when the log is intact and consistent with every checkpoint given, 1
//! otherwise; the report names each problem by record.

use super::client::{
    PageArgs, ServerArgs, agent, enc, finish, key as api_key, parse_when, read_json,
};
use super::secret::DataArgs;
use anyhow::Context;
use clap::{Args, Subcommand};
use cordon_storage::{Claim, EVENT_KINDS};
use cordon_trust::{Checkpoint, KeyId, PrivateKey, Signed};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
    #[command(flatten)]
    pub data: DataArgs,
    /// Verify the log in this shared PostgreSQL store (`postgres://...`; a read-only role is
    /// enough) instead of the data directory's.
    #[arg(long, env = "CORDON_DATABASE", hide_env_values = true, global = true)]
    pub database: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the hash chain of the audit log in the data directory (or the shared store with
    /// --database), and hold it against signed checkpoints kept elsewhere.
    Verify {
        /// A file of signed checkpoints (one JSON object per line, as `checkpoint_file`
        /// receives them, or one from `GET /v1/audit/checkpoint`); may be repeated.
        #[arg(long)]
        checkpoint: Vec<PathBuf>,
        /// The log's public key (`ed25519:...`, or a file holding it) [default: the key in
        /// the data directory]. Give the copy you keep yourself: whoever can rewrite the data
        /// directory can replace the key in it too.
        #[arg(long)]
        key: Option<String>,
        /// Check an exported copy (the lines `cordon audit export` wrote) instead of the data
        /// directory's log: every hash recomputed, every link followed, against the
        /// checkpoints given.
        #[arg(long)]
        export: Option<PathBuf>,
    },
    /// Print the audit log's public key, which checkpoints and receipts are checked with.
    Key,
    /// List a running server's audit log: executions and administrative events.
    Events(EventsArgs),
    /// Write a running server's audit log as JSON lines (one event per line, with its hashes),
    /// oldest first; with --follow, keep writing new events as they come.
    Export(ExportArgs),
}

fn kinds() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(EVENT_KINDS)
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only this kind.
    #[arg(long, value_parser = kinds())]
    pub kind: Option<String>,
    /// Only this actor (API key id; for executions, the caller).
    #[arg(long)]
    pub actor: Option<String>,
    /// Only events about this tool.
    #[arg(long)]
    pub tool: Option<String>,
    #[command(flatten)]
    pub page: PageArgs,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Start with events at or after this time: RFC 3339 or a duration ago.
    #[arg(long, value_parser = parse_when)]
    pub since: Option<i64>,
    /// Start after this sequence number (to resume an export).
    #[arg(long, default_value_t = 0)]
    pub after: i64,
    /// Keep running and write each new event as it is recorded.
    #[arg(long)]
    pub follow: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

pub fn audit(args: AuditArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        AuditCommand::Verify {
            checkpoint,
            key,
            export,
        } => match export {
            Some(file) => verify_copy(&args.data, &file, &checkpoint, key),
            None => verify(
                &args.data.dir()?,
                args.database.as_deref(),
                &checkpoint,
                key,
            ),
        },
        AuditCommand::Key => {
            let dir = args.data.dir()?;
            let path = dir.join(cordon_server::LOG_KEY_FILE);
            anyhow::ensure!(
                path.exists(),
                "no audit log key at {}: `cordon serve --data {}` creates it on its first start",
                path.display(),
                dir.display()
            );
            println!("{}", PrivateKey::read(&path)?.key_id());
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Events(a) => events(a),
        AuditCommand::Export(a) => export(a),
    }
}

/// A key id given as text or as a file holding it.
pub(crate) fn parse_key(given: &str) -> anyhow::Result<KeyId> {
    if let Ok(id) = KeyId::parse(given) {
        return Ok(id);
    }
    let text = std::fs::read_to_string(given).with_context(|| {
        format!("{given:?} is neither a key id (ed25519:...) nor a readable file")
    })?;
    Ok(KeyId::parse(text.trim())?)
}

fn verify(
    dir: &Path,
    database: Option<&str>,
    files: &[PathBuf],
    key: Option<String>,
) -> anyhow::Result<ExitCode> {
    if database.is_none() {
        let db = dir.join("cordon.db");
        anyhow::ensure!(db.exists(), "no audit log at {}", db.display());
    }
    let storage = super::store::open(dir, database, true, Some(2))?;
    let key_path = dir.join(cordon_server::LOG_KEY_FILE);
    let key_id = match key {
        Some(k) => Some(parse_key(&k)?),
        None if key_path.exists() => Some(PrivateKey::read(&key_path)?.key_id()),
        None => None,
    };
    let log_id = storage.log_id()?;
    let mut problems = Vec::new();
    let claims = match &key_id {
        Some(k) => read_claims(files, k, Some(&log_id), &mut problems)?,
        None if files.is_empty() => Vec::new(),
        None => anyhow::bail!(
            "no log key to check the checkpoints with: give --key (the copy you keep), or restore {}",
            key_path.display()
        ),
    };
    // What the log itself kept must be signed by its key too.
    let kept = [
        ("the retention anchor", storage.anchor_checkpoint()?),
        (
            "the newest checkpoint the log kept",
            storage.latest_checkpoint()?.map(|c| c.signed),
        ),
    ];
    for (what, signed) in kept {
        let Some(text) = signed else { continue };
        let Some(k) = &key_id else {
            eprintln!("warning: {what} is not checked: no log key (give --key)");
            continue;
        };
        let checked =
            Signed::parse(&text).and_then(|s| s.verify::<Checkpoint>(Checkpoint::KIND, k));
        if let Err(e) = checked {
            problems.push(format!("{what}: {e}"));
        }
    }
    let report = storage.verify_log(&claims)?;
    finish_report(report, problems)
}

/// The signed checkpoints in `files`, checked against `key` (and `log_id`, when known); every
/// one that fails is a problem.
fn read_claims(
    files: &[PathBuf],
    key_id: &KeyId,
    log_id: Option<&str>,
    problems: &mut Vec<String>,
) -> anyhow::Result<Vec<Claim>> {
    let mut claims = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let stream = serde_json::Deserializer::from_str(&text).into_iter::<Signed>();
        let mut count = 0;
        for (i, item) in stream.enumerate() {
            count += 1;
            let name = format!("{} #{}", file.display(), i + 1);
            let signed = match item {
                Ok(s) => s,
                Err(e) => {
                    problems.push(format!("{name}: not a signed checkpoint: {e}"));
                    break;
                }
            };
            match signed.verify::<Checkpoint>(Checkpoint::KIND, key_id) {
                Err(e) => problems.push(format!("{name}: {e}")),
                Ok(c) if log_id.is_some_and(|l| l != c.log_id) => problems.push(format!(
                    "{name}: is a checkpoint of log {}, not of this log ({})",
                    c.log_id,
                    log_id.unwrap_or_default()
                )),
                Ok(c) => claims.push(Claim {
                    size: c.size,
                    head: c.head,
                    label: format!("{name}, signed {}", super::table::time(Some(c.time_ms))),
                }),
            }
        }
        if count == 0 {
            problems.push(format!("{}: holds no checkpoint", file.display()));
        }
    }
    Ok(claims)
}

/// `verify --export`: an exported copy, on its own.
fn verify_copy(
    data: &DataArgs,
    file: &Path,
    checkpoints: &[PathBuf],
    key: Option<String>,
) -> anyhow::Result<ExitCode> {
    let key_id = match key {
        Some(k) => Some(parse_key(&k)?),
        None => data
            .dir()
            .ok()
            .map(|d| d.join(cordon_server::LOG_KEY_FILE))
            .filter(|p| p.exists())
            .map(|p| PrivateKey::read(&p).map(|k| k.key_id()))
            .transpose()?,
    };
    let mut problems = Vec::new();
    let claims = match (&key_id, checkpoints.is_empty()) {
        (_, true) => Vec::new(),
        (Some(k), false) => read_claims(checkpoints, k, None, &mut problems)?,
        (None, false) => anyhow::bail!("give --key (the log's key id) to check the checkpoints"),
    };
    let report = super::audit_export::verify_export(file, claims)?;
    finish_report(report, problems)
}

/// Prints the report with `problems` in front; exit 0 when intact.
fn finish_report(
    mut report: cordon_storage::ChainReport,
    mut problems: Vec<String>,
) -> anyhow::Result<ExitCode> {
    if !problems.is_empty() {
        report.problem_count += problems.len() as u64;
        problems.append(&mut report.problems);
        report.problems = problems;
        report.intact = false;
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    for u in &report.unprovable {
        eprintln!("warning: {u}");
    }
    Ok(if report.intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn events(args: EventsArgs) -> anyhow::Result<ExitCode> {
    let mut url = args.page.url("/v1/audit/events");
    for (name, value) in [
        ("kind", &args.kind),
        ("actor", &args.actor),
        ("tool", &args.tool),
    ] {
        if let Some(v) = value {
            url.push_str(&format!("&{name}={}", enc(v)));
        }
    }
    let response = agent()
        .get(url)
        .header("authorization", format!("Bearer {}", api_key()?))
        .call()
        .with_context(|| format!("cannot reach {}", args.page.server.server))?;
    if super::table::wants_json(args.page.json) || !response.status().is_success() {
        return finish(response);
    }
    let page = read_json(response)?;
    let empty = Vec::new();
    let events = page["events"].as_array().unwrap_or(&empty);
    let rows: Vec<Vec<String>> = events.iter().map(event_row).collect();
    print!(
        "{}",
        super::table::render(&["SEQ", "TIME", "KIND", "ACTOR", "TOOL", "WHAT"], &rows)
    );
    match page["next_cursor"].as_i64() {
        Some(next) => println!("more: --cursor {next}"),
        None if events.is_empty() => println!("(no events)"),
        None => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// One event as a table row; WHAT summarises the action.
fn event_row(e: &serde_json::Value) -> Vec<String> {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_owned();
    let actor = match (e["actor"]["name"].as_str(), e["actor"]["key_id"].as_str()) {
        (Some(n), Some(id)) if !n.is_empty() => format!("{n} ({id})"),
        (_, Some(id)) => id.to_owned(),
        _ => "-".into(),
    };
    let what = if let Some(x) = e.get("execution") {
        format!("{} {}", text(&x["version"]), text(&x["outcome"]))
    } else {
        let mut action = e["event"]["action"].clone();
        if let Some(map) = action.as_object_mut() {
            map.remove("kind");
            map.remove("tool");
        }
        let mut s = action.to_string();
        if s.chars().count() > 80 {
            s = s.chars().take(77).collect::<String>() + "...";
        }
        s
    };
    vec![
        e["seq"].as_i64().map_or("-".into(), |s| s.to_string()),
        super::table::time(e["at_ms"].as_i64()),
        text(&e["kind"]),
        actor,
        text(&e["tool"]),
        what,
    ]
}

/// How long one follow request waits on the server for new events.
const FOLLOW_WAIT_SECS: u64 = 30;

fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let key = api_key()?;
    let mut after = args.after;
    let out = std::io::stdout();
    loop {
        let mut url = format!(
            "{}/v1/audit/events?after={after}&limit=1000",
            args.server.server
        );
        if let Some(s) = args.since {
            url.push_str(&format!("&since={s}"));
        }
        if args.follow {
            url.push_str(&format!("&wait={FOLLOW_WAIT_SECS}"));
        }
        let response = agent()
            .get(url)
            .header("authorization", format!("Bearer {key}"))
            .call()
            .with_context(|| format!("cannot reach {}", args.server.server))?;
        if !response.status().is_success() {
            return finish(response);
        }
        let page = read_json(response)?;
        let events = page["events"].as_array().cloned().unwrap_or_default();
        let mut lock = out.lock();
        for e in &events {
            writeln!(lock, "{e}")?;
        }
        lock.flush()?;
        if let Some(last) = events.last().and_then(|e| e["seq"].as_i64()) {
            after = last;
        } else if !args.follow {
            return Ok(ExitCode::SUCCESS);
        }
    }
}
