//! MCP `tools/call`: what a call answers ([`call_outcome`], for rmcp's handler in `mcp.rs` and
//! the direct path alike), and the direct path for the most common MCP request: one stateless `tools/call` of a client on
//! the 2024-11-05 to 2025-11-25 revisions. rmcp serves every MCP request correctly, but for a
//! stateless one it builds a service, a one-shot transport and three tasks per request, and
//! parses and re-serializes every message as typed values: about 1.4x the CPU of the same call
//! over REST. This path answers exactly that request shape itself, with rmcp's own types for
//! the answer, through the same [`call_outcome`] as rmcp's handler;
//! anything else (another method, a batch, an unknown member, per-request protocol metadata,
//! the 2026-07-28 revision's standard headers, an `Accept` with parameters) goes to rmcp as
//! before, so every rule rmcp applies still applies to it.
//!
//! What is taken here is only what rmcp would accept and answer the same way: `Accept` naming
//! both `application/json` and `text/event-stream`, `Content-Type: application/json`, no
//! `MCP-Protocol-Version` or one of the revisions listed below, no other `Mcp-*` header, and a
//! body that is exactly `{"jsonrpc":"2.0","id":..,"method":"tools/call","params":{"name":..,
//! "arguments":{..}}}`.

use crate::api::execute::{Admission, admit, admit_or_hold};
use crate::api::invoke::InvokeResponse;
use crate::callers::caller::Caller;
use crate::calls::running::{CancelOnDrop, HUNG_UP};
use crate::state::AppState;
use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use cordon_core::Outcome;
use cordon_sandbox::ProgressSink;
use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolResponse, CallToolResult, ContentBlock, InputRequiredResult, JsonObject, JsonRpcError,
    JsonRpcResponse, JsonRpcVersion2_0, RequestId, ServerResult,
};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Revisions whose stateless `tools/call` carries nothing beyond the body checked here (from
/// 2026-07-28 a request carries protocol metadata and standard headers: rmcp checks those).
const DIRECT_REVISIONS: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

/// True when the headers are ones rmcp would accept for a stateless request and that ask
/// nothing more of it (see the module documentation).
pub fn headers_qualify(headers: &HeaderMap) -> bool {
    let content_type_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|e| e.trim().eq_ignore_ascii_case("application/json"))
        });
    let (mut json, mut sse) = (false, false);
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else {
            return false;
        };
        for entry in value.split(',') {
            // A parameter (a quality weight) is for rmcp to weigh.
            if entry.contains(';') || entry.contains('"') {
                return false;
            }
            let essence = entry.trim();
            json |= essence.eq_ignore_ascii_case("application/json");
            sse |= essence.eq_ignore_ascii_case("text/event-stream");
        }
    }
    let mut versions = headers.get_all("mcp-protocol-version").iter();
    let version_ok = match (versions.next(), versions.next()) {
        (None, _) => true,
        (Some(v), None) => v.to_str().is_ok_and(|v| DIRECT_REVISIONS.contains(&v)),
        (Some(_), Some(_)) => false,
    };
    let other_mcp_header = headers.keys().any(|name| {
        let name = name.as_str();
        name.starts_with("mcp-") && name != "mcp-protocol-version"
    });
    content_type_json && json && sse && version_ok && !other_mcp_header
}

/// The one request shape taken here; any other member makes it rmcp's.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Call<'a> {
    #[serde(borrow)]
    jsonrpc: &'a str,
    id: RequestId,
    #[serde(borrow)]
    method: &'a str,
    params: Params,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    name: String,
    #[serde(default)]
    arguments: Option<JsonObject>,
}

/// A stateless `tools/call` read from the body.
#[derive(Debug)]
pub struct DirectCall {
    id: RequestId,
    name: String,
    arguments: JsonObject,
}

/// The call in `body`, or `None` when the body is anything else.
pub fn parse(body: &[u8]) -> Option<DirectCall> {
    let call: Call<'_> = serde_json::from_slice(body).ok()?;
    (call.jsonrpc == "2.0" && call.method == "tools/call").then(|| DirectCall {
        id: call.id,
        name: call.params.name,
        arguments: call.params.arguments.unwrap_or_default(),
    })
}

