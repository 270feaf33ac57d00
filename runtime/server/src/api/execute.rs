//! The one execution path, shared by REST invoke (synchronous or not) and MCP `tools/call`:
//! [`admit`] makes every check (role, tool, quarantine, access, the in-flight bound, the input,
//! the quotas) before anything is instantiated; [`Admitted::run`] runs the sandboxed call under
//! its [`crate::calls::running`] entry (so it can be cancelled and followed) and commits the durable
//! record before it returns the answer.
//!
//! A call that can act outside its sandbox (`LiveTool::acts_outside`: network, a host-held
//! credential, a writable mount) is stored as a task before it runs, synchronous or not, with
//! the record to append should its node die; so a crash under it still ends in an `interrupted`
//! record (at the node's restart, or by another node once its lease runs out). A call that can
//! change nothing outside its sandbox is not: if its node dies, nothing it did outlives it, and
//! it leaves no record (docs/audit.md).

use crate::callers::caller::Caller;
use crate::callers::quota::Reservation;
use crate::calls::live::LiveTool;
use crate::calls::running::{CallEvent, NODE_STOP, NewCall, Registered, RunningCall};
use crate::clock::{now_ms, sha256_hex};
use crate::error::ApiError;
use crate::record::audit_log::ReceiptView;
use crate::state::AppState;
use axum::body::Bytes;
use axum::http::StatusCode;
use cordon_core::{Action, Execution, Grants, Outcome, Usage};
use cordon_storage::NewExecution;
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

/// What an invocation answers, over HTTP and (as structured content) over MCP.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InvokeResponse {
    /// The execution record's id (`GET /v1/executions/{id}`).
    pub execution_id: String,
    pub outcome: Outcome,
    /// The tool's JSON output (a tool of contract 0.2.0: its structured output); only when the
    /// outcome is `ok`, and absent when such a tool answered with content blocks alone.
    pub output: Option<serde_json::Value>,
    /// Content blocks (contract 0.2.0), as MCP gives them: `text`, `image` and `audio` (data
    /// as base64, with `mimeType`), `resource_link`, and `resource` (embedded text or a base64
    /// blob). Absent when there are none. The record's `output_sha256` covers them with the
    /// output (`{"content":[...],"output":...}` as compact JSON).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub content: Vec<cordon_core::Content>,
    /// Outcome `input_required`: what the tool asks, each under its key, as MCP requests
    /// (`{"method": "elicitation/create" | "sampling/createMessage" | "roots/list", "params"}`).
    /// Answer them and call again with the answers under the same keys and `request_state`
    /// (`POST /v1/tools/{name}/resume`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub input_requests: Option<std::collections::BTreeMap<String, serde_json::Value>>,
    /// Outcome `input_required`: the state to give back with the answers, sealed (neither
    /// readable nor changeable; bound to this caller, tool, version and input; 15 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_state: Option<String>,
    /// A one-line reason for every outcome other than `ok`.
    pub error: Option<String>,
    /// What the tool policy's `[output]` scan found (docs/detection.md): detector, kind, JSON
    /// path into this answer, count and risk (0 to 1), never the values. With `redact` each
    /// match is already replaced by `[REDACTED:kind]`; with `block` the outcome is `blocked`
    /// and there is no output. Absent when nothing was found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<cordon_core::Finding>,
    /// The answer's risk: its most likely finding's (0 to 1); absent when nothing was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<f64>,
    pub usage: Usage,
    /// This execution's receipt, signed with the server's log key: keep it to prove later
    /// what ran, on what input, under which policy, with what result
    /// (`cordon receipt verify`).
    pub receipt: ReceiptView,
}

