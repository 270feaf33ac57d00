//! `/mcp`: every published tool over the Model Context Protocol (streamable HTTP, rmcp).
//!
//! There is one execution path: `tools/call` goes through `api::execute`, exactly like
//! `POST /v1/tools/{name}/invoke`, with the same authentication, per-tool access rules, limits,
//! in-flight bound and durable execution record (transport `mcp`).
//!
//! - Authentication happens before rmcp sees the request ([`guard`]): a missing or unknown key is
//!   `401` with `WWW-Authenticate`, like the REST API, and the same rate limits apply.
//! - `tools/list` is read from the live registry on every request, so published, deleted and
//!   quarantined tools appear and disappear without a restart. It lists, by name, the tools the
//!   caller's key may invoke (role and the tool's `[access]` rules); quarantined tools are left
//!   out.
//! - A known key that may not call a tool gets a tool-level error (`isError: true`, "forbidden:
//!   ..."), as do refusals the model should read (quarantined, saturated, invalid input, limit
//!   kills). An unknown tool is a JSON-RPC invalid-params error.
//! - The transport runs stateless with JSON responses: every POST is self-contained, so any
//!   cordon node can answer it and nothing is held per client between requests. Clients of the
//!   older `initialize` revisions and of the current revision are both served (rmcp negotiates).
//!   The one exception: an older client that declares elicitation, sampling or roots keeps a
//!   session on its node, so that a tool's questions can be asked on its call's stream
//!   (`sessions.rs`, `push.rs`).
//! - A call stops when its client cancels it (`notifications/cancelled`, read by [`guard`]; a
//!   task's `tasks/cancel`) or goes away before the answer; it is recorded `cancelled` with what
//!   it used. A request with a `progressToken` gets the tool's progress as
//!   `notifications/progress` on its response stream (`notify.rs`).
//! - Tasks (`io.modelcontextprotocol/tasks`, 2026-07-28): a request that declares the
//!   extension and whose call runs past half a second gets a task (`tasks.rs`), the same task a
//!   REST `Prefer: respond-async` makes, scoped to its caller.
//! - `tools/list` carries annotations derived from the policy (`readOnlyHint`,
//!   `openWorldHint`).
//! - Prompts and resources: none, and declared so (`prompts/list` and `resources/list` answer
//!   empty); `prompts/get` of any name and `resources/read` of any URI are invalid params
//!   (-32602, with the name or `data.uri`, SEP-2164).

pub mod call;
pub mod held;
pub mod notify;
pub mod param_headers;
pub mod push;
pub mod sessions;
pub mod task_clock;
pub mod tasks;

use crate::api::invoke::may_invoke;
use crate::callers::caller::Caller;
use crate::error::ApiError;
use crate::mcp::call::wraps_output;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use cordon_core::Action;
use cordon_core::authority::{Authority, HostPart};
use rmcp::ErrorData as McpError;
#[allow(deprecated)]
use rmcp::model::SetLevelRequestParams;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CancelTaskParams, ClientCapabilities, CustomRequest,
    CustomResult, GetPromptRequestParams, GetPromptResponse, GetTaskParams, GetTaskResult,
    Implementation, JsonObject, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ServerCapabilities, ServerConfig, TASKS_EXTENSION_ID, Tool,
    ToolAnnotations, UpdateTaskParams,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleServer, ServerHandler};
use serde_json::{Value, json};
use std::sync::{Arc, PoisonError};