/// Runs the call and answers it as rmcp's JSON response mode would: `200` with the JSON-RPC
/// result, or the JSON-RPC error.
pub async fn answer(state: &Arc<AppState>, caller: &Caller, call: DirectCall) -> Response {
    let DirectCall {
        id,
        name,
        arguments,
    } = call;
    let options = CallOptions {
        request: serde_json::to_string(&id).ok(),
        ..CallOptions::default()
    };
    let started = std::time::Instant::now();
    let span = crate::trace::mcp_tool_call(&name, options.request.as_deref(), None, None);
    let outcome = span
        .instrument(call_response(state, caller, &name, arguments, options))
        .await;
    crate::trace::mcp_outcome(&span, &name, started, &outcome);
    let outcome = match outcome {
        Ok(CallToolResponse::Complete(result)) => Ok(result),
        Ok(_) => Err(McpError::internal_error("the call did not complete", None)),
        Err(e) => Err(e),
    };
    let body = match outcome {
        Ok(result) => {
            // As rmcp answers a peer of these revisions: without `resultType: "complete"`.
            let mut result = ServerResult::CallToolResult(result);
            result.strip_result_type_for_legacy_peer();
            serde_json::to_vec(&JsonRpcResponse {
                jsonrpc: JsonRpcVersion2_0,
                id,
                result,
            })
        }
        Err(error) => serde_json::to_vec(&JsonRpcError {
            jsonrpc: JsonRpcVersion2_0,
            id: Some(id),
            error,
        }),
    };
    match body {
        Ok(body) => (
            [(header::CONTENT_TYPE, "application/json")],
            Bytes::from(body),
        )
            .into_response(),
        Err(e) => crate::error::ApiError::internal(e).into_response(),
    }
}

/// How one MCP `tools/call` is run besides its arguments.
#[derive(Default)]
pub struct CallOptions {
    /// The request's JSON-RPC id, as JSON: a `notifications/cancelled` naming it stops the call.
    pub request: Option<String>,
    /// Where its progress goes (the request's `notifications/progress`).
    pub progress: Option<ProgressSink>,
    /// Where its log messages go, from which level (the request's `logLevel`; none: no log).
    pub logs: Option<(cordon_core::LogLevel, cordon_sandbox::LogSink)>,
    /// Cancelled when the request's connection goes away before the answer.
    pub hangup: Option<tokio_util::sync::CancellationToken>,
    /// What the client can answer when the tool asks for input: a 2026-07-28 request's
    /// declared capabilities; nothing for the older revisions, which cannot take an
    /// `InputRequiredResult`.
    /// `None` for a client of an older revision.
    pub asking: Option<cordon_core::Asking>,
    /// The round this call takes up: its `requestState` (if any) and the `inputResponses`.
    pub resume: Option<(Option<String>, JsonObject)>,
    /// A session's client of an older revision, asked on the request's stream (`push.rs`).
    pub push: Option<crate::mcp::push::Push>,
}

impl std::fmt::Debug for CallOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallOptions")
            .field("request", &self.request)
            .field("progress", &self.progress.is_some())
            .field("logs", &self.logs.as_ref().map(|(level, _)| level))
            .finish_non_exhaustive()
    }
}

/// A `notifications/cancelled` in `body`: the id (as JSON) of the request it cancels.
pub fn cancelled(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Note<'a> {
        #[serde(borrow)]
        jsonrpc: &'a str,
        #[serde(borrow)]
        method: &'a str,
        params: CancelParams,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct CancelParams {
        request_id: RequestId,
    }
    // Most requests are not one: a search for the name costs less than a parse.
    memchr::memmem::find(body, b"notifications/cancelled")?;
    let note: Note<'_> = serde_json::from_slice(body).ok()?;
    (note.jsonrpc == "2.0" && note.method == "notifications/cancelled")
        .then(|| serde_json::to_string(&note.params.request_id).ok())
        .flatten()
}