/// A tool's `[access]` rules, each absent one allowing everyone: one of the caller's roles must
/// be listed in `roles`; the caller must be named in `keys` or `subjects` (when either is
/// given); its token must carry one of `groups`.
pub fn may_invoke(caller: &Caller, tool: &LiveTool) -> bool {
    let access = &tool.policy.access;
    let role_ok = access.roles.as_ref().is_none_or(|roles| {
        roles
            .iter()
            .any(|r| caller.roles.iter().any(|c| c.as_str() == r))
    });
    let named = access.keys.is_some() || access.subjects.is_some();
    let who_ok = !named
        || access.keys.iter().flatten().any(|k| caller.is_key(k))
        || access
            .subjects
            .iter()
            .flatten()
            .any(|s| caller.is_subject(s));
    let group_ok = access
        .groups
        .as_ref()
        .is_none_or(|groups| groups.iter().any(|g| caller.in_group(g)));
    role_ok && who_ok && group_ok
}

/// A call that passed every check and holds its in-flight permit and quota reservation.
pub struct Admitted {
    state: Arc<AppState>,
    caller: Caller,
    pub tool: Arc<LiveTool>,
    body: Bytes,
    transport: &'static str,
    /// The execution id it is recorded under, known from the start.
    pub id: String,
    started: i64,
    /// The grants to run with, or why the input is refused (nothing runs).
    input: Result<Grants, String>,
    /// The round this call answers, when it takes one up (`resume`).
    exchange: Option<cordon_storage::Exchange>,
    /// The hash of the decisions bundle that allowed the call, when one is in force.
    decision: Option<String>,
    reservation: Option<Reservation>,
    _permit: OwnedSemaphorePermit,
    _gauge: InFlightGauge,
}

impl std::fmt::Debug for Admitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admitted")
            .field("id", &self.id)
            .field("tool", &self.tool.record.name)
            .field("caller", &self.caller.id)
            .finish_non_exhaustive()
    }
}

/// Counts the call in the in-flight gauge until dropped.
#[derive(Debug)]
struct InFlightGauge;

impl InFlightGauge {
    fn new() -> Self {
        crate::metrics::in_flight(1);
        InFlightGauge
    }
}

impl Drop for InFlightGauge {
    fn drop(&mut self) {
        crate::metrics::in_flight(-1);
    }
}

/// What admission made of a call: it runs now, or it waits for a person's approval (stored,
/// under the execution id it will be recorded with).
// Not boxed: every call that runs takes the first variant, and a box would cost it an
// allocation; a held call is rare.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Admission {
    Run(Admitted),
    Held(Box<cordon_storage::ApprovalRow>),
}

/// How a call is judged by the operator's decisions.
enum Judge<'a> {
    /// Decided now; a call they hold for approval is held when `may_hold`, else refused.
    Decide { may_hold: bool },
    /// Approved after it was held: it runs under its held id, if the decisions in force are
    /// still the ones that held it.
    Approved(&'a cordon_storage::ApprovalRow),
}

/// Every check a call passes before it runs (see [`admit_or_hold`]). A call the operator's
/// decisions hold for approval is refused here (`approval_required`): the paths that take this
/// (answers to a tool's questions) continue a call already allowed.
pub async fn admit(
    state: &Arc<AppState>,
    caller: &Caller,
    name: &str,
    version: Option<&str>,
    body: Bytes,
    transport: &'static str,
) -> Result<Admitted, ApiError> {
    let judge = Judge::Decide { may_hold: false };
    match admit_with(state, caller, name, version, body, transport, judge).await? {
        Admission::Run(admitted) => Ok(admitted),
        Admission::Held(row) => Err(ApiError::internal(format!("{} held", row.id))),
    }
}

/// Every check a call passes, holding it for approval when the operator's decisions ask.
pub async fn admit_or_hold(
    state: &Arc<AppState>,
    caller: &Caller,
    name: &str,
    version: Option<&str>,
    body: Bytes,
    transport: &'static str,
) -> Result<Admission, ApiError> {
    let judge = Judge::Decide { may_hold: true };
    admit_with(state, caller, name, version, body, transport, judge).await
}

