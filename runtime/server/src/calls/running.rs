//! The calls running on this node: each one's [`CallControl`] (to cancel it), its newest
//! progress, and a channel its progress and final answer are broadcast on (server-sent events,
//! MCP progress notifications). A call is here from just before its sandbox call starts until
//! its record is committed.
//!
//! Calls started asynchronously are also tasks in the store (`tasks.rs`), which is what other
//! nodes read; this registry is what stops a call on the node that runs it.

use cordon_core::{LogLevel, Progress};
use cordon_sandbox::{CallControl, LogSink, ProgressSink};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::broadcast;

/// What the node's stop cancels calls with: such a call ends `interrupted`, not `cancelled`.
pub const NODE_STOP: &str = "the node's shutdown";

/// Events a running call broadcasts.
#[derive(Debug, Clone)]
pub enum CallEvent {
    Progress(Progress),
    /// The answer, as JSON (the invoke answer), once the record is committed.
    Done(Arc<serde_json::Value>),
}

/// Events kept for a slow subscriber; one that falls further behind skips to the newest
/// (progress reports carry the whole state, so nothing is lost but intermediate figures).
const EVENT_BACKLOG: usize = 64;

/// One running call.
#[derive(Debug)]
pub struct RunningCall {
    pub id: String,
    /// Who started it (`Caller::id`).
    pub caller: String,
    pub tool: String,
    pub version: String,
    pub started_at_ms: i64,
    /// Whether it is a task in the store (started asynchronously).
    pub task: bool,
    /// The MCP request it answers (its JSON-RPC id, as JSON), for `notifications/cancelled`.
    pub request: Option<String>,
    /// The scan of its progress and log messages, when its policy scans.
    pub messages: Option<Arc<crate::calls::scan::Messages>>,
    pub control: CallControl,
    last: Mutex<Option<Progress>>,
    events: broadcast::Sender<CallEvent>,
}

impl RunningCall {
    /// The newest progress it reported.
    pub fn progress(&self) -> Option<Progress> {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Its events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<CallEvent> {
        self.events.subscribe()
    }

    /// Broadcasts the answer (subscribers end with it).
    pub fn done(&self, answer: serde_json::Value) {
        let _ = self.events.send(CallEvent::Done(Arc::new(answer)));
    }
}

/// The registry.
#[derive(Debug, Default)]
pub struct Running {
    calls: Mutex<HashMap<String, Arc<RunningCall>>>,
    stopping: AtomicBool,
}

/// What a new call is registered with.
#[derive(Debug)]
pub struct NewCall<'a> {
    pub id: &'a str,
    pub caller: &'a str,
    pub tool: &'a str,
    pub version: &'a str,
    pub started_at_ms: i64,
    pub task: bool,
    /// The MCP request it answers (its JSON-RPC id, as JSON).
    pub request: Option<String>,
    /// The policy's scan of its progress and log messages, when it scans (`scan.rs`).
    pub messages: Option<Arc<crate::calls::scan::Messages>>,
}

/// Who hears a call as it runs besides its own events: an MCP request's progress and log
/// notifications.
#[derive(Clone, Default)]
pub struct Listeners {
    /// Receives every forwarded progress report.
    pub progress: Option<ProgressSink>,
    /// Receives the log messages at this level or more severe (none without: no one asked).
    pub logs: Option<(LogLevel, LogSink)>,
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listeners")
            .field("progress", &self.progress.is_some())
            .field("logs", &self.logs.as_ref().map(|(level, _)| level))
            .finish()
    }
}

