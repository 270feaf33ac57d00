//! `cordon receipt get ID`: a receipt of a recorded execution, from a server.
//!
//! `cordon receipt verify FILE --key KEY`: checks an execution receipt offline (the record
//! matches its chain hash, its audit path leads to its batch's root, the batch is signed by the
//! log key, and, given the input or output, their digests), and with `--data DIR` or
//! `--server URL` that the audit log still holds that record unchanged. Exit code 0: valid; 1:
//! not.
//!
//! FILE may be the receipt itself, an invoke answer (its `receipt`), an MCP tool result (its
//! `_meta["cordon/receipt"]`, also inside a JSON-RPC answer), or a finished task as
//! `GET /v1/executions/{id}` shows it (its `result.receipt`). Given an answer, every field of it
//! the record vouches for is checked against the record, and a difference is refused naming the
//! field (`receipt_answer.rs` lists them, and the few an answer carries that no record covers).

use super::audit::parse_key;
use super::client::{ServerArgs, agent, key as api_key, read_json};
use super::receipt_answer as answer;
use anyhow::Context;
use clap::{Args, Subcommand};
use cordon_storage::{Embedded, ExecutionRecord, Storage};
use cordon_trust::Receipt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ReceiptArgs {
    #[command(subcommand)]
    pub command: ReceiptCommand,
}