/// Admits a held call once approved: its tool version (the same component), its caller, its
/// input, under its held id.
pub async fn admit_approved(
    state: &Arc<AppState>,
    caller: &Caller,
    row: &cordon_storage::ApprovalRow,
) -> Result<Admitted, ApiError> {
    let body = Bytes::from(row.input.clone().into_bytes());
    let (name, version, transport) = (&row.tool, Some(row.version.as_str()), transport_of(row));
    match admit_with(
        state,
        caller,
        name,
        version,
        body,
        transport,
        Judge::Approved(row),
    )
    .await?
    {
        Admission::Run(admitted) => Ok(admitted),
        Admission::Held(row) => Err(ApiError::internal(format!("{} held again", row.id))),
    }
}

fn transport_of(row: &cordon_storage::ApprovalRow) -> &'static str {
    if row.transport == "mcp" {
        "mcp"
    } else {
        "http"
    }
}

/// Every check a call passes before it runs, in the order that tells a caller nothing it may
/// not know (the role before the tool's existence).
async fn admit_with(
    state: &Arc<AppState>,
    caller: &Caller,
    name: &str,
    version: Option<&str>,
    body: Bytes,
    transport: &'static str,
    judge: Judge<'_>,
) -> Result<Admission, ApiError> {
    // Published tools are compiled when they are published: admission always finds theirs.
    let span = crate::trace::Span::child("admit", || {
        vec![
            opentelemetry::KeyValue::new("gen_ai.tool.name", name.to_owned()),
            opentelemetry::KeyValue::new("cordon.compiled", "cached"),
        ]
    });
    let admitted = span
        .instrument(admit_checks(
            state, caller, name, version, body, transport, judge,
        ))
        .await;
    // The version admitted is on the call's own span (`execute_tool`).
    if let Err(e) = &admitted {
        span.set("error.type", e.code);
    }
    admitted
}

/// [`admit_with`]'s checks, in its span.
async fn admit_checks(
    state: &Arc<AppState>,
    caller: &Caller,
    name: &str,
    version: Option<&str>,
    body: Bytes,
    transport: &'static str,
    judge: Judge<'_>,
) -> Result<Admission, ApiError> {
    caller.require(Action::Invoke)?;
    let tool = state.find(name, version).ok_or_else(|| {
        ApiError::not_found(match version {
            Some(v) => format!("no tool {name} {v}"),
            None => format!("no tool {name}"),
        })
    })?;
    if let Some(reason) = state.quarantine_reason(name) {
        return Err(ApiError::new(
            StatusCode::LOCKED,
            "quarantined",
            format!("{name} is quarantined: {reason}"),
        ));
    }
    if !may_invoke(caller, &tool) {
        tracing::warn!(target: "cordon::security", tool = name, caller = caller.id, transport, "invoke refused by the tool's access policy");
        state.signal(
            crate::detect::rules::On::Denial,
            crate::detect::tally::Signal {
                tool: Some(name.to_owned()),
                caller: Some(caller.id.clone()),
                address: caller.address.map(|a| a.to_string()),
                execution: None,
            },
        );
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this caller may not invoke {name} (its policy's [access])"),
        ));
    }
    let decision = match judge {
        Judge::Decide { may_hold } => {
            use crate::decisions::enforce::Verdict;
            match state.decide_call(caller, &tool, &body, transport).await? {
                Verdict::Held { hash, approval, .. }
                    if cordon_host::input::check(&body, tool.validator.as_ref()).is_ok() =>
                {
                    if !may_hold {
                        return Err(ApiError::new(
                            StatusCode::FORBIDDEN,
                            "approval_required",
                            format!(
                                "the operator's decisions hold calls of {name} for a person's approval: call it with POST /v1/tools/{name}/invoke or MCP tools/call"
                            ),
                        ));
                    }
                    let row = state
                        .hold_call(caller, &tool, &body, transport, hash, approval)
                        .await?;
                    return Ok(Admission::Held(Box::new(row)));
                }
                // An input the tool would refuse is not worth an approver's time: it is
                // recorded `invalid_input`, and nothing runs.
                verdict => verdict.hash().map(str::to_owned),
            }
        }
        Judge::Approved(row) => {
            crate::decisions::enforce::still_in_force(state, &tool, row)?;
            Some(row.decision.clone())
        }
    };
    let Ok(permit) = state.in_flight.clone().try_acquire_owned() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "saturated",
            "too many executions in flight; retry shortly",
        )
        .retry_after(1));
    };
    let started = now_ms();
    let gauge = InFlightGauge::new();
    let (input, reservation) = match cordon_host::input::check(&body, tool.validator.as_ref()) {
        Err(message) => (Err(message), None),
        Ok(_) => {
            let grants = state.grants(&tool)?;
            // Counted against the caller's quotas (in the store, shared by every node) only
            // once the call will run: a refusal before here costs the caller nothing.
            let reservation = crate::callers::quota::reserve(
                &state.settings.quotas,
                &state.storage,
                caller,
                &tool,
                transport,
            )
            .await
            .inspect_err(|e| {
                if e.code == "quota_exceeded" {
                    state.signal(
                        crate::detect::rules::On::QuotaExceeded,
                        crate::detect::tally::Signal {
                            tool: Some(name.to_owned()),
                            caller: Some(caller.id.clone()),
                            address: caller.address.map(|a| a.to_string()),
                            execution: None,
                        },
                    );
                }
            })?;
            (Ok(grants), reservation)
        }
    };
    let id = match judge {
        Judge::Approved(row) => row.id.clone(),
        Judge::Decide { .. } => new_id(started)?,
    };
    Ok(Admission::Run(Admitted {
        state: state.clone(),
        caller: caller.clone(),
        tool,
        body,
        transport,
        id,
        started,
        input,
        exchange: None,
        decision,
        reservation,
        _permit: permit,
        _gauge: gauge,
    }))
}