/// One `tools/call`, for rmcp's handler and the direct path alike: the tool's answer as an MCP
/// result, a refusal the caller (or model) should read as a tool-level error, an unknown tool
/// as invalid params, cordon's own fault as an internal error. The call runs in a task of its
/// own (so it is always recorded) and stops when the request is cancelled or its client goes
/// away (recorded `cancelled`).
pub async fn call_outcome(
    state: &Arc<AppState>,
    caller: &Caller,
    name: &str,
    arguments: JsonObject,
    options: CallOptions,
) -> Result<CallToolResult, McpError> {
    match call_response(state, caller, name, arguments, options).await? {
        CallToolResponse::Complete(result) => Ok(result),
        // Only a request that declared what to answer gets a round that asks (`answered`).
        _ => Err(McpError::internal_error("the call did not complete", None)),
    }
}

/// [`call_outcome`] for a handler that can answer with an `InputRequiredResult` (2026-07-28),
/// or ask a session's client itself (`push.rs`) and run the tool again with the answers.
pub async fn call_response(
    state: &Arc<AppState>,
    caller: &Caller,
    name: &str,
    arguments: JsonObject,
    options: CallOptions,
) -> Result<CallToolResponse, McpError> {
    let input = Value::Object(arguments);
    let body = Bytes::from(
        serde_json::to_vec(&input).map_err(|e| McpError::internal_error(e.to_string(), None))?,
    );
    let CallOptions {
        request,
        progress,
        logs,
        hangup,
        asking,
        mut resume,
        push,
    } = options;
    let mut asked = 0;
    loop {
        let round = Round {
            request: request.clone(),
            listeners: crate::calls::running::Listeners {
                progress: progress.clone(),
                logs: logs.clone(),
            },
            hangup: hangup.clone(),
            asking: push.as_ref().map(crate::mcp::push::Push::asking).or(asking),
            resume: resume.take(),
        };
        let (answer, tool) = match run_round(state, caller, name, body.clone(), round).await {
            Ok(ran) => ran,
            // A requestState this server did not make, or not for this call: invalid params.
            Err(e) if e.code == "invalid_request_state" => {
                return Err(McpError::invalid_params(e.message, None));
            }
            // MCP's "missing required client capability", naming the tasks extension.
            Err(e) if e.code == "task_required" => {
                return Err(McpError::missing_required_client_capability(
                    rmcp::model::ClientCapabilities::builder()
                        .enable_tasks()
                        .build(),
                ));
            }
            Err(e) => return refusal(name, e).map(Into::into),
        };
        let wrap = wraps_output(&tool.record);
        let (Some(push), Some(requests), Some(request_state)) =
            (&push, &answer.input_requests, &answer.request_state)
        else {
            return answered(answer, wrap, asking);
        };
        asked += 1;
        let why = if asked > crate::mcp::push::MAX_ROUNDS {
            format!(
                "the tool asked more than {} times in one call",
                crate::mcp::push::MAX_ROUNDS
            )
        } else {
            match push.ask(requests).await {
                Ok(answers) => {
                    resume = Some((Some(request_state.clone()), answers));
                    continue;
                }
                Err(why) => why,
            }
        };
        let mut result =
            CallToolResult::error(vec![ContentBlock::text(format!("input_required: {why}"))]);
        result.meta = call_result(answer, wrap).meta;
        return Ok(result.into());
    }
}

/// One round of a call: what it runs with besides its input.
struct Round {
    request: Option<String>,
    listeners: crate::calls::running::Listeners,
    hangup: Option<tokio_util::sync::CancellationToken>,
    asking: Option<cordon_core::Asking>,
    resume: Option<(Option<String>, JsonObject)>,
}