/// The MCP services `/mcp` dispatches to (`sessions.rs`): the stateless one, and the one
/// keeping sessions for older clients that can be asked things.
pub fn services(state: Arc<AppState>) -> sessions::Services<Gateway> {
    let max_body = state.settings.max_invoke_bytes;
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_max_request_body_bytes(max_body)
        // Host and Origin are checked by `guard`, with cordon's rules and JSON errors.
        .disable_allowed_hosts();
    let stateless = {
        let state = state.clone();
        StreamableHttpService::new(
            move || Ok(Gateway::new(state.clone(), false)),
            Arc::new(NeverSessionManager::default()),
            config.clone(),
        )
    };
    // A session's questions and notifications travel on event streams.
    let manager = Arc::new(sessions::manager());
    let sessions = StreamableHttpService::new(
        move || Ok(Gateway::new(state.clone(), true)),
        manager.clone(),
        config
            .with_legacy_session_mode(true)
            .with_json_response(false),
    );
    sessions::Services {
        stateless,
        sessions,
        manager,
    }
}

/// Runs before rmcp: DNS-rebinding checks on `Host` and `Origin`, then authentication. The
/// authenticated caller travels to the handler in the request's extensions.
pub async fn guard(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (mut parts, body) = request.into_parts();
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !host_allowed(host, &state.settings.allowed_hosts) {
        tracing::warn!(target: "cordon::security", host, "MCP request with a foreign Host header refused");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "host_not_allowed",
            "this Host is not allowed; add it to allowed_hosts",
        ));
    }
    if let Some(origin) = parts.headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !origin_allowed(origin, host, &state.settings.allowed_origins) {
            tracing::warn!(target: "cordon::security", origin, "MCP request from a foreign Origin refused");
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                "requests from this Origin are not allowed; add it to allowed_origins",
            ));
        }
    }
    let caller =
        <Caller as axum::extract::FromRequestParts<_>>::from_request_parts(&mut parts, &state)
            .await?;
    // The common stateless `tools/call` is answered here, and a `notifications/cancelled`
    // stops the call it names (rmcp runs each stateless request on its own, so it cannot);
    // everything else is rmcp's.
    let body = if parts.method == axum::http::Method::POST {
        let bytes = axum::body::to_bytes(body, state.settings.max_invoke_bytes)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    "the request body is over this endpoint's limit (max_invoke_bytes)",
                )
            })?;
        if let Some(refused) = param_mismatch(&state, &caller, &parts.headers, &bytes) {
            return Ok(refused);
        }
        if crate::mcp::call::headers_qualify(&parts.headers)
            && let Some(call) = crate::mcp::call::parse(&bytes)
        {
            return Ok(crate::mcp::call::answer(&state, &caller, call).await);
        }
        if sessions::wants_session(&bytes) {
            parts.extensions.insert(sessions::Sessioned);
        }
        if let Some(request) = crate::mcp::call::cancelled(&bytes) {
            // Only the caller's own request: another caller's id names nothing here.
            if let Some(call) = state.running.by_request(&caller.id, &request) {
                call.control.cancel(MCP_CANCELLED);
                tracing::info!(target: "cordon::admin", execution_id = call.id, caller = caller.id, "cancel asked (notifications/cancelled)");
            }
        }
        axum::body::Body::from(bytes)
    } else {
        body
    };
    parts.extensions.insert(caller);
    Ok(next.run(Request::from_parts(parts, body)).await)
}

/// A 2026-07-28 `tools/call` whose `Mcp-Param-*` headers do not match its body
/// (`param_headers.rs`): answered here, `400` with JSON-RPC error -32020. Only a request that
/// names a tool whose schema marks a property is parsed.
fn param_mismatch(
    state: &AppState,
    caller: &Caller,
    headers: &axum::http::HeaderMap,
    bytes: &[u8],
) -> Option<Response> {
    // A caller that may not invoke learns nothing about tools here (rmcp refuses its call).
    if !caller.permits(Action::Invoke)
        || !headers.contains_key("mcp-protocol-version")
        || memchr::memmem::find(bytes, b"tools/call").is_none()
    {
        return None;
    }
    let body: Value = serde_json::from_slice(bytes).ok()?;
    let name = body["params"]["name"].as_str()?;
    let tool = state.find(name, None)?;
    if !crate::api::execute::may_invoke(caller, &tool)
        || !tool
            .record
            .input_schema
            .to_string()
            .contains("x-mcp-header")
    {
        return None;
    }
    let why = crate::mcp::param_headers::mismatch(headers, &body, &tool.record.input_schema)?;
    let answer = json!({
        "jsonrpc": "2.0",
        "id": body.get("id").cloned().unwrap_or(Value::Null),
        "error": {"code": crate::mcp::param_headers::HEADER_MISMATCH, "message": why},
    });
    Some(axum::response::IntoResponse::into_response((
        StatusCode::BAD_REQUEST,
        axum::Json(answer),
    )))
}