impl Admitted {
    /// Narrows what the tool may ask to what the caller's client answers (an MCP client's
    /// declared capabilities; a REST caller answers anything).
    pub fn client_answers(&mut self, asking: cordon_core::Asking) {
        if let Ok(grants) = &mut self.input {
            grants.client_asking = asking;
        }
    }

    /// A request for what the client does not answer ends the round (a denial), rather than
    /// reaching the caller.
    pub fn client_must_answer(&mut self) {
        if let Ok(grants) = &mut self.input {
            grants.client_must_answer = true;
        }
    }

    /// Takes up the round `request_state` was sealed for: only a state this store made for
    /// this caller, tool, version and input, not expired, is taken; the answers to what that
    /// round asked reach the tool (others are ignored), with the tool's state. Answers without
    /// a state (a client answering before it was asked) reach the tool as they are, with no
    /// state: they say no more than the caller could say in its input.
    pub fn resume(
        &mut self,
        request_state: Option<&str>,
        responses: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), crate::calls::request_state::StateError> {
        let (follows, state, keys, sampled_tokens) = match request_state {
            Some(text) => {
                let input_sha256 = self.input_digest();
                let binding = self.binding(&input_sha256);
                let envelope = self.state.audit.states().open(text, &binding, now_ms())?;
                (
                    Some(envelope.follows),
                    envelope.state,
                    Some(envelope.keys),
                    envelope.sampled_tokens,
                )
            }
            None => (None, Vec::new(), None, 0),
        };
        let answered = responses
            .iter()
            .filter(|(key, _)| keys.as_ref().is_none_or(|k| k.contains(key)))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        self.exchange = Some(cordon_storage::Exchange {
            follows,
            answered_sha256: Some(sha256_hex(
                serde_json::Value::Object(responses.clone())
                    .to_string()
                    .as_bytes(),
            )),
            asked_sha256: None,
        });
        if let Ok(grants) = &mut self.input {
            grants.resume = Some(cordon_core::Resume {
                responses: answered,
                state,
                sampled_tokens,
            });
        }
        Ok(())
    }

    /// What a round's state is bound to: this caller, tool and version, and the input.
    fn binding<'a>(&'a self, input_sha256: &'a str) -> crate::calls::request_state::Binding<'a> {
        crate::calls::request_state::Binding {
            caller: &self.caller.id,
            tool: &self.tool.record.name,
            version: &self.tool.record.version,
            input_sha256,
        }
    }

