//! `cordon receipt verify FILE --key KEY`: checks an execution receipt offline (its signature
//! is the log key's, and, given the input or output, their digests), and with `--data DIR` or
//! `--server URL` that the audit log still holds that record unchanged. Exit code 0: valid; 1:
//! not.
//!
//! FILE may be the receipt itself, an invoke answer (its `receipt`), or an MCP tool result (its
//! `_meta["cordon/receipt"]`).

use super::audit::parse_key;
use super::client::{ServerArgs, agent, key as api_key, read_json};
use anyhow::Context;
use clap::{Args, Subcommand};
use cordon_storage::{Embedded, ExecutionRecord, Storage};
use cordon_trust::{Receipt, Signed};
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
    /// Check a receipt.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The receipt, an invoke answer holding one, or an MCP tool result holding one.
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
    let ReceiptCommand::Verify(args) = args.command;
    let key = parse_key(&args.key)?;
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let value: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", args.file.display()))?;
    let found = if value.get("kind").is_some() {
        value
    } else if let Some(r) = value.get("receipt") {
        r.clone()
    } else if let Some(r) = value.get("_meta").and_then(|m| m.get("cordon/receipt")) {
        r.clone()
    } else {
        anyhow::bail!(
            "{} holds no receipt (neither a receipt, nor an answer with `receipt`, nor an MCP result with `_meta[\"cordon/receipt\"]`)",
            args.file.display()
        );
    };
    let mut problems = Vec::new();
    let receipt: Option<Receipt> = match serde_json::from_value::<Signed>(found) {
        Err(e) => {
            problems.push(format!("not a signed receipt: {e}"));
            None
        }
        Ok(signed) => match signed.verify::<Receipt>(Receipt::KIND, &key) {
            Ok(r) => Some(r),
            Err(e) => {
                problems.push(e.to_string());
                None
            }
        },
    };
    if let Some(r) = &receipt {
        if let Some(path) = &args.input {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            if hex::encode(Sha256::digest(&bytes)) != r.input_sha256 {
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
            if r.output_sha256.as_deref() != Some(digest.as_str()) {
                problems.push(format!(
                    "{} is not the output this receipt is for",
                    path.display()
                ));
            }
        }
        let record = if let Some(dir) = &args.data {
            let storage = Embedded::open(dir, true)?;
            if storage.log_id()? != r.log_id {
                problems.push(format!(
                    "the receipt is from log {}, the data directory holds log {}",
                    r.log_id,
                    storage.log_id()?
                ));
            }
            Some(storage.execution_at(r.seq)?)
        } else if let Some(url) = &args.server {
            Some(fetch(
                &ServerArgs {
                    server: url.clone(),
                },
                &r.execution_id,
            )?)
        } else {
            None
        };
        if let Some(record) = record {
            problems.extend(against_log(r, record.as_ref()));
        }
    }
    if problems.is_empty() {
        let r = receipt.as_ref().map_or_else(String::new, |r| {
            format!(
                "{} {} ran as {} (record {}): {}",
                r.tool, r.version, r.execution_id, r.seq, r.outcome
            )
        });
        println!("valid: {r}");
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &problems {
            println!("invalid: {p}");
        }
        Ok(ExitCode::from(1))
    }
}

fn fetch(server: &ServerArgs, id: &str) -> anyhow::Result<Option<ExecutionRecord>> {
    let response = agent()
        .get(format!("{}/v1/executions/{id}", server.server))
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

/// What differs between a receipt and the record the log holds for it.
fn against_log(r: &Receipt, record: Option<&ExecutionRecord>) -> Vec<String> {
    let Some(rec) = record else {
        return vec![format!(
            "the log holds no execution record {} (record {}): it was deleted or never written",
            r.execution_id, r.seq
        )];
    };
    let e = &rec.execution;
    let usage = serde_json::to_value(&e.usage).unwrap_or(Value::Null);
    let mut out = Vec::new();
    let fields: [(&str, bool); 13] = [
        ("seq", rec.seq == r.seq),
        ("execution_id", e.id == r.execution_id),
        ("tool", e.tool == r.tool),
        ("version", e.version == r.version),
        ("digest", e.digest == r.digest),
        ("policy_hash", e.policy_hash == r.policy_hash),
        ("input_sha256", e.input_sha256 == r.input_sha256),
        ("output_sha256", e.output_sha256 == r.output_sha256),
        ("outcome", e.outcome.as_str() == r.outcome),
        ("usage", usage == r.usage),
        ("started_at_ms", e.started_at_ms == r.started_at_ms),
        ("finished_at_ms", e.finished_at_ms == r.finished_at_ms),
        ("hash", rec.hash == r.hash),
    ];
    for (name, same) in fields {
        if !same {
            out.push(format!(
                "the log's record {} differs from the receipt in {name}: it was changed after the receipt was issued",
                r.seq
            ));
        }
    }
    if !rec.matches_its_hash() {
        out.push(format!(
            "the log's record {} no longer matches its own hash: it was edited",
            r.seq
        ));
    }
    out
}