/// Who a call stopped by `notifications/cancelled` is recorded as cancelled by. The client's
/// `reason` is not recorded: it is the client's text.
pub const MCP_CANCELLED: &str = "its caller (notifications/cancelled)";

/// `Host` may be `localhost`, any IP literal (DNS rebinding needs a name), or a name the
/// operator listed; it must be a well-formed authority (`cordon_core::authority`), with nothing
/// after the host and optional port.
fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let Some(authority) = Authority::parse(host) else {
        return false;
    };
    match &authority.host {
        HostPart::Ip(_) => true,
        HostPart::Name(name) => {
            name == "localhost"
                || allowed
                    .iter()
                    .any(|a| a.trim_end_matches('.').eq_ignore_ascii_case(name))
        }
    }
}

/// `Origin` must be the server's own origin (same host and port as `Host`) or one the operator
/// listed. Browsers send it on cross-site requests; other clients usually send none.
fn origin_allowed(origin: &str, host: &str, allowed: &[String]) -> bool {
    // A Host without a port means the default port of the scheme the client used; the listener
    // may sit behind a TLS proxy, so that is the Origin scheme's default, never the Origin's
    // own port (`http://localhost:3000` is not the origin of `Host: localhost`).
    let same = Authority::parse_origin(origin).is_some_and(|(scheme, o)| {
        Authority::parse(host).is_some_and(|mut h| {
            let default = if scheme.eq_ignore_ascii_case("https") {
                443
            } else {
                80
            };
            h.port = h.port.or(Some(default));
            h == o
        })
    });
    same || allowed
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

/// What a client that declared `capabilities` can answer. An elicitation capability that names
/// no mode means form mode (as the protocol says).
fn asking_of(capabilities: &rmcp::model::ClientCapabilities) -> cordon_core::Asking {
    let elicit = capabilities.elicitation.as_ref();
    cordon_core::Asking {
        elicit_form: elicit.is_some_and(|e| e.form.is_some() || e.url.is_none()),
        elicit_url: elicit.is_some_and(|e| e.url.is_some()),
        sample: capabilities.sampling.is_some(),
        list_roots: capabilities.roots.is_some(),
    }
}

/// The answers of a request, each under its key; anything but an object is no answer.
fn answers_of(responses: Option<rmcp::model::InputResponses>) -> JsonObject {
    responses
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, v)| v.is_object())
        .collect()
}

/// The MCP face of the server: one per stateless request, or one per session.
#[derive(Debug, Clone)]
pub struct Gateway {
    state: Arc<AppState>,
    /// True in a session (`sessions.rs`): the client's `initialize` is known, and it can be
    /// asked things on a request's stream.
    session: bool,
    /// The level a session's client set with `logging/setLevel` (older revisions; a
    /// 2026-07-28 request names its own).
    #[allow(deprecated)]
    log_level: Arc<std::sync::Mutex<Option<rmcp::model::LoggingLevel>>>,
}

impl Gateway {
    fn new(state: Arc<AppState>, session: bool) -> Self {
        Gateway {
            state,
            session,
            log_level: Arc::default(),
        }
    }
}