    /// sha256 of the input as compact JSON with sorted keys: what a round's state is bound to,
    /// whatever spacing or key order the caller sends it in again.
    fn input_digest(&self) -> String {
        match serde_json::from_slice::<serde_json::Value>(&self.body) {
            Ok(value) => sha256_hex(value.to_string().as_bytes()),
            Err(_) => sha256_hex(&self.body),
        }
    }

    /// What a round that asked hands its caller: the requests as MCP carries them, and the
    /// state sealed for `ttl_ms`.
    fn asked(
        &self,
        asked: &cordon_core::InputRequired,
        ttl_ms: i64,
    ) -> Result<
        (
            std::collections::BTreeMap<String, serde_json::Value>,
            String,
        ),
        crate::calls::request_state::StateError,
    > {
        let requests = asked
            .requests
            .iter()
            .map(|(key, ask)| (key.clone(), ask.to_mcp()))
            .collect();
        let input_sha256 = self.input_digest();
        let binding = self.binding(&input_sha256);
        // The call's sampling so far: the rounds before, and this one's (checked by the sandbox
        // against the policy's per-call budget).
        let before = self
            .input
            .as_ref()
            .ok()
            .and_then(|g| g.resume.as_ref())
            .map_or(0, |r| r.sampled_tokens);
        let now: u64 = asked
            .requests
            .iter()
            .filter_map(|(_, ask)| match ask {
                cordon_core::Ask::Sample { params } => params["maxTokens"].as_u64(),
                _ => None,
            })
            .fold(0, u64::saturating_add);
        let envelope = crate::calls::request_state::Envelope {
            state: asked.state.clone(),
            follows: self.id.clone(),
            keys: asked.requests.iter().map(|(k, _)| k.clone()).collect(),
            expires_at_ms: now_ms().saturating_add(ttl_ms),
            sampled_tokens: before.saturating_add(now),
        };
        let sealed = self.state.audit.states().seal(&envelope, &binding)?;
        Ok((requests, sealed))
    }

    /// True when the input was refused: the call answers at once, nothing runs.
    pub fn is_refused(&self) -> bool {
        self.input.is_err()
    }

    /// Registers the call on this node, so it can be cancelled and followed from now on;
    /// `request` is the MCP request it answers (its JSON-RPC id as JSON, for
    /// `notifications/cancelled`); `extra` also receives its progress (an MCP request's
    /// notifications).
    pub fn register(
        &self,
        task: bool,
        request: Option<String>,
        listeners: crate::calls::running::Listeners,
    ) -> Registered {
        self.state.running.register(
            NewCall {
                id: &self.id,
                caller: &self.caller.id,
                tool: &self.tool.record.name,
                version: &self.tool.record.version,
                started_at_ms: self.started,
                task,
                request,
                messages: crate::calls::scan::Messages::of(&self.tool),
            },
            listeners,
        )
    }

    /// The record of this call with what it ended with.
    pub fn record(&self, exec: &Execution, finished_at_ms: i64) -> NewExecution {
        NewExecution {
            id: self.id.clone(),
            started_at_ms: self.started,
            finished_at_ms,
            caller: self.caller.id.clone(),
            transport: self.transport.into(),
            tool: self.tool.record.name.clone(),
            version: self.tool.record.version.clone(),
            digest: exec.digest.clone(),
            publisher: Some(self.tool.record.publisher.clone()),
            signer: exec.signer.clone(),
            policy_hash: self.tool.record.policy_hash.clone(),
            input_bytes: self.body.len() as u64,
            input_sha256: sha256_hex(&self.body),
            input: self
                .state
                .settings
                .store_inputs
                .then(|| String::from_utf8_lossy(&self.body).into_owned()),
            outcome: exec.outcome,
            error: exec.error.clone(),
            usage: exec.usage.clone(),
            caller_name: Some(self.caller.name.clone()),
            // The output exactly as the answer carries it (compact JSON), with its content
            // blocks when it has any.
            output_sha256: cordon_core::reply::answered(exec.output.as_ref(), &exec.content)
                .map(|text| sha256_hex(text.as_bytes())),
            exchange: self.exchange.clone(),
            decision: self.decision.clone(),
            findings: Vec::new(),
            trace_id: None,
            caller_certificate: self.caller.certificate().map(str::to_owned),
        }
    }

