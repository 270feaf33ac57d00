//! One call: a fresh store and instance under the call's limits, the export invoked, and the
//! ending classified into exactly one [`Outcome`] with a usage report.
//!
//! The deadline is enforced twice: the epoch callback stops a guest that computes past it, and a
//! tokio timeout drops the call when the guest is blocked in a host call (a sleep, a request).

use crate::control::CallControl;
use crate::error::DescribeError;
use crate::host::HostState;
use crate::reply::{Answer, Described, GuestError};
use crate::sandbox::{Pre, Sandbox, Tool};
use cordon_core::{Execution, Grants, Limits, Outcome, Toolbox, Usage, redact};
use std::time::{Duration, Instant};
use wasmtime::{Store, Trap, UpdateDeadline};

/// Most bytes of the guest's stderr quoted in a trap's error message (a panic message).
const STDERR_IN_ERROR: usize = 512;

/// Fuel units between two write-backs of the guest's fuel counter (and yields to the runtime):
/// about a millisecond of guest execution. The usage of a call cut mid-execution (timeout) is
/// exact to within this many units; the cost is one fiber switch per slice, well under 1 %.
const FUEL_SLICE: u64 = 1_000_000;

/// Which export to call.
enum Export<'a> {
    Describe,
    /// `call` of tool `name` (ignored by a component of contract 0.1.0, which has one).
    Call {
        name: &'a str,
        input: &'a str,
    },
}

/// What the export returned, when it returned.
enum Returned {
    Described(Described),
    Call(Result<Answer, GuestError>),
}

/// Raised by the epoch callback when the wall-clock deadline has passed.
#[derive(Debug, thiserror::Error)]
#[error("deadline exceeded")]
struct DeadlineExceeded;

/// Raised by the epoch callback when the call was cancelled.
#[derive(Debug, thiserror::Error)]
#[error("cancelled")]
struct CancelRequested;

/// What a finished run left behind, before it is turned into an [`Execution`].
struct Run {
    result: Result<Returned, Outcome>,
    error: Option<String>,
    usage: Usage,
    stdout: String,
    stderr: String,
}

impl Sandbox {
    /// Calls the component's `call` export for its tool [`Tool::name`] with `input` under
    /// `grants`. Never fails: every ending,
    /// including host faults, is an [`Outcome`].
    pub async fn call(&self, tool: &Tool, input: &str, grants: &Grants) -> Execution {
        self.call_with(tool, input, grants, &CallControl::new())
            .await
    }

    /// [`Sandbox::call`] under `control`: cancelling it stops the guest (within one epoch tick
    /// when it computes, at once when it waits in a host call) and ends the call as
    /// [`Outcome::Cancelled`] with the usage until then; its progress reports go to the
    /// control's sink.
    pub async fn call_with(
        &self,
        tool: &Tool,
        input: &str,
        grants: &Grants,
        control: &CallControl,
    ) -> Execution {
        let limits = &grants.limits;
        let input_bytes = input.len() as u64;
        let refused = |error: String| {
            let usage = Usage {
                input_bytes,
                ..Usage::default()
            };
            Execution::refused(
                Outcome::InvalidInput,
                error,
                usage,
                tool.digest().to_owned(),
                tool.signer().map(str::to_owned),
            )
        };
        if input_bytes > limits.max_input_bytes {
            return refused(format!(
                "input is {input_bytes} bytes, over the limit of {}",
                limits.max_input_bytes
            ));
        }
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(input) {
            return refused(format!("input is not valid JSON: {e}"));
        }
        // Cancelled before it started (while it queued): it never runs.
        if control.is_cancelled() {
            let usage = Usage {
                input_bytes,
                ..Usage::default()
            };
            return Execution::refused(
                Outcome::Cancelled,
                cancelled_message(control),
                usage,
                tool.digest().to_owned(),
                tool.signer().map(str::to_owned),
            );
        }
        let name = tool.name();
        let run = self
            .run(tool, grants, Export::Call { name, input }, control)
            .await;
        let exec = finish_call(run, grants, tool);
        log_execution(tool, "call", &exec);
        exec
    }