impl ServerHandler for Gateway {
    // `enable_logging`: rmcp marks MCP logging deprecated (SEP-2577, after the revisions cordon
    // serves, which all have it).
    #[allow(deprecated)]
    fn get_info(&self) -> ServerConfig {
        // The tasks extension (2026-07-28, `io.modelcontextprotocol/tasks`) is advertised in
        // `initialize` and `server/discover` alike; a task is only made for a request that
        // declares it. Prompts and resources: cordon has none, but `prompts/list` and
        // `resources/list` are answered (empty), so they are declared as what is answered.
        // Logging: a 2026-07-28 request names its level; a session's client sets it with
        // `logging/setLevel`.
        let mut capabilities = ServerCapabilities::builder()
            .enable_logging()
            .enable_prompts()
            .enable_resources()
            .enable_tools()
            .build();
        capabilities
            .extensions
            .get_or_insert_with(Default::default)
            .insert(TASKS_EXTENSION_ID.to_owned(), JsonObject::new());
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("cordon", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Tools published to this cordon server. Each runs sandboxed under its policy; \
                 every call is recorded.",
            )
    }

    async fn list_tools(
        &self,
        _page: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let caller = caller(&context)?;
        // Filtering is not a refusal: no security event for a key that sees fewer tools.
        if !(caller.permits(Action::ListTools) && caller.permits(Action::Invoke)) {
            return Ok(ListToolsResult::with_all_items(Vec::new()));
        }
        let state = &self.state;
        let quarantined = state.quarantined_read().clone();
        let tools = state.tools_read();
        // The registry is ordered by name, so the list is stable.
        let listed = tools
            .iter()
            .filter(|(name, _)| !quarantined.contains_key(*name))
            .filter_map(|(_, versions)| versions.last())
            .filter(|t| may_invoke(&caller, t) && state.may_list(&caller, t, "mcp"))
            .filter_map(|t| {
                mcp_tool(&t.record).map(|mut tool| {
                    tool.title.clone_from(&t.info.title);
                    tool.with_annotations(annotations(t))
                })
            })
            .collect();
        Ok(ListToolsResult::with_all_items(listed))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let caller = caller(&context)?;
        let arguments = request.arguments.unwrap_or_default();
        let name = request.name.as_ref();
        let request_key = serde_json::to_string(&context.id).ok();
        // A client that declared the tasks extension for this request gets a task for a call
        // still running after half a second; a quicker one is answered as usual.
        let tasks = context
            .client_capabilities()
            .is_some_and(|c| c.supports_tasks());
        let progress = context
            .meta
            .get_progress_token()
            .map(|token| crate::mcp::notify::progress_notifier(context.peer.clone(), token));
        // 2026-07-28: a request that names a log level gets the tool's log messages at that
        // level or more severe; one that names none gets none (`log_notifier` on rmcp's
        // deprecation of logging).
        #[allow(deprecated)]
        let logs = context
            .meta
            .log_level()
            .or_else(|| {
                *self
                    .log_level
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
            })
            .map(|level| crate::mcp::notify::log_notifier(context.peer.clone(), level));
        let (logs, drain) = match logs {
            Some((least, sink, drain)) => (Some((least, sink)), Some(drain)),
            None => (None, None),
        };
        // 2026-07-28: the request says what its client can answer; a state comes back with
        // answers (answers without one start the call over: the tool asks again).
        let asking = context.meta.client_capabilities().map(|c| asking_of(&c));
        let resume = match (request.request_state, request.input_responses) {
            (None, None) => None,
            (state, responses) => Some((state, answers_of(responses))),
        };
        // A session's client of an older revision that declared what it answers is asked on
        // this request's stream (`push.rs`).
        let push = match (&asking, self.session, context.peer.peer_info()) {
            (None, true, Some(info)) => Some(crate::mcp::push::Push::new(
                context.peer.clone(),
                asking_of(&info.capabilities),
            )),
            _ => None,
        };
        let options = crate::mcp::call::CallOptions {
            request: request_key,
            progress,
            logs,
            hangup: Some(context.ct.clone()),
            asking,
            resume,
            push,
        };
        // A tool whose calls may not be tasks is answered in the request.
        let forbidden = self
            .state
            .find(name, None)
            .is_some_and(|t| t.info.task_support == cordon_core::TaskSupport::Forbidden);
        let protocol = context
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|p| p.headers.get("mcp-protocol-version"))
            .and_then(|v| v.to_str().ok());
        let started = std::time::Instant::now();
        let span = crate::trace::mcp_tool_call(
            name,
            serde_json::to_string(&context.id).ok().as_deref(),
            protocol,
            Some(&context.meta.0),
        );
        let answer = span
            .instrument(async {
                if tasks && !forbidden {
                    crate::mcp::tasks::call(&self.state, &caller, name, arguments, options).await
                } else {
                    crate::mcp::call::call_response(&self.state, &caller, name, arguments, options)
                        .await
                }
            })
            .await;
        crate::trace::mcp_outcome(&span, name, started, &answer);
        // What the tool logged before it returned goes on the stream before its result (a task
        // answered as a task still runs: nothing to wait for).
        if let Some(drain) = drain
            && !matches!(answer, Ok(rmcp::model::CallToolResponse::Task(_)))
        {
            drain.wait().await;
        }
        answer
    }

    /// `logging/setLevel` (older revisions): kept for the session's calls. Without a session
    /// nothing is kept between requests: acknowledged, and a call then logs only at the level
    /// its own request names (2026-07-28).
    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        if self.session {
            *self
                .log_level
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(request.level);
        }
        Ok(())
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, McpError> {
        let caller = caller(&context)?;
        crate::mcp::tasks::get(&self.state, &caller, &request.task_id).await
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let caller = caller(&context)?;
        crate::mcp::tasks::cancel(&self.state, &caller, &request.task_id).await
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        // `prompts/list` is empty: every name is unknown (invalid params, as the protocol says).
        Err(McpError::invalid_params(
            "no such prompt: this server offers none (its tools are in tools/list)",
            Some(json!({ "name": request.name })),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        // SEP-2164: a resource that does not exist is -32602 with the URI in `data`, never an
        // empty `contents`; `resources/list` is empty, so every URI is one.
        Err(McpError::invalid_params(
            "Resource not found: this server offers no resources (its tools are in tools/list)",
            Some(json!({ "uri": request.uri })),
        ))
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let caller = caller(&context)?;
        let asking = context
            .client_capabilities()
            .map(|c| asking_of(&c))
            .unwrap_or_default();
        let responses = answers_of(Some(request.input_responses));
        crate::mcp::tasks::update(&self.state, &caller, &request.task_id, &responses, asking).await
    }

    async fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, McpError> {
        // rmcp reads a request whose params do not fit its method's type as a custom one: for
        // the tasks extension's methods that is a malformed request (invalid params), never an
        // unknown method. A `tasks/update` naming its task is acknowledged whatever its
        // `inputResponses` (those that are not answers answer nothing).
        let method = request.method.as_str();
        if !matches!(method, "tasks/get" | "tasks/update" | "tasks/cancel") {
            return Err(McpError::new(
                rmcp::model::ErrorCode::METHOD_NOT_FOUND,
                format!("no method {method}"),
                None,
            ));
        }
        if !context
            .client_capabilities()
            .is_some_and(|c| c.supports_tasks())
        {
            return Err(McpError::missing_required_client_capability(
                ClientCapabilities::builder().enable_tasks().build(),
            ));
        }
        let task_id = request
            .params
            .as_ref()
            .and_then(|p| p.get("taskId"))
            .and_then(Value::as_str);
        match (method, task_id) {
            ("tasks/update", Some(id)) => {
                let caller = caller(&context)?;
                let asking = context
                    .client_capabilities()
                    .map(|c| asking_of(&c))
                    .unwrap_or_default();
                // Responses that are not an object of answers answer nothing.
                let responses = request
                    .params
                    .as_ref()
                    .and_then(|p| p.get("inputResponses"))
                    .and_then(Value::as_object)
                    .map(|o| answers_of(Some(o.clone().into_iter().collect())))
                    .unwrap_or_default();
                crate::mcp::tasks::update(&self.state, &caller, id, &responses, asking).await?;
                Ok(CustomResult::new(json!({ "resultType": "complete" })))
            }
            _ => Err(McpError::invalid_params(
                format!(
                    "{method} takes params {{\"taskId\": \"...\"{}}}",
                    if method == "tasks/update" {
                        ", \"inputResponses\": {...}"
                    } else {
                        ""
                    }
                ),
                None,
            )),
        }
    }
}

/// MCP tool annotations from the policy cordon enforces: a tool with no network and no
/// writable mount can change nothing and reach nothing outside (`readOnlyHint: true`,
/// `openWorldHint: false`); one with network access reaches an open world. The tool's own
/// hints are not passed on: a client takes a tool that may change something as destructive and
/// not idempotent unless told otherwise, and a tool cordon runs because it is not trusted must
/// not talk a client out of asking its user first (`cordon inspect` shows what it claims).
fn annotations(tool: &crate::calls::live::LiveTool) -> ToolAnnotations {
    ToolAnnotations::new()
        .read_only(!tool.acts_outside())
        .open_world(!tool.policy.network.allow.is_empty())
}

fn caller(context: &RequestContext<RoleServer>) -> Result<Caller, McpError> {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Caller>())
        .cloned()
        // `guard` authenticates every request first; this is only reached if it was bypassed.
        .ok_or_else(|| McpError::invalid_request("unauthenticated", None))
}