    /// What the record says if the node running the call stops or dies before it ends.
    pub fn interrupted(&self) -> Execution {
        Execution::refused(
            Outcome::Interrupted,
            "interrupted: the node running the call stopped before it ended".to_owned(),
            Usage {
                input_bytes: self.body.len() as u64,
                ..Usage::default()
            },
            self.tool.tool.digest().to_owned(),
            self.tool.tool.signer().map(str::to_owned),
        )
    }

    /// Starts the call as a task: stored (so every node can answer for it, with the record to
    /// append should its node die) before this returns, run in a task of its own, its lease and
    /// progress kept by [`crate::calls::tasks::follow`]. Returns the running call, its events from the
    /// start, and the run's handle.
    pub async fn start_task(
        self,
        request: Option<String>,
        listeners: crate::calls::running::Listeners,
    ) -> Result<
        (
            Arc<RunningCall>,
            broadcast::Receiver<CallEvent>,
            JoinHandle<Result<InvokeResponse, ApiError>>,
        ),
        ApiError,
    > {
        let state = self.state.clone();
        let registered = self.register(true, request, listeners);
        let call = registered.call.clone();
        self.store_task(&call).await?;
        // Both subscribed before the run starts, so neither misses its end.
        let events = call.subscribe();
        let followed = call.subscribe();
        let running = tokio::spawn(crate::trace::carry(self.run(registered)));
        tokio::spawn(crate::calls::tasks::follow(state, call.clone(), followed));
        Ok((call, events, running))
    }

    /// Stores `call` as a task (durable before this returns), with the record to append should
    /// its node die before it ends.
    async fn store_task(&self, call: &RunningCall) -> Result<(), ApiError> {
        let now = now_ms();
        let interrupted = serde_json::to_string(&self.record(&self.interrupted(), now))
            .map_err(ApiError::internal)?;
        let (id, caller, tool, version, node) = (
            call.id.clone(),
            call.caller.clone(),
            call.tool.clone(),
            call.version.clone(),
            self.state.settings.node_name.clone(),
        );
        let lease_until = now.saturating_add(crate::calls::tasks::LEASE.as_millis() as i64);
        self.state
            .task_writer
            .begin(crate::calls::task_writer::Starting {
                id,
                caller,
                tool,
                version,
                node,
                now_ms: now,
                lease_until_ms: lease_until,
                interrupted,
                // The span the call runs under (the request's, or a later round's): where
                // its later work joins it.
                trace: crate::trace::current_traceparent(),
            })
            .await
    }