    /// Calls the component's `describe` export under `limits`, with no other capability, and
    /// checks what it returns: a toolbox of one tool (contract 0.1.0) or more, each with JSON
    /// schemas and a name no other of its tools has.
    pub async fn describe(&self, tool: &Tool, limits: &Limits) -> Result<Toolbox, DescribeError> {
        let grants = Grants::with_limits(limits.clone());
        let run = self
            .run(tool, &grants, Export::Describe, &CallControl::new())
            .await;
        let described = match run.result {
            Ok(Returned::Described(d)) => d,
            Ok(Returned::Call(_)) => {
                return Err(DescribeError::Invalid(
                    "describe() answered like call()".to_owned(),
                ));
            }
            Err(outcome) => {
                let exec = Execution {
                    outcome,
                    digest: tool.digest().to_owned(),
                    signer: tool.signer().map(str::to_owned),
                    output: None,
                    content: Vec::new(),
                    input_required: None,
                    error: run.error,
                    usage: run.usage,
                    stdout: run.stdout,
                    stderr: run.stderr,
                };
                log_execution(tool, "describe", &exec);
                return Err(DescribeError::Failed(Box::new(exec)));
            }
        };
        crate::reply::toolbox(described)
    }

    async fn run(
        &self,
        tool: &Tool,
        grants: &Grants,
        export: Export<'_>,
        control: &CallControl,
    ) -> Run {
        // The epoch advances while this call runs (deadlines, yields).
        let _ticking = self.ticker.running();
        let limits = &grants.limits;
        let start = Instant::now();
        let deadline = start + Duration::from_millis(limits.timeout_ms);
        let state = match HostState::new(grants, &self.resolver, &self.tls, deadline, control) {
            Ok(state) => state,
            Err(e) => return host_fault(format!("cannot prepare the call: {e}")),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        if let Err(e) = store.set_fuel(limits.fuel) {
            return host_fault(format!("cannot set fuel: {e}"));
        }
        store.set_epoch_deadline(1);
        // Compiled code keeps its fuel counter in a register and writes it back only at calls
        // and when a fuel slice runs out, not at the epoch check that ends a timed-out call. A
        // slice of FUEL_SLICE units makes it write back (and yield) that often, so the usage of
        // a call cut by its deadline is exact to within one slice.
        if let Err(e) = store.fuel_async_yield_interval(Some(FUEL_SLICE)) {
            return host_fault(format!("cannot set the fuel slice: {e}"));
        }
        let cancel = control.token().clone();
        store.epoch_deadline_callback(move |_| {
            if cancel.is_cancelled() {
                Err(CancelRequested.into())
            } else if Instant::now() >= deadline {
                Err(DeadlineExceeded.into())
            } else {
                // Yield to the async runtime at every tick so a CPU-bound guest never starves
                // other calls on the same worker thread.
                Ok(UpdateDeadline::Yield(1))
            }
        });

        let call = async {
            match tool.pre() {
                Pre::V01(pre) => {
                    let toolbox = pre.instantiate_async(&mut store).await?;
                    let guest = toolbox.cordon_tool_tool();
                    match export {
                        Export::Describe => guest
                            .call_describe(&mut store)
                            .await
                            .map(|i| Returned::Described(Described::V01(i))),
                        Export::Call { input, .. } => guest
                            .call_call(&mut store, input)
                            .await
                            .map(|r| Returned::Call(crate::reply::from_v01(r))),
                    }
                }
                Pre::V02(pre) => {
                    let toolbox = pre.instantiate_async(&mut store).await?;
                    let guest = toolbox.cordon_tool_tool();
                    match export {
                        Export::Describe => guest
                            .call_describe(&mut store)
                            .await
                            .map(|t| Returned::Described(Described::V02(t))),
                        Export::Call { name, input } => guest
                            .call_call(&mut store, name, input, &crate::reply::context(grants))
                            .await
                            .map(|r| Returned::Call(crate::reply::from_v02(r))),
                    }
                }
            }
        };
        // A guest waiting in a host call never reaches an epoch check: the deadline and a
        // cancellation also end the call from outside, dropping it where it waits. A call that
        // has already finished keeps its result (`biased`: it is polled first).
        let ended = tokio::select! {
            biased;
            ended = tokio::time::timeout_at(deadline.into(), call) => ended.map_err(|_| Stop::Deadline),
            () = control.token().cancelled() => Err(Stop::Cancelled),
        };
        let wall_time = start.elapsed();

        let fuel_left = store.get_fuel().unwrap_or(0);
        let state = store.data();
        let (stdout, stdout_bytes, stdout_truncated) = state.stdout.finish();
        let (stderr, stderr_bytes, stderr_truncated) = state.stderr.finish();
        let net = std::mem::take(
            &mut *state
                .net_log
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let usage = Usage {
            fuel_consumed: limits.fuel.saturating_sub(fuel_left),
            peak_memory_bytes: state.limiter.peak_memory as u64,
            wall_time_us: u64::try_from(wall_time.as_micros()).unwrap_or(u64::MAX),
            input_bytes: match export {
                Export::Call { input, .. } => input.len() as u64,
                Export::Describe => 0,
            },
            output_bytes: 0,
            stdout_bytes,
            stderr_bytes,
            stdout_truncated,
            stderr_truncated,
            http_requests: net.requests,
            denials: net.denials,
            credentials: net.credentials,
            progress_reports: state.progress.reports,
            log_messages: state.logs.messages,
        };
        let (result, error) = match ended {
            Ok(Ok(returned)) => (Ok(returned), None),
            Ok(Err(e)) if e.is::<CancelRequested>() => {
                (Err(Outcome::Cancelled), Some(cancelled_message(control)))
            }
            Ok(Err(e)) => {
                let (outcome, message) =
                    classify(&e, state.limiter.refused, limits, fuel_left, &stderr);
                (Err(outcome), Some(message))
            }
            Err(Stop::Deadline) => (Err(Outcome::Timeout), Some(timeout_message(limits))),
            Err(Stop::Cancelled) => (Err(Outcome::Cancelled), Some(cancelled_message(control))),
        };
        Run {
            result,
            error,
            usage,
            stdout,
            stderr,
        }
    }
}

/// Turns a failed run into an outcome and a one-line reason. Order matters: a limit the host
/// enforced wins over the trap it caused.
fn classify(
    e: &wasmtime::Error,
    memory_refused: bool,
    limits: &Limits,
    fuel_left: u64,
    stderr: &str,
) -> (Outcome, String) {
    if e.is::<DeadlineExceeded>() {
        return (Outcome::Timeout, timeout_message(limits));
    }
    let trap = e.downcast_ref::<Trap>().copied();
    if trap == Some(Trap::OutOfFuel) || (trap.is_some() && fuel_left == 0) {
        return (
            Outcome::FuelExhausted,
            format!("fuel exhausted after {} units", limits.fuel),
        );
    }
    if trap == Some(Trap::Interrupt) {
        return (Outcome::Timeout, timeout_message(limits));
    }
    if memory_refused {
        return (
            Outcome::MemoryExceeded,
            format!("memory limit of {} bytes exceeded", limits.memory_bytes),
        );
    }
    if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return (Outcome::Trap, format!("tool exited with status {}", exit.0));
    }
    if let Some(trap) = trap {
        let mut message = trap.to_string();
        let tail = last_line(stderr);
        if !tail.is_empty() {
            message.push_str("; stderr: ");
            message.push_str(tail);
        }
        return (Outcome::Trap, message);
    }
    tracing::error!(error = format!("{e:#}"), "host fault during a call");
    (Outcome::HostError, "host error".to_owned())
}

/// Why a call was ended from outside while it waited.
enum Stop {
    Deadline,
    Cancelled,
}

fn cancelled_message(control: &CallControl) -> String {
    match control.cancelled_by() {
        Some(by) => format!("cancelled by {by}"),
        None => "cancelled".to_owned(),
    }
}

fn timeout_message(limits: &Limits) -> String {
    format!("timeout after {} ms", limits.timeout_ms)
}

/// The last meaningful line of the guest's stderr (for a Rust panic: its message, not the
/// `note: run with RUST_BACKTRACE` hint), at most [`STDERR_IN_ERROR`] bytes.
fn last_line(stderr: &str) -> &str {
    let line = stderr
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("note: "))
        .unwrap_or("");
    let mut end = line.len().min(STDERR_IN_ERROR);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    &line[..end]
}

