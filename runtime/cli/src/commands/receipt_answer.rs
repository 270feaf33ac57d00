//! What `cordon receipt verify` checks of the answer a receipt came in: a receipt proves its
//! record, and the answer around it says what happened; every field of the answer that the
//! record vouches for must be the record's, or the answer is refused naming the field.
//!
//! | the file holds | fields checked against the record | carried but not vouched for |
//! |---|---|---|
//! | a receipt | (nothing else) | |
//! | an invoke answer | `execution_id` (`id`), `outcome`, `output` (its sha256 is `output_sha256`; with content blocks, of `{"content":..,"output":..}`), `content`, `input_requests` (`exchange.asked_sha256`), `error`, `usage` | `request_state` |
//! | an MCP tool result | `_meta["cordon/execution_id"]`, `["cordon/outcome"]`, `["cordon/usage"]`, `structuredContent` and `content` (the output, the tool's content blocks with it, or `outcome: error`), `isError`, `inputRequests` | `resultType`, `requestState` |
//! | a JSON-RPC answer holding an MCP result | as an MCP result, in `result` | `jsonrpc`, `id` |
//! | a finished task (`GET /v1/executions/{id}`, the `result` event) | `execution_id`, `status`, `tool`, `version`, `outcome`, and `result` as an invoke answer | `started_at_ms` (when the task was stored, a moment after the call was admitted: the record's own time is in the record), `progress`, `cancel_requested_by`, `expires_at_ms`, `poll_interval_ms` |
//!
//! A field the answer leaves out claims nothing and is not checked (MCP's `isError` excepted:
//! absent, it means `false`). A field no cordon answer has is refused: the receipt cannot vouch
//! for it.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// What a file given to `cordon receipt verify` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Receipt,
    Answer,
    McpResult,
    JsonRpc,
    Task,
}

/// The receipt `value` holds, and the shape it holds it in; `None` when it holds none.
pub fn locate(value: &Value) -> Option<(Shape, &Value)> {
    fn mcp_receipt(v: &Value) -> Option<&Value> {
        v.get("_meta").and_then(|m| m.get("cordon/receipt"))
    }
    if value.get("batch").is_some() {
        Some((Shape::Receipt, value))
    } else if let Some(r) = value.get("receipt") {
        Some((Shape::Answer, r))
    } else if let Some(r) = mcp_receipt(value) {
        Some((Shape::McpResult, r))
    } else if value.get("jsonrpc").is_some()
        && let Some(r) = value.get("result").and_then(mcp_receipt)
    {
        Some((Shape::JsonRpc, r))
    } else if value.get("status").is_some()
        && let Some(r) = value.get("result").and_then(|a| a.get("receipt"))
    {
        Some((Shape::Task, r))
    } else {
        None
    }
}

/// What checking an answer against its proven record found.
#[derive(Debug, Default)]
pub struct Checked {
    /// Each difference, naming the field.
    pub problems: Vec<String>,
    /// The answer's fields found to be the record's.
    pub matched: Vec<String>,
    /// The answer's fields no record covers (the server's bookkeeping, protocol framing).
    pub not_covered: Vec<String>,
}

/// Checks `whole` (a file of `shape`) against `record`, the record its receipt proved.
pub fn check(shape: Shape, whole: &Value, record: &Value) -> Checked {
    let mut c = Checker {
        record,
        out: Checked::default(),
    };
    match shape {
        Shape::Receipt => {}
        Shape::Answer => c.answer(whole, ""),
        Shape::McpResult => c.mcp_result(whole, ""),
        Shape::JsonRpc => {
            let Some(fields) = c.object(whole, "the JSON-RPC answer") else {
                return c.out;
            };
            for (name, value) in fields {
                match name.as_str() {
                    "jsonrpc" | "id" => c.out.not_covered.push(name.clone()),
                    "result" => c.mcp_result(value, "result."),
                    _ => c.foreign("the JSON-RPC answer", name),
                }
            }
        }
        Shape::Task => c.task(whole),
    }
    c.out
}