#[derive(Debug, Subcommand)]
pub enum ReceiptCommand {
    /// Check a receipt, and the answer it came in.
    Verify(VerifyArgs),
    /// Fetch a receipt of a recorded execution from a server (printed as JSON), for one whose
    /// answer's receipt was not kept; check it with `cordon receipt verify`.
    Get(GetArgs),
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// The execution's id (`execution_id` of its answer, `id` of its record).
    pub id: String,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The receipt, or an answer holding one: an invoke answer, an MCP tool result (or the
    /// JSON-RPC answer around it), a finished task (`GET /v1/executions/{id}`). Every field of
    /// an answer that the record vouches for must be the record's.
    pub file: PathBuf,
    /// The log's public key (`ed25519:...`, or a file holding it), from `cordon audit key` or
    /// `GET /v1/audit/key`, kept where the operator cannot change it.
    #[arg(long)]
    pub key: String,
    /// Also check the input: this file's bytes must be what the receipt's input digest says.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Also check the output: this file's JSON must be what the receipt's output digest says.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Also check that the audit log in this data directory holds the record unchanged.
    #[arg(long, conflicts_with = "server")]
    pub data: Option<PathBuf>,
    /// Also check against a running server's log (an API key that may read executions in
    /// CORDON_API_KEY).
    #[arg(long)]
    pub server: Option<String>,
}

pub fn receipt(args: ReceiptArgs) -> anyhow::Result<ExitCode> {
    let args = match args.command {
        ReceiptCommand::Verify(args) => args,
        ReceiptCommand::Get(args) => return get(&args),
    };
    let key = parse_key(&args.key)?;
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    // Duplicate keys are refused: a reader keeping the first of two would see another answer
    // than the one checked.
    let value: Value = cordon_core::json::parse_input(text.as_bytes())
        .map_err(|e| anyhow::anyhow!("{} is not JSON this can check: {e}", args.file.display()))?;
    let Some((shape, found)) = answer::locate(&value) else {
        anyhow::bail!(
            "{} holds no receipt (neither a receipt, nor an answer with `receipt`, nor an MCP result with `_meta[\"cordon/receipt\"]`, nor a finished task with `result.receipt`)",
            args.file.display()
        );
    };
    let found = found.clone();
    let mut problems = Vec::new();
    // The receipt, its batch and its record, once all three are proven.
    let proven = match Receipt::parse(found) {
        Err(e) => {
            problems.push(e.to_string());
            None
        }
        Ok(r) => match r.verify(&key).and_then(|b| Ok((r.record_json()?, b))) {
            Ok((record, batch)) => Some((r, batch, record)),
            Err(e) => {
                problems.push(e.to_string());
                None
            }
        },
    };
    // What the answer around the receipt says, field by field, against the proven record.
    let mut checked = answer::Checked::default();
    if let Some((r, batch, record)) = &proven {
        checked = answer::check(shape, &value, record);
        problems.append(&mut checked.problems);
        let claim = |field: &str| record.get(field).and_then(Value::as_str).map(str::to_owned);
        if let Some(path) = &args.input {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            if Some(hex::encode(Sha256::digest(&bytes))) != claim("input_sha256") {
                problems.push(format!(
                    "{} is not the input this receipt is for",
                    path.display()
                ));
            }
        }
        if let Some(path) = &args.output {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let output: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            let digest = hex::encode(Sha256::digest(output.to_string().as_bytes()));
            if claim("output_sha256").as_deref() != Some(digest.as_str()) {
                problems.push(format!(
                    "{} is not the output this receipt is for",
                    path.display()
                ));
            }
        }
        if let Some(dir) = &args.data {
            let storage = Embedded::open(dir, true)?;
            let log_id = storage.log_id()?;
            if log_id != r.log_id {
                problems.push(format!(
                    "the receipt is from log {}, the data directory holds log {log_id}",
                    r.log_id
                ));
            }
            problems.extend(against_log(
                r,
                record,
                storage.execution_at(r.seq)?.as_ref(),
            ));
            // The batch is a checkpoint too: the log must still end it with the signed head.
            if let Some(last) = storage.execution_at(batch.size)?
                && last.hash != batch.head
            {
                problems.push(format!(
                    "the log's record {} is no longer the one its batch signed: the log was rewritten after the receipt was issued",
                    batch.size
                ));
            }
        } else if let Some(url) = &args.server {
            let id = claim("id").unwrap_or_default();
            let stored = fetch(
                &ServerArgs {
                    server: url.clone(),
                },
                &id,
            )?;
            problems.extend(against_log(r, record, stored.as_ref()));
        }
    }
    match proven {
        Some((r, _, record)) if problems.is_empty() => {
            let field = |f: &str| record.get(f).and_then(Value::as_str).unwrap_or("?");
            println!(
                "valid: {} {} ran as {} (record {}): {}",
                field("tool"),
                field("version"),
                field("id"),
                r.seq,
                field("outcome")
            );
            if !checked.matched.is_empty() {
                println!(
                    "the answer's {} are the signed record's",
                    checked.matched.join(", ")
                );
            }
            if !checked.not_covered.is_empty() {
                println!(
                    "not covered by the receipt (the server's bookkeeping or the protocol's framing): {}",
                    checked.not_covered.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            for p in &problems {
                // Names and values come from the file: control characters are shown escaped.
                let shown: String = p
                    .chars()
                    .map(|c| {
                        if c.is_control() {
                            c.escape_default().to_string()
                        } else {
                            c.to_string()
                        }
                    })
                    .collect();
                println!("invalid: {shown}");
            }
            Ok(ExitCode::from(1))
        }
    }
}

/// How long `receipt get` waits for a signed checkpoint to cover a record just written.
const CHECKPOINT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// `cordon receipt get ID`: the server signs a receipt of the stored record once a checkpoint
/// covers it (docs/audit.md); until then it says when to ask again, and this waits, saying so.
fn get(args: &GetArgs) -> anyhow::Result<ExitCode> {
    let url = format!(
        "{}/v1/executions/{}/receipt",
        args.server.server,
        super::client::path_segment(&args.id)
    );
    let until = std::time::Instant::now() + CHECKPOINT_WAIT;
    let mut said = false;
    loop {
        let response = agent()
            .get(&url)
            .header("authorization", format!("Bearer {}", api_key()?))
            .call()
            .with_context(|| format!("cannot reach {}", args.server.server))?;
        let status = response.status().as_u16();
        let wait = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let body = read_json(response)?;
        let code = body["error"]["code"].as_str().unwrap_or_default();
        if status == 409 && code == "not_checkpointed" && std::time::Instant::now() < until {
            if !said {
                eprintln!(
                    "waiting for the next signed checkpoint to cover {}...",
                    args.id
                );
                said = true;
            }
            std::thread::sleep(std::time::Duration::from_secs(
                wait.unwrap_or(1).clamp(1, 10),
            ));
            continue;
        }
        if status == 200 {
            println!("{}", serde_json::to_string_pretty(&body)?);
            return Ok(ExitCode::SUCCESS);
        }
        let message = body["error"]["message"].as_str().unwrap_or("no message");
        eprintln!("the server answered {status} {code}: {message}");
        return Ok(ExitCode::from(1));
    }
}

fn fetch(server: &ServerArgs, id: &str) -> anyhow::Result<Option<ExecutionRecord>> {
    let response = agent()
        .get(format!("{}/v1/executions/{id}?record=true", server.server))
        .header("authorization", format!("Bearer {}", api_key()?))
        .call()
        .with_context(|| format!("cannot reach {}", server.server))?;
    match response.status().as_u16() {
        200 => Ok(Some(serde_json::from_value(read_json(response)?)?)),
        404 => Ok(None),
        403 => anyhow::bail!(
            "the server does not let this API key read executions: use an auditor or admin key"
        ),
        status => anyhow::bail!("the server answered {status}"),
    }
}

/// What differs between a proven receipt (with its record as JSON) and the record the log
/// holds at its place.
fn against_log(r: &Receipt, record: &Value, stored: Option<&ExecutionRecord>) -> Vec<String> {
    let Some(stored) = stored else {
        return vec![format!(
            "the log holds no execution record {} (record {}): it was deleted or never written",
            record.get("id").and_then(Value::as_str).unwrap_or("?"),
            r.seq
        )];
    };
    let mut out = Vec::new();
    let held = serde_json::to_value(&stored.execution).unwrap_or(Value::Null);
    let mut fields: Vec<&String> = record
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    if let Some(m) = held.as_object() {
        fields.extend(m.keys().filter(|k| record.get(*k).is_none()));
    }
    let differ: Vec<&str> = fields
        .into_iter()
        .filter(|f| record.get(*f) != held.get(*f))
        .map(String::as_str)
        .collect();
    let what = if !differ.is_empty() {
        Some(differ.join(", "))
    } else if stored.seq != r.seq || stored.hash != r.hash || stored.prev_hash != r.prev_hash {
        Some("its place in the chain".to_owned())
    } else {
        None
    };
    if let Some(what) = what {
        out.push(format!(
            "the log's record {} differs from the receipt in {what}: it was changed after the receipt was issued",
            r.seq
        ));
    }
    if !stored.matches_its_hash() {
        out.push(format!(
            "the log's record {} no longer matches its own hash: it was edited",
            r.seq
        ));
    }
    out
}