impl Running {
    /// Registers a call. Its control sends every forwarded progress report here; `listeners`
    /// receive them too, and the log messages they asked for. Unregistered when the returned
    /// guard drops.
    pub fn register(self: &Arc<Self>, call: NewCall<'_>, listeners: Listeners) -> Registered {
        let Listeners {
            progress: extra,
            logs,
        } = listeners;
        let (events, _) = broadcast::channel(EVENT_BACKLOG);
        let scan = call.messages.clone();
        let control = match (logs, scan.clone()) {
            (Some((least, sink)), None) => CallControl::new().with_logs(least, sink),
            (Some((least, sink)), Some(scan)) => CallControl::new().with_logs(
                least,
                Arc::new(move |m: &cordon_core::LogMessage| {
                    if let Some(passed) = scan.log(m) {
                        sink(&passed);
                    }
                }),
            ),
            (None, _) => CallControl::new(),
        };
        let entry = Arc::new_cyclic(|weak: &std::sync::Weak<RunningCall>| {
            let weak = weak.clone();
            let control = control.with_progress(Arc::new(move |p: &Progress| {
                let scanned = scan.as_ref().map(|s| s.progress(p));
                let p = scanned.as_ref().unwrap_or(p);
                if let Some(call) = weak.upgrade() {
                    *call.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(p.clone());
                    let _ = call.events.send(CallEvent::Progress(p.clone()));
                }
                if let Some(extra) = &extra {
                    extra(p);
                }
            }));
            RunningCall {
                id: call.id.to_owned(),
                caller: call.caller.to_owned(),
                tool: call.tool.to_owned(),
                version: call.version.to_owned(),
                started_at_ms: call.started_at_ms,
                task: call.task,
                request: call.request,
                messages: call.messages.clone(),
                control,
                last: Mutex::new(None),
                events,
            }
        });
        {
            // Checked under the map's lock, as `interrupt_all` sets it: a call registering
            // while the node stops is either in the map it walks or sees the flag.
            let mut calls = self.lock();
            if self.stopping.load(Ordering::Acquire) {
                entry.control.cancel(NODE_STOP);
            }
            calls.insert(entry.id.clone(), entry.clone());
        }
        Registered {
            running: self.clone(),
            call: entry,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<RunningCall>>> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The call `id`, if it runs here.
    pub fn get(&self, id: &str) -> Option<Arc<RunningCall>> {
        self.lock().get(id).cloned()
    }

    /// The call `caller` started with the MCP request `request` (its JSON-RPC id, as JSON).
    /// `None` unless exactly one call matches: clients sharing one key each number their own
    /// requests, so an id two of them use at once names neither for sure.
    pub fn by_request(&self, caller: &str, request: &str) -> Option<Arc<RunningCall>> {
        let calls = self.lock();
        let mut matching = calls
            .values()
            .filter(|c| c.caller == caller && c.request.as_deref() == Some(request));
        let first = matching.next()?;
        matching.next().is_none().then(|| first.clone())
    }

    /// The ids of the tasks running here.
    pub fn task_ids(&self) -> Vec<String> {
        self.lock()
            .values()
            .filter(|c| c.task)
            .map(|c| c.id.clone())
            .collect()
    }

    /// How many calls run here now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The node stops: every running call (and any that starts from now) is stopped and ends
    /// `interrupted`.
    pub fn interrupt_all(&self) {
        let calls = self.lock();
        self.stopping.store(true, Ordering::Release);
        for call in calls.values() {
            call.control.cancel(NODE_STOP);
        }
    }
}

/// Who a call stopped by a closed connection is recorded as cancelled by.
pub const HUNG_UP: &str = "its caller (the connection closed)";

/// Cancels a call when dropped, unless disarmed: what stops a call whose client hung up (the
/// request's future is dropped with it).
#[derive(Debug)]
pub struct CancelOnDrop(Option<CallControl>);

impl CancelOnDrop {
    pub fn new(control: &CallControl) -> Self {
        CancelOnDrop(Some(control.clone()))
    }

    pub fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(control) = self.0.take() {
            control.cancel(HUNG_UP);
        }
    }
}

/// A registered call; unregisters it when dropped.
#[derive(Debug)]
pub struct Registered {
    running: Arc<Running>,
    pub call: Arc<RunningCall>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.running.lock().remove(&self.call.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_call(id: &str) -> NewCall<'_> {
        NewCall {
            id,
            caller: "key_1",
            tool: "steps",
            version: "1.0.0",
            started_at_ms: 1,
            task: true,
            request: Some("7".into()),
            messages: None,
        }
    }

    #[test]
    fn progress_is_kept_and_broadcast_and_a_call_leaves_with_its_guard() {
        let running = Arc::new(Running::default());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let extra = seen.clone();
        let guard = running.register(
            new_call("ex_1"),
            Listeners {
                progress: Some(Arc::new(move |p: &Progress| {
                    extra.lock().unwrap().push(p.done)
                })),
                logs: None,
            },
        );
        let mut events = guard.call.subscribe();
        assert_eq!(running.task_ids(), ["ex_1"]);
        assert!(running.by_request("key_1", "7").is_some());
        assert!(
            running.by_request("key_2", "7").is_none(),
            "another caller's request 7"
        );
        assert!(running.by_request("key_1", "8").is_none());
        // What the sandbox does with a forwarded report.
        let sink = guard.call.control.sink().expect("a sink is wired").clone();
        sink(&Progress {
            done: 3,
            total: Some(9),
            message: "three".into(),
        });
        assert_eq!(running.get("ex_1").unwrap().progress().unwrap().done, 3);
        assert!(matches!(events.try_recv(), Ok(CallEvent::Progress(p)) if p.message == "three"));
        assert_eq!(*seen.lock().unwrap(), [3]);
        guard.call.done(serde_json::json!({"outcome": "ok"}));
        assert!(matches!(events.try_recv(), Ok(CallEvent::Done(a)) if a["outcome"] == "ok"));
        drop(guard);
        assert!(running.get("ex_1").is_none() && running.is_empty());
        // A report after the call left goes nowhere, without failing.
        sink(&Progress::default());
        assert_eq!(*seen.lock().unwrap(), [3, 0]);
    }

    #[test]
    fn a_request_id_two_calls_of_one_caller_share_names_neither() {
        let running = Arc::new(Running::default());
        let a = running.register(new_call("ex_1"), Listeners::default());
        assert!(running.by_request("key_1", "7").is_some());
        let b = running.register(new_call("ex_2"), Listeners::default());
        assert!(running.by_request("key_1", "7").is_none());
        drop(a);
        assert_eq!(running.by_request("key_1", "7").unwrap().id, "ex_2");
        drop(b);
    }

    #[test]
    fn a_stopping_node_cancels_what_runs_and_what_starts() {
        let running = Arc::new(Running::default());
        let before = running.register(new_call("ex_1"), Listeners::default());
        running.interrupt_all();
        assert_eq!(before.call.control.cancelled_by(), Some(NODE_STOP));
        let after = running.register(new_call("ex_2"), Listeners::default());
        assert_eq!(after.call.control.cancelled_by(), Some(NODE_STOP));
    }
}