/// sha256 of `value` as compact JSON, the form the record's `output_sha256` covers.
fn digest(value: &Value) -> String {
    hex::encode(Sha256::digest(value.to_string().as_bytes()))
}

/// A value as the messages show it: scalars only (long or structured values are not repeated).
fn shown(value: Option<&Value>) -> Option<String> {
    match value {
        None | Some(Value::Null) => Some("none".to_owned()),
        Some(Value::String(s)) if s.chars().count() <= 80 => Some(s.clone()),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Some(v.to_string()),
        Some(_) => None,
    }
}

/// ` (A, B in the record)` when both are shown, else nothing.
fn both(claimed: Option<&Value>, held: Option<&Value>) -> String {
    match (shown(claimed), shown(held)) {
        (Some(a), Some(b)) => format!(" ({a}; the record: {b})"),
        _ => String::new(),
    }
}

struct Checker<'a> {
    record: &'a Value,
    out: Checked,
}

impl Checker<'_> {
    fn object<'v>(&mut self, value: &'v Value, what: &str) -> Option<&'v Map<String, Value>> {
        let fields = value.as_object();
        if fields.is_none() {
            self.out
                .problems
                .push(format!("{what} is not a JSON object"));
        }
        fields
    }

    fn foreign(&mut self, what: &str, name: &str) {
        self.out.problems.push(format!(
            "{what} carries `{name}`, which no cordon answer has: the receipt does not vouch for it (remove it, or verify the receipt alone)"
        ));
    }

    /// `field` of the answer (`claimed`) must be the record's `recorded` field.
    fn same(&mut self, field: String, claimed: &Value, recorded: &str) {
        let held = self.record.get(recorded);
        // The record writes an absent optional field (`error`) as null.
        if held.unwrap_or(&Value::Null) == claimed {
            self.out.matched.push(field);
        } else {
            self.out.problems.push(format!(
                "the answer's `{field}` is not the signed record's `{recorded}`{}: the answer was changed after it was signed, or its receipt is another execution's",
                both(Some(claimed), held)
            ));
        }
    }

    /// The output the answer claims must be what the record's `output_sha256` covers (none:
    /// no output, or JSON `null`).
    fn output(&mut self, field: String, claimed: &Value) {
        let matches = match self.record.get("output_sha256").and_then(Value::as_str) {
            Some(d) => digest(claimed) == d,
            None => claimed.is_null(),
        };
        self.output_found(field, matches);
    }

    fn output_found(&mut self, field: String, matches: bool) {
        if matches {
            self.out.matched.push(field);
        } else {
            self.out.problems.push(format!(
                "the answer's `{field}` is not the output the signed record is for (its sha256 is not the record's `output_sha256`): the answer was changed after it was signed, or its receipt is another execution's"
            ));
        }
    }

    /// An invoke answer (`POST /v1/tools/{name}/invoke`), its fields named with `prefix`.
    fn answer(&mut self, value: &Value, prefix: &str) {
        let Some(fields) = self.object(value, "the answer") else {
            return;
        };
        // Content blocks are covered with the output, as one value.
        let content = fields.get("content");
        for (name, claimed) in fields {
            let field = format!("{prefix}{name}");
            match (name.as_str(), content) {
                ("receipt", _) => {}
                ("execution_id", _) => self.same(field, claimed, "id"),
                ("outcome" | "error" | "usage", _) => self.same(field, claimed, name),
                ("output", None) => self.output(field, claimed),
                ("input_requests", _) => self.asked(field, claimed),
                ("request_state", _) => self.out.not_covered.push(field),
                ("output" | "content", Some(content)) => {
                    let output = fields.get("output").unwrap_or(&Value::Null);
                    let matches = self.with_content_matches(content, std::slice::from_ref(output));
                    self.output_found(field, matches);
                }
                _ => self.foreign("the answer", &field),
            }
        }
    }

    /// What a round that asked for input asked: the record's `exchange.asked_sha256`.
    fn asked(&mut self, field: String, claimed: &Value) {
        let held = self
            .record
            .get("exchange")
            .and_then(|x| x.get("asked_sha256"))
            .and_then(Value::as_str);
        if held.is_some_and(|d| digest(claimed) == d) {
            self.out.matched.push(field);
        } else {
            self.out.problems.push(format!(
                "the answer's `{field}` is not what the signed record says was asked (its sha256 is not the record's `exchange.asked_sha256`): the answer was changed after it was signed, or its receipt is another execution's"
            ));
        }
    }

    /// Content blocks and an output: what the record's `output_sha256` covers when a tool
    /// answered with blocks, `{"content":[...],"output":...}`, for one of the `outputs` the
    /// answer may stand for.
    fn with_content_matches(&self, content: &Value, outputs: &[Value]) -> bool {
        let Some(d) = self.record.get("output_sha256").and_then(Value::as_str) else {
            return false;
        };
        content.as_array().is_some_and(|blocks| !blocks.is_empty())
            && outputs.iter().any(|output| {
                digest(&serde_json::json!({ "content": content, "output": output })) == d
            })
    }

    /// An MCP result's content blocks and structured content, when they are a tool's blocks:
    /// the structured content is the output, or `{"result": output}`, or absent for none.
    fn mcp_blocks_match(&self, fields: &Map<String, Value>) -> bool {
        let Some(content) = fields.get("content") else {
            return false;
        };
        let outputs = match fields.get("structuredContent") {
            None => vec![Value::Null],
            Some(structured) => {
                let mut all = vec![structured.clone()];
                if let Some(inner) = structured
                    .as_object()
                    .filter(|o| o.len() == 1)
                    .and_then(|o| o.get("result"))
                {
                    all.push(inner.clone());
                }
                all
            }
        };
        self.with_content_matches(content, &outputs)
    }

    /// An MCP `tools/call` result (`mcp_call::call_result_of` on the server).
    fn mcp_result(&mut self, value: &Value, prefix: &str) {
        let Some(fields) = self.object(value, "the MCP result") else {
            return;
        };
        let ok = self.record.get("outcome").and_then(Value::as_str) == Some("ok");
        let blocks = ok && self.mcp_blocks_match(fields);
        for (name, claimed) in fields {
            let field = format!("{prefix}{name}");
            match name.as_str() {
                "_meta" => self.mcp_meta(claimed, &field),
                "resultType" | "requestState" => self.out.not_covered.push(field),
                "inputRequests" => self.asked(field, claimed),
                "isError" => {
                    let says_error = claimed.as_bool() == Some(true);
                    if claimed.is_boolean() && says_error != ok {
                        self.out.matched.push(field);
                    } else {
                        self.out.problems.push(format!(
                            "the answer's `{field}` does not fit the signed record's `outcome`{}",
                            both(Some(claimed), self.record.get("outcome"))
                        ));
                    }
                }
                "structuredContent" | "content" if blocks => self.out.matched.push(field),
                "structuredContent" => {
                    let matches = if ok {
                        self.structured_matches(claimed)
                    } else {
                        claimed.is_null()
                    };
                    self.output_found(field, matches);
                }
                "content" => self.mcp_content(claimed, &field, ok),
                _ => self.foreign("the MCP result", &field),
            }
        }
        // Absent, `isError` means false: a success the record must show (or a round that
        // asked, which is no failure either).
        let asked = self.record.get("outcome").and_then(Value::as_str) == Some("input_required");
        if !fields.contains_key("isError") && !ok && !asked {
            self.out.problems.push(format!(
                "the answer has no `{prefix}isError` (so it says the call succeeded), but the signed record's outcome is {}",
                shown(self.record.get("outcome")).unwrap_or_default()
            ));
        }
    }

    /// Structured content is the output, or `{"result": output}` for an output that is not an
    /// object (or a tool whose output schema is not one).
    fn structured_matches(&self, claimed: &Value) -> bool {
        let Some(d) = self.record.get("output_sha256").and_then(Value::as_str) else {
            return false;
        };
        let wrapped = claimed
            .as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.get("result"));
        digest(claimed) == d || wrapped.is_some_and(|inner| digest(inner) == d)
    }

    /// `content`: for `ok`, the structured content as JSON text; else `outcome: error`.
    fn mcp_content(&mut self, claimed: &Value, field: &str, ok: bool) {
        let blocks = claimed.as_array().map(Vec::as_slice).unwrap_or_default();
        let expected_error = (!ok).then(|| {
            let outcome = self
                .record
                .get("outcome")
                .and_then(Value::as_str)
                .unwrap_or("?");
            let reason = self
                .record
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or(outcome);
            format!("{outcome}: {reason}")
        });
        let block_ok = |block: &Value| {
            let Some(b) = block.as_object() else {
                return false;
            };
            // Only a text block; SDKs may write their empty optional members as null.
            let plain = b.iter().all(|(k, v)| match k.as_str() {
                "type" => v == "text",
                "text" => v.is_string(),
                "annotations" | "_meta" => v.is_null(),
                _ => false,
            });
            let Some(text) = b.get("text").and_then(Value::as_str) else {
                return false;
            };
            plain
                && match &expected_error {
                    Some(e) => text == e,
                    // The text exactly as the server writes it (compact JSON, no duplicate
                    // key): what any reader of the text sees is what was checked.
                    None => cordon_core::json::parse_input(text.as_bytes()).is_ok_and(|v| {
                        serde_json::to_string(&v).is_ok_and(|compact| compact == text)
                            && self.structured_matches(&v)
                    }),
                }
        };
        if claimed.is_array() && blocks.iter().all(block_ok) {
            self.out.matched.push(field.to_owned());
        } else {
            let what = match expected_error {
                Some(_) => "the outcome and error",
                None => "the output",
            };
            self.out.problems.push(format!(
                "the answer's `{field}` is not {what} the signed record holds: the answer was changed after it was signed, or its receipt is another execution's"
            ));
        }
    }

    fn mcp_meta(&mut self, claimed: &Value, field: &str) {
        let Some(meta) = self.object(claimed, "the MCP result's `_meta`") else {
            return;
        };
        for (name, value) in meta {
            let named = format!("{field}[\"{name}\"]");
            match name.as_str() {
                "cordon/receipt" => {}
                "cordon/execution_id" => self.same(named, value, "id"),
                "cordon/outcome" => self.same(named, value, "outcome"),
                "cordon/usage" => self.same(named, value, "usage"),
                _ => self.foreign("the MCP result", &named),
            }
        }
    }

    /// A task as `GET /v1/executions/{id}` shows it finished (and the `result` event).
    fn task(&mut self, value: &Value) {
        let Some(fields) = self.object(value, "the task") else {
            return;
        };
        for (name, claimed) in fields {
            let field = name.clone();
            match name.as_str() {
                "execution_id" => self.same(field, claimed, "id"),
                "tool" | "version" | "outcome" => self.same(field, claimed, name),
                "status" if claimed == "finished" => self.out.matched.push(field),
                "status" => self.out.problems.push(format!(
                    "the task's `status` is {}, but its receipt says it finished",
                    shown(Some(claimed)).unwrap_or_else(|| "not a status".to_owned())
                )),
                "result" => self.answer(claimed, "result."),
                // The task's own start (when it was stored), not the record's (admission).
                "started_at_ms"
                | "progress"
                | "cancel_requested_by"
                | "expires_at_ms"
                | "poll_interval_ms" => self.out.not_covered.push(field),
                _ => self.foreign("the task", &field),
            }
        }
    }
}

#[cfg(test)]
#[path = "receipt_answer_tests.rs"]
mod tests;