    /// Runs the call under `registered` (from [`Admitted::register`]) and commits its record;
    /// the answer is also broadcast to whoever follows the call, and, for a task, stored for
    /// its caller.
    pub async fn run(self, registered: Registered) -> Result<InvokeResponse, ApiError> {
        let call = registered.call.clone();
        // A synchronous call that can act outside the sandbox: a durable trace first.
        let guarded = !call.task && self.input.is_ok() && self.tool.acts_outside();
        if guarded {
            self.store_task(&call).await?;
            let followed = call.subscribe();
            tokio::spawn(crate::calls::tasks::follow(
                self.state.clone(),
                call.clone(),
                followed,
            ));
        }
        // The trace the call's spans are exported in, for its record.
        let mut trace_id = None;
        let mut exec = match &self.input {
            Err(message) => refuse(&self.tool, &self.body, message.clone()),
            Ok(grants) => {
                // The sandboxed call (GenAI's `execute_tool`): what it used, how it ended.
                let span = crate::trace::Span::child(
                    format!("execute_tool {}", self.tool.record.name),
                    || {
                        use opentelemetry::KeyValue;
                        vec![
                            KeyValue::new("gen_ai.operation.name", "execute_tool"),
                            KeyValue::new("gen_ai.tool.name", self.tool.record.name.clone()),
                            KeyValue::new("cordon.tool.version", self.tool.record.version.clone()),
                            KeyValue::new("cordon.execution_id", self.id.clone()),
                        ]
                    },
                );
                // Validated UTF-8 by `admit`.
                let text = std::str::from_utf8(&self.body).unwrap_or_default();
                let exec = span
                    .instrument(self.state.sandbox.call_with(
                        &self.tool.tool,
                        text,
                        grants,
                        &call.control,
                    ))
                    .await;
                let mut exec = exec;
                if span.is_on() {
                    span.set("cordon.outcome", exec.outcome.as_str());
                    // Integers as OTLP carries them (signed 64-bit).
                    span.set(
                        "cordon.fuel",
                        i64::try_from(exec.usage.fuel_consumed).unwrap_or(i64::MAX),
                    );
                    span.set(
                        "cordon.memory_bytes",
                        i64::try_from(exec.usage.peak_memory_bytes).unwrap_or(i64::MAX),
                    );
                    if exec.outcome != Outcome::Ok && exec.outcome != Outcome::InputRequired {
                        span.fail(exec.outcome.as_str());
                    }
                    trace_id = span.sampled_trace_id();
                }
                span.end();
                if exec.outcome == Outcome::Cancelled
                    && call.control.cancelled_by() == Some(NODE_STOP)
                {
                    exec.outcome = Outcome::Interrupted;
                    exec.error = Some(format!("interrupted by {NODE_STOP}"));
                }
                exec
            }
        };
        // The policy's output scan, before anything is recorded or answered.
        let said = call
            .messages
            .as_ref()
            .map(|m| m.findings())
            .unwrap_or_default();
        let findings = crate::calls::scan::answer(&self.tool.policy, &mut exec, said);
        let mut record = self.record(&exec, now_ms());
        record.findings = findings.clone();
        record.trace_id = trace_id;
        // A round that asked: its requests as the answer carries them, and its sealed state.
        let (input_requests, request_state) = match &exec.input_required {
            Some(asked) => {
                // A task keeps its round's state itself and is answered through `tasks/update`
                // for as long as it is kept: its state lasts as long.
                let ttl_ms = if call.task {
                    crate::calls::request_state::STATE_TTL_MS
                        .max(self.state.settings.async_result_ttl.as_millis() as i64)
                } else {
                    crate::calls::request_state::STATE_TTL_MS
                };
                let (requests, sealed) = self.asked(asked, ttl_ms).map_err(ApiError::internal)?;
                (Some(requests), Some(sealed))
            }
            None => (None, None),
        };
        let asked_sha256 = input_requests
            .as_ref()
            .map(|r| sha256_hex(serde_json::to_string(r).unwrap_or_default().as_bytes()));
        if self.exchange.is_some() || asked_sha256.is_some() {
            let mut exchange = self.exchange.clone().unwrap_or_default();
            exchange.asked_sha256 = asked_sha256;
            record.exchange = Some(exchange);
        }
        if (call.task || guarded) && !crate::calls::tasks::still_ours(&self.state, &self.id).await {
            // Another node found the task abandoned (this one lost the store for longer than
            // the lease) and recorded it `interrupted`: one record per execution, so this run's
            // is not appended.
            tracing::error!(target: "cordon::admin", execution_id = self.id, outcome = exec.outcome.as_str(), "a task ended after another node recorded it interrupted; its own ending is not recorded");
            return Err(ApiError::internal(
                "the task was recorded interrupted by another node",
            ));
        }
        // Durable before the answer: the journal commits it (fsync, shared with whatever else
        // is waiting) and only then returns. The quota counters are settled beside the
        // commit, not after it.
        let fuel = exec.usage.fuel_consumed;
        let Admitted {
            state,
            tool,
            id,
            reservation,
            body,
            caller,
            ..
        } = self;
        let settle = async {
            if let Some(r) = reservation {
                r.finish(fuel).await;
            }
        };
        // The durable record: waiting for the group commit that holds it.
        let span = crate::trace::Span::child("record", || {
            vec![opentelemetry::KeyValue::new(
                "cordon.execution_id",
                id.clone(),
            )]
        });
        // Nothing is nested in this span: it need not be attached while the commit is awaited.
        let (committed, ()) = tokio::join!(state.journal.append(record), settle);
        span.end();
        let committed = committed?;
        signals(&state, &tool, &caller, &id, &exec, &findings);
        let receipt = state.audit.receipt(committed).map_err(ApiError::internal)?;
        crate::metrics::execution(&tool.record.name, &exec);
        let answer = InvokeResponse {
            execution_id: id,
            outcome: exec.outcome,
            output: exec.output,
            content: exec.content,
            input_requests,
            request_state,
            error: exec.error,
            risk: (!findings.is_empty()).then(|| cordon_scan::risk(&findings)),
            findings,
            usage: exec.usage,
            receipt,
        };
        let json = serde_json::to_value(&answer).map_err(ApiError::internal)?;
        if call.task {
            // A task whose round asked keeps its input, to run again once answered.
            let waiting = exec.input_required.as_ref().and_then(|asked| {
                serde_json::to_string(&cordon_storage::Waiting {
                    input: String::from_utf8_lossy(&body).into_owned(),
                    keys: asked.requests.iter().map(|(k, _)| k.clone()).collect(),
                    answers: serde_json::Map::new(),
                })
                .ok()
            });
            crate::calls::tasks::finish(&state, &call, answer.outcome, &json, waiting).await;
        } else if guarded {
            crate::calls::tasks::finish_guarded(&state, &answer.execution_id, answer.outcome).await;
        }
        call.done(json);
        drop(registered);
        Ok(answer)
    }
}