/// The MCP description of a tool, or `None` when its input cannot be an MCP arguments object.
fn mcp_tool(record: &cordon_storage::ToolRecord) -> Option<Tool> {
    let mut input = match &record.input_schema {
        Value::Object(o) => o.clone(),
        // `true` / absent: any input.
        _ => JsonObject::new(),
    };
    match input.get("type") {
        None => {
            input.insert("type".into(), json!("object"));
        }
        Some(t) if t == "object" => {}
        Some(_) => return None,
    }
    let output = match &record.output_schema {
        None => None,
        Some(schema) if !wraps_output(record) => Some(schema.clone()),
        Some(inner) => Some(
            json!({ "type": "object", "properties": { "result": inner }, "required": ["result"] }),
        ),
    };
    let mut tool = Tool::new(record.name.clone(), record.description.clone(), input);
    if let Some(Value::Object(output)) = output {
        tool = tool.with_raw_output_schema(Arc::new(output));
    }
    Some(tool)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::invoke::InvokeResponse;
    use crate::mcp::call::call_result;
    use cordon_core::Outcome;

    #[test]
    fn hosts_allowed_are_loopback_ip_literals_and_listed_names() {
        let listed = vec!["tools.example.com".to_owned()];
        for ok in [
            "localhost:7878",
            "127.0.0.1:7878",
            "[::1]:7878",
            "[2001:db8::1]",
            "[2001:db8::1]:443",
            "10.0.0.5",
            "tools.example.com:443",
        ] {
            assert!(host_allowed(ok, &listed), "{ok}");
        }
        for bad in [
            "evil.example:7878",
            "",
            "localhost.evil.example",
            "example.com",
            "[evil.example]",
            "a:b:c",
            "user@localhost",
            "[::1]x",
            "[::1].evil.example",
            "[::1]:7920.evil.example",
            "127.0.0.1:7878.evil.example",
        ] {
            assert!(!host_allowed(bad, &listed), "{bad}");
        }
    }

    fn record(output_schema: Option<Value>) -> cordon_storage::ToolRecord {
        cordon_storage::ToolRecord {
            name: "t".into(),
            version: "1".into(),
            digest: String::new(),
            blob: String::new(),
            publisher: String::new(),
            signer: String::new(),
            description: String::new(),
            input_schema: json!({"type": "object"}),
            output_schema,
            policy: String::new(),
            policy_hash: String::new(),
            published_at_ms: 0,
            source: None,
            review: Vec::new(),
        }
    }

    fn ok(output: Value) -> InvokeResponse {
        InvokeResponse {
            execution_id: "ex".into(),
            outcome: Outcome::Ok,
            output: Some(output),
            content: Vec::new(),
            input_requests: None,
            request_state: None,
            error: None,
            findings: Vec::new(),
            risk: None,
            usage: cordon_core::Usage::default(),
            receipt: crate::record::audit_log::ReceiptView {
                log_id: "log".into(),
                seq: 1,
                prev_hash: "00".repeat(32),
                hash: "11".repeat(32),
                record: "{}".into(),
                path: Vec::new(),
                batch: serde_json::value::to_raw_value(&json!({"kind": "batch"})).unwrap(),
            },
        }
    }

    #[test]
    fn only_outputs_that_are_not_objects_are_wrapped() {
        // No declared output schema (a tool built without the SDK): none advertised, an object
        // output is the structured content as it is, anything else is wrapped.
        let undeclared = record(None);
        assert!(mcp_tool(&undeclared).unwrap().output_schema.is_none());
        let wrap = wraps_output(&undeclared);
        let r = call_result(ok(json!({"text": "HI"})), wrap);
        assert_eq!(r.structured_content, Some(json!({"text": "HI"})));
        // The receipt travels in `_meta`, beside the execution id.
        let meta = r.meta.unwrap().0;
        assert_eq!(meta["cordon/receipt"]["seq"], 1);
        assert_eq!(meta["cordon/execution_id"], "ex");
        let r = call_result(ok(json!(42)), wrap);
        assert_eq!(r.structured_content, Some(json!({"result": 42})));
        // An object schema: advertised as it is, never wrapped.
        let object = record(Some(
            json!({"type": "object", "properties": {"n": {"type": "integer"}}}),
        ));
        assert!(!wraps_output(&object));
        assert_eq!(
            mcp_tool(&object)
                .unwrap()
                .output_schema
                .unwrap()
                .get("type"),
            Some(&json!("object"))
        );
        // A schema that is not an object: wrapped, and its schema too.
        let number = record(Some(json!({"type": "integer"})));
        assert!(wraps_output(&number));
        let schema = mcp_tool(&number).unwrap().output_schema.unwrap();
        assert_eq!(schema.get("required"), Some(&json!(["result"])));
        let r = call_result(ok(json!(7)), wraps_output(&number));
        assert_eq!(r.structured_content, Some(json!({"result": 7})));
    }

    #[test]
    fn origins_allowed_are_same_origin_or_listed() {
        let listed = vec!["https://app.example.com".to_owned()];
        assert!(origin_allowed(
            "http://127.0.0.1:7878",
            "127.0.0.1:7878",
            &listed
        ));
        assert!(origin_allowed(
            "https://app.example.com",
            "127.0.0.1:7878",
            &listed
        ));
        assert!(!origin_allowed(
            "https://evil.example",
            "127.0.0.1:7878",
            &listed
        ));
        assert!(!origin_allowed(
            "http://127.0.0.1:9999",
            "127.0.0.1:7878",
            &listed
        ));
        assert!(!origin_allowed("null", "127.0.0.1:7878", &listed));
        // A Host without a port: only the origin on the scheme's default port is the same.
        assert!(origin_allowed(
            "https://tools.example.com",
            "tools.example.com",
            &listed
        ));
        assert!(origin_allowed("http://localhost", "localhost", &listed));
        assert!(!origin_allowed(
            "http://localhost:3000",
            "localhost",
            &listed
        ));
        assert!(!origin_allowed(
            "https://tools.example.com:8443",
            "tools.example.com",
            &listed
        ));
    }
}