/// Admits and runs one round, in a task of its own (so it is always recorded), stopped when
/// the request is cancelled or its client goes away.
async fn run_round(
    state: &Arc<AppState>,
    caller: &Caller,
    name: &str,
    body: Bytes,
    round: Round,
) -> Result<(InvokeResponse, Arc<crate::calls::live::LiveTool>), crate::error::ApiError> {
    // The same checks in the same order as HTTP invoke (the role before the tool's existence,
    // so a key that may not invoke learns nothing about which tools exist).
    // A round that answers an earlier one continues a call already allowed; a first round may
    // be held for approval.
    let mut admitted = if round.resume.is_some() {
        admit(state, caller, name, None, body, "mcp").await?
    } else {
        match admit_or_hold(state, caller, name, None, body, "mcp").await? {
            Admission::Run(admitted) => admitted,
            // Held: this client takes no task to follow, so it is told where to look.
            Admission::Held(row) => return Err(crate::mcp::held::refused(&row)),
        }
    };
    // A tool that needs tasks, for a client that takes none: refused before it runs.
    if admitted.tool.info.task_support == cordon_core::TaskSupport::Required {
        return Err(crate::error::ApiError::bad_request(
            "task_required",
            format!("{name} runs as a task, which this client does not take"),
        ));
    }
    admitted.client_answers(round.asking.unwrap_or_default());
    if let Some((request_state, responses)) = &round.resume {
        admitted
            .resume(request_state.as_deref(), responses)
            .map_err(|e| {
                crate::error::ApiError::bad_request("invalid_request_state", e.to_string())
            })?;
    }
    let tool = admitted.tool.clone();
    let registered = admitted.register(false, round.request, round.listeners);
    let control = registered.call.control.clone();
    let dropped = CancelOnDrop::new(&control);
    let mut run = tokio::spawn(crate::trace::carry(admitted.run(registered)));
    let answer = match &round.hangup {
        None => (&mut run).await,
        Some(hangup) => tokio::select! {
            answer = &mut run => answer,
            () = hangup.cancelled() => {
                control.cancel(HUNG_UP);
                run.await
            }
        },
    }
    .map_err(crate::error::ApiError::internal)??;
    dropped.disarm();
    Ok((answer, tool))
}

/// A finished round as MCP answers it: a round that asked becomes an `InputRequiredResult`
/// for a client that can answer everything it asks; one that asks for what the client did not
/// declare is `-32021` naming it (HTTP 400); a client of an older revision, which cannot take
/// such a result, gets a tool error saying so.
pub(crate) fn answered(
    answer: InvokeResponse,
    wrap: bool,
    asking: Option<cordon_core::Asking>,
) -> Result<CallToolResponse, McpError> {
    let (Some(requests), Some(request_state)) = (&answer.input_requests, &answer.request_state)
    else {
        return Ok(call_result(answer, wrap).into());
    };
    let Some(asking) = asking else {
        let mut result = CallToolResult::error(vec![ContentBlock::text(
            "input_required: this tool asks its caller for input, which this client's protocol revision cannot carry (a client of MCP 2026-07-28 can answer it)",
        )]);
        result.meta = call_result(answer, wrap).meta;
        return Ok(result.into());
    };
    let mut missing = JsonObject::new();
    for request in requests.values() {
        let method = request["method"].as_str().unwrap_or_default();
        let url = request["params"]["mode"] == "url";
        let (allowed, capability) = match method {
            "elicitation/create" if url => (asking.elicit_url, json!({"elicitation": {"url": {}}})),
            "elicitation/create" => (asking.elicit_form, json!({"elicitation": {"form": {}}})),
            "sampling/createMessage" => (asking.sample, json!({"sampling": {}})),
            _ => (asking.list_roots, json!({"roots": {}})),
        };
        if !allowed && let Value::Object(c) = capability {
            missing.extend(c);
        }
    }
    if !missing.is_empty() {
        let required = serde_json::from_value(Value::Object(missing))
            .map_err(|e| McpError::internal_error(e.to_string(), None))?;
        return Err(McpError::missing_required_client_capability(required));
    }
    let input_requests = serde_json::from_value(json!(requests))
        .map_err(|e| McpError::internal_error(format!("the tool's requests: {e}"), None))?;
    let mut meta = JsonObject::new();
    meta.insert("cordon/execution_id".into(), json!(answer.execution_id));
    meta.insert("cordon/usage".into(), json!(answer.usage));
    meta.insert("cordon/receipt".into(), json!(answer.receipt));
    Ok(CallToolResponse::InputRequired(
        InputRequiredResult::new(Some(input_requests), Some(request_state.clone()))
            .with_meta(rmcp::model::MetaObject(meta)),
    ))
}