/// What a recorded call tells the detection rules: an operation its policy refused inside the
/// sandbox (a denial), findings in its output, a failure of the tool.
fn signals(
    state: &Arc<AppState>,
    tool: &LiveTool,
    caller: &Caller,
    id: &str,
    exec: &Execution,
    findings: &[cordon_core::Finding],
) {
    use crate::detect::rules::On;
    let signal = || crate::detect::tally::Signal {
        tool: Some(tool.record.name.clone()),
        caller: Some(caller.id.clone()),
        address: caller.address.map(|a| a.to_string()),
        execution: Some(id.to_owned()),
    };
    if !exec.usage.denials.is_empty() {
        state.signal(On::Denial, signal());
    }
    if !findings.is_empty() {
        state.signal(On::OutputFinding, signal());
    }
    if exec.outcome.is_limit_kill() || matches!(exec.outcome, Outcome::ToolError | Outcome::Trap) {
        state.signal(On::ToolFailure, signal());
    }
}

fn refuse(tool: &LiveTool, input: &[u8], message: String) -> Execution {
    Execution::refused(
        Outcome::InvalidInput,
        message,
        Usage {
            input_bytes: input.len() as u64,
            ..Usage::default()
        },
        tool.tool.digest().to_owned(),
        tool.tool.signer().map(str::to_owned),
    )
}

/// `ex_` and 12 bytes in hex: the start time in milliseconds (6 bytes, big-endian), then 6
/// random bytes. Ids of one node grow with time, so each new record's entry in the log's id index
/// lands beside the last one (one page per commit) instead of on a random page of it (one page
/// per record); two calls of one millisecond still differ in 48 random bits. Nothing is granted
/// by knowing an id: reading a record, or a call's answer, takes a role that may read
/// executions or being the caller who started it.
pub(crate) fn new_id(started_ms: i64) -> Result<String, ApiError> {
    let mut bytes = [0u8; 12];
    bytes[..6].copy_from_slice(&started_ms.to_be_bytes()[2..]);
    getrandom::fill(&mut bytes[6..]).map_err(ApiError::internal)?;
    Ok(format!("ex_{}", hex::encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_grow_with_time_and_differ_within_a_millisecond() {
        let (a, b) = (
            new_id(1_700_000_000_000).unwrap(),
            new_id(1_700_000_000_000).unwrap(),
        );
        let later = new_id(1_700_000_000_001).unwrap();
        assert!(a.starts_with("ex_018bcfe56800") && a.len() == 27, "{a}");
        assert_ne!(a, b);
        assert!(later > a && later > b, "{a} {b} {later}");
    }
}
