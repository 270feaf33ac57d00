//! The server-sent events of one call (`GET /v1/executions/{id}/events`): `progress` while it
//! runs, then one `result`, then the end of the stream. A stream whose caller's key is revoked
//! (or whose key or token expires) ends with one `unauthenticated` event instead, within
//! [`CHECK_CREDENTIAL`] of the revocation reaching this node. A call running on this node is
//! followed through its broadcast (every forwarded report); one running on another node of a
//! shared store through the store (its newest progress, read twice a second).

use crate::callers::caller::Caller;
use crate::calls::tasks::ExecutionView;
use crate::state::AppState;
use axum::response::sse::Event;
use cordon_storage::TaskRow;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How often a call running on another node is read from the store.
const POLL_STORE: Duration = Duration::from_millis(500);

/// How often an open stream checks that its caller's credential still holds: a key revoked on
/// any node is out of every node's key table within a second (`keycache::REFRESH`), so the
/// stream ends within about 1.25 s of the revocation; a token, once it expires.
const CHECK_CREDENTIAL: Duration = Duration::from_millis(250);

/// The events of the call `row` is the task of, for `caller`, while its credential holds.
pub fn stream(
    state: Arc<AppState>,
    row: TaskRow,
    caller: Caller,
) -> impl futures_util::Stream<Item = Result<Event, Infallible>> {
    let (send, receive) = mpsc::channel(16);
    tokio::spawn(follow(state.clone(), row, send));
    let mut check = tokio::time::interval(CHECK_CREDENTIAL);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let open = Open {
        events: receive,
        check,
        state,
        caller,
    };
    // `None` once the credential lapsed: the stream has said so and ends; dropping the
    // receiver ends `follow` too.
    futures_util::stream::unfold(Some(open), |open| async move {
        let mut open = open?;
        loop {
            tokio::select! {
                event = open.events.recv() => return event.map(|e| (Ok(e), Some(open))),
                _ = open.check.tick() => {
                    if !open.caller.still_valid(&open.state.keys, crate::clock::now_ms()) {
                        tracing::warn!(target: "cordon::security", caller = open.caller.id, "event stream ended: its credential was revoked or expired");
                        return Some((Ok(lapsed_event()), None));
                    }
                }
            }
        }
    })
}

/// A stream being sent: the call's events, and its caller to check on.
struct Open {
    events: mpsc::Receiver<Event>,
    check: tokio::time::Interval,
    state: Arc<AppState>,
    caller: Caller,
}

/// The last event of a stream whose caller's credential lapsed.
fn lapsed_event() -> Event {
    let body = serde_json::json!({"error": {
        "code": "unauthenticated",
        "message": "the API key or token this stream was opened with was revoked or has expired: the stream ends here; follow the call again with a valid credential",
    }});
    Event::default()
        .event("unauthenticated")
        .data(body.to_string())
}

fn progress_event(p: &cordon_core::Progress) -> Option<Event> {
    Event::default().event("progress").json_data(p).ok()
}

fn result_event(view: &ExecutionView) -> Option<Event> {
    Event::default().event("result").json_data(view).ok()
}

/// Sends the call's events until its result (or until the client goes away).
async fn follow(state: Arc<AppState>, mut row: TaskRow, send: mpsc::Sender<Event>) {
    use crate::calls::running::CallEvent;
    let mut last = None;
    if let Some(call) = state.running.get(&row.id) {
        let mut events = call.subscribe();
        if let Some(p) = call.progress() {
            last = Some(p.clone());
            if let Some(e) = progress_event(&p)
                && send.send(e).await.is_err()
            {
                return;
            }
        }
        drop(call);
        loop {
            // A client that went away ends the stream now, not at the next event.
            let event = tokio::select! {
                event = events.recv() => event,
                () = send.closed() => return,
            };
            match event {
                Ok(CallEvent::Progress(p)) => {
                    last = Some(p.clone());
                    if let Some(e) = progress_event(&p)
                        && send.send(e).await.is_err()
                    {
                        return;
                    }
                }
                // The answer is stored before it is broadcast: read below.
                Ok(CallEvent::Done(_)) => break,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    }
    loop {
        let id = row.id.clone();
        match state.db(move |s| s.task(&id)).await {
            Ok(Some(now)) => row = now,
            // Forgotten (expired) or the store failing: the stream ends without a result.
            Ok(None) | Err(_) => return,
        }
        let view = ExecutionView::of(&row, None);
        if !row.is_running() {
            if let Some(e) = result_event(&view) {
                let _ = send.send(e).await;
            }
            return;
        }
        if view.progress.is_some() && view.progress != last {
            last = view.progress.clone();
            if let Some(e) = last.as_ref().and_then(progress_event)
                && send.send(e).await.is_err()
            {
                return;
            }
        }
        if send.is_closed() {
            return;
        }
        tokio::time::sleep(POLL_STORE).await;
    }
}