fn host_fault(error: String) -> Run {
    tracing::error!(error, "host fault before a call");
    Run {
        result: Err(Outcome::HostError),
        error: Some("host error".to_owned()),
        usage: Usage::default(),
        stdout: String::new(),
        stderr: String::new(),
    }
}

/// Checks what `call` returned against the output limit and the JSON promise.
fn finish_call(run: Run, grants: &Grants, tool: &Tool) -> Execution {
    let limits = &grants.limits;
    let Run {
        result,
        error,
        mut usage,
        stdout,
        stderr,
    } = run;
    // Secret values never leave the host: anything the guest produced is redacted.
    let secrets = &grants.secrets;
    let scrub = |text: String| {
        if secrets.is_empty() {
            text
        } else {
            redact(&text, secrets)
        }
    };
    let execution = |outcome,
                     output: Option<serde_json::Value>,
                     content: Vec<cordon_core::Content>,
                     error: Option<String>,
                     mut usage: Usage,
                     stdout: String,
                     stderr: String| {
        for d in &mut usage.denials {
            d.target = scrub(std::mem::take(&mut d.target));
            d.reason = scrub(std::mem::take(&mut d.reason));
        }
        Execution {
            outcome,
            digest: tool.digest().to_owned(),
            signer: tool.signer().map(str::to_owned),
            output,
            content,
            input_required: None,
            error: error.map(scrub),
            usage,
            stdout: scrub(stdout),
            stderr: scrub(stderr),
        }
    };
    let returned = match result {
        Ok(Returned::Call(r)) => r,
        Ok(Returned::Described(_)) => {
            return execution(
                Outcome::HostError,
                None,
                Vec::new(),
                Some("call() answered like describe()".to_owned()),
                usage,
                stdout,
                stderr,
            );
        }
        Err(outcome) => return execution(outcome, None, Vec::new(), error, usage, stdout, stderr),
    };
    // A refusal's message is the guest's output too, and bounded like it.
    let (structured, blocks) = match returned {
        Ok(Answer::Complete {
            structured,
            content,
        }) => (structured, content),
        Ok(Answer::InputRequired(asked)) => {
            return input_required(asked, grants, usage, |outcome, input, error, usage| {
                let mut exec = execution(outcome, None, Vec::new(), error, usage, stdout, stderr);
                exec.input_required = input;
                exec
            });
        }
        Err(refusal) => {
            let (outcome, message) = match refusal {
                GuestError::InvalidInput(m) => (Outcome::InvalidInput, m),
                GuestError::Failed(m) => (Outcome::ToolError, m),
            };
            usage.output_bytes = message.len() as u64;
            let (outcome, error) = if usage.output_bytes > limits.max_output_bytes {
                (Outcome::OutputTooLarge, too_large(&usage, limits))
            } else {
                (outcome, message)
            };
            return execution(
                outcome,
                None,
                Vec::new(),
                Some(error),
                usage,
                stdout,
                stderr,
            );
        }
    };
    // Every byte the caller would receive counts: the structured JSON, and the content blocks
    // as the answer carries them (binary data as base64).
    let content = crate::reply::content(blocks);
    let content_bytes = if content.is_empty() {
        0
    } else {
        serde_json::to_string(&content).map_or(u64::MAX, |t| t.len() as u64)
    };
    usage.output_bytes = structured
        .as_ref()
        .map_or(0, |s| s.len() as u64)
        .saturating_add(content_bytes);
    if usage.output_bytes > limits.max_output_bytes {
        let error = too_large(&usage, limits);
        return execution(
            Outcome::OutputTooLarge,
            None,
            Vec::new(),
            Some(error),
            usage,
            stdout,
            stderr,
        );
    }
    let output = match structured
        .map(|s| serde_json::from_str(&scrub(s)))
        .transpose()
    {
        Ok(output) => output,
        Err(e) => {
            return execution(
                Outcome::ToolError,
                None,
                Vec::new(),
                Some(format!("tool returned output that is not valid JSON: {e}")),
                usage,
                stdout,
                stderr,
            );
        }
    };
    let content = content
        .into_iter()
        .map(|mut block| {
            if !secrets.is_empty() {
                for text in block.texts_mut() {
                    *text = redact(text, secrets);
                }
            }
            block
        })
        .collect();
    execution(Outcome::Ok, output, content, None, usage, stdout, stderr)
}