/// A refusal of a call before it ran, as MCP answers it.
pub fn refusal(name: &str, e: crate::error::ApiError) -> Result<CallToolResult, McpError> {
    Ok(match e {
        e if e.code == "not_found" => {
            return Err(McpError::invalid_params(
                format!("no tool named {name}"),
                None,
            ));
        }
        e if e.status.is_server_error() && e.code != "saturated" => {
            return Err(McpError::internal_error(e.message, None));
        }
        // Refusals the caller (or model) should read: forbidden, denied_by_policy (with the
        // reasons in `_meta`), quarantined, saturated, quota_exceeded (with the quota and when
        // to retry in `_meta`, as REST gives them in the body and `Retry-After`).
        e => {
            let mut refused = CallToolResult::error(vec![ContentBlock::text(format!(
                "{}: {}",
                e.code, e.message
            ))]);
            let mut meta = JsonObject::new();
            meta.insert("cordon/code".into(), json!(e.code));
            if let Some(quota) = &e.quota {
                meta.insert("cordon/quota".into(), json!(quota));
                meta.insert("cordon/retry_after_secs".into(), json!(e.retry_after));
            }
            // The operator's decisions' reasons (`denied_by_policy`), as REST gives them.
            if !e.reasons.is_empty() {
                meta.insert("cordon/reasons".into(), json!(e.reasons));
            }
            refused.meta = Some(rmcp::model::MetaObject(meta));
            refused
        }
    })
}

/// True when the tool declares an output schema that is not a JSON object: MCP structured
/// content must be an object, so such output is wrapped as `{"result": ...}` (and its schema
/// likewise). A tool that declares no output schema advertises none, and only its outputs that
/// are not objects are wrapped (see `call_result`).
pub fn wraps_output(record: &cordon_storage::ToolRecord) -> bool {
    record
        .output_schema
        .as_ref()
        .is_some_and(|s| s.get("type") != Some(&json!("object")))
}

/// An execution's answer as an MCP result: `ok` is the tool's content blocks with its
/// structured output beside them, or (with no blocks) the structured output plus its JSON as
/// text; every other outcome is `isError` with its one-line reason.
pub fn call_result(answer: InvokeResponse, wrap: bool) -> CallToolResult {
    call_result_of(&serde_json::to_value(&answer).unwrap_or(Value::Null), wrap)
}