/// A round that ended asking: the requests checked for shape, against the policy (a refused
/// one is a denial and ends the call as a tool error), and with the state against the output
/// limit.
fn input_required(
    asked: crate::bindings::v02::cordon::tool::types::InputRequired,
    grants: &Grants,
    mut usage: Usage,
    execution: impl FnOnce(
        Outcome,
        Option<cordon_core::InputRequired>,
        Option<String>,
        Usage,
    ) -> Execution,
) -> Execution {
    let mut asked = match crate::reply::asked(asked) {
        Ok(asked) => asked,
        Err(e) => return execution(Outcome::ToolError, None, Some(e), usage),
    };
    // Secret values never leave the host, in what a user is shown either.
    if !grants.secrets.is_empty() {
        for (_, ask) in &mut asked.requests {
            let text = serde_json::to_string(&*ask).unwrap_or_default();
            match serde_json::from_str(&redact(&text, &grants.secrets)) {
                Ok(clean) => *ask = clean,
                // Redaction broke its JSON: nothing of it leaves.
                Err(_) => {
                    let error = "the tool's request for input held a secret value and could not be redacted";
                    return execution(Outcome::ToolError, None, Some(error.to_owned()), usage);
                }
            }
        }
    }
    let asks: Vec<&cordon_core::Ask> = asked.requests.iter().map(|(_, a)| a).collect();
    let sampled = grants.resume.as_ref().map_or(0, |r| r.sampled_tokens);
    let unanswerable = asks
        .iter()
        .find(|a| grants.client_must_answer && !grants.client_asking.allows(a))
        .map(|a| {
            format!(
                "the tool asked for {}, which the caller's client did not declare it answers",
                a.to_mcp()["method"].as_str().unwrap_or("?")
            )
        });
    if let Some(reason) = unanswerable.or_else(|| grants.ask.check(&asks, sampled).err()) {
        usage.denials.push(cordon_core::Denial {
            kind: cordon_core::DenialKind::Ask,
            target: asks
                .iter()
                .map(|a| a.to_mcp()["method"].as_str().unwrap_or("?").to_owned())
                .collect::<Vec<_>>()
                .join(", "),
            reason: reason.clone(),
        });
        return execution(Outcome::ToolError, None, Some(reason), usage);
    }
    // What leaves counts like output: the requests as MCP carries them, and the state.
    let requests_bytes = asks
        .iter()
        .map(|a| a.to_mcp().to_string().len() as u64)
        .sum::<u64>();
    usage.output_bytes = requests_bytes.saturating_add(asked.state.len() as u64);
    if usage.output_bytes > grants.limits.max_output_bytes {
        let error = too_large(&usage, &grants.limits);
        return execution(Outcome::OutputTooLarge, None, Some(error), usage);
    }
    execution(Outcome::InputRequired, Some(asked), None, usage)
}

/// Why output over the limit (its size already in `usage`) was refused.
fn too_large(usage: &Usage, limits: &Limits) -> String {
    format!(
        "output of {} bytes exceeds the limit of {}",
        usage.output_bytes, limits.max_output_bytes
    )
}

/// The one structured event every execution emits. Callers add who/what through the span they
/// run the call in (tool name, execution id, caller).
fn log_execution(tool: &Tool, export: &'static str, exec: &Execution) {
    let u = &exec.usage;
    tracing::info!(
        target: "cordon::execution",
        digest = tool.digest(),
        signer = tool.signer(),
        export,
        outcome = exec.outcome.as_str(),
        error = exec.error.as_deref(),
        fuel_consumed = u.fuel_consumed,
        peak_memory_bytes = u.peak_memory_bytes,
        wall_time_us = u.wall_time_us,
        input_bytes = u.input_bytes,
        output_bytes = u.output_bytes,
        stdout_bytes = u.stdout_bytes,
        stderr_bytes = u.stderr_bytes,
        stdout_truncated = u.stdout_truncated,
        stderr_truncated = u.stderr_truncated,
        "execution"
    );
}