/// [`call_result`] of an answer kept as JSON (a task's).
pub fn call_result_of(answer: &Value, wrap: bool) -> CallToolResult {
    let outcome = answer["outcome"].as_str().unwrap_or("host_error");
    let blocks = answer
        .get("content")
        .map(|c| serde_json::from_value::<Vec<ContentBlock>>(c.clone()));
    let mut result = if outcome == Outcome::Ok.as_str() {
        let output = answer["output"].clone();
        let structured = match (&output, &blocks) {
            // Content alone: nothing structured to show.
            (Value::Null, Some(_)) => None,
            (output, _) if wrap || !output.is_object() => Some(json!({ "result": output })),
            (output, _) => Some(output.clone()),
        };
        match (blocks, structured) {
            (None, Some(output)) => CallToolResult::structured(output),
            (Some(Ok(blocks)), structured) => {
                let mut result = CallToolResult::success(blocks);
                result.structured_content = structured;
                result
            }
            // cordon's blocks are MCP's: never refused, but never a panic either.
            (Some(Err(e)), _) => CallToolResult::error(vec![ContentBlock::text(format!(
                "host_error: the tool's content could not be passed on: {e}"
            ))]),
            (None, None) => CallToolResult::structured(json!({ "result": null })),
        }
    } else {
        let reason = answer["error"].as_str().unwrap_or(outcome);
        CallToolResult::error(vec![ContentBlock::text(format!("{outcome}: {reason}"))])
    };
    let mut meta = JsonObject::new();
    meta.insert("cordon/execution_id".into(), answer["execution_id"].clone());
    meta.insert("cordon/outcome".into(), json!(outcome));
    meta.insert("cordon/usage".into(), answer["usage"].clone());
    if let Some(receipt) = answer.get("receipt") {
        meta.insert("cordon/receipt".into(), receipt.clone());
    }
    // What the output scan found, and the answer's risk (the highest of its findings').
    if let Some(findings) = answer.get("findings").and_then(Value::as_array) {
        let risk = findings
            .iter()
            .filter_map(|f| f["risk"].as_f64())
            .fold(0.0, f64::max);
        meta.insert("cordon/findings".into(), Value::Array(findings.clone()));
        meta.insert("cordon/risk".into(), json!(risk));
    }
    result.meta = Some(rmcp::model::MetaObject(meta));
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    const PLAIN: &[(&str, &str)] = &[
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
    ];

    #[test]
    fn only_plain_headers_of_the_older_revisions_qualify() {
        assert!(headers_qualify(&headers(PLAIN)));
        let with = |extra: &[(&str, &str)]| {
            let mut all = PLAIN.to_vec();
            all.extend_from_slice(extra);
            headers_qualify(&headers(&all))
        };
        assert!(with(&[("mcp-protocol-version", "2025-06-18")]));
        assert!(with(&[("mcp-protocol-version", "2025-11-25")]));
        assert!(!with(&[("mcp-protocol-version", "2026-07-28")]));
        assert!(!with(&[("mcp-protocol-version", "1999-01-01")]));
        assert!(!with(&[
            ("mcp-protocol-version", "2025-06-18"),
            ("mcp-protocol-version", "2025-06-18")
        ]));
        assert!(!with(&[("mcp-method", "tools/call")]));
        assert!(!with(&[("mcp-session-id", "abc")]));
        assert!(!headers_qualify(&headers(&[
            ("content-type", "application/json"),
            ("accept", "application/json;q=0, text/event-stream"),
        ])));
        assert!(!headers_qualify(&headers(&[
            ("content-type", "application/json"),
            ("accept", "application/json"),
        ])));
        assert!(!headers_qualify(&headers(&[
            ("content-type", "text/plain"),
            ("accept", "application/json, text/event-stream"),
        ])));
        // Split over two Accept lines is still both.
        assert!(headers_qualify(&headers(&[
            ("content-type", "application/json; charset=utf-8"),
            ("accept", "application/json"),
            ("accept", "text/event-stream"),
        ])));
    }

    #[test]
    fn a_cancel_notification_names_the_request_it_cancels() {
        assert_eq!(
            cancelled(br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7,"reason":"user"}}"#)
                .as_deref(),
            Some("7")
        );
        assert_eq!(
            cancelled(br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"a-1"}}"#)
                .as_deref(),
            Some("\"a-1\"")
        );
        for other in [
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"notifications/cancelled"}}"#,
            r#"{"jsonrpc":"1.0","method":"notifications/cancelled","params":{"requestId":1}}"#,
            r#"[{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}]"#,
            "notifications/cancelled",
        ] {
            assert_eq!(cancelled(other.as_bytes()), None, "{other}");
        }
    }

    #[test]
    fn only_a_plain_tools_call_is_taken() {
        let call = parse(
            br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"m":1}}}"#,
        )
        .unwrap();
        assert_eq!(call.name, "echo");
        assert_eq!(call.arguments.get("m"), Some(&serde_json::json!(1)));
        assert_eq!(serde_json::to_string(&call.id).unwrap(), "7");
        let no_arguments =
            parse(br#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"x"}}"#)
                .unwrap();
        assert!(no_arguments.arguments.is_empty());
        for other in [
            // Another method, a notification, a batch, a wrong version.
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#,
            r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"x"}}"#,
            r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}]"#,
            r#"{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"x"}}"#,
            // Protocol metadata, a task, members this path does not know.
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","_meta":{"progressToken":1}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","task":{}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"},"extra":1}"#,
            // Arguments that are not an object, an escaped method name, not JSON.
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":[1]}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"x"}}"#,
            "{",
        ] {
            assert!(parse(other.as_bytes()).is_none(), "{other}");
        }
    }
}
