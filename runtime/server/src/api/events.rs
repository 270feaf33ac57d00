//! The server-sent events of one call (`GET /v1/executions/{id}/events`): `progress` while it
//! runs, then one `result`, then the end of the stream. A call running on this node is
//! followed through its broadcast (every forwarded report); one running on another node of a
//! shared store through the store (its newest progress, read twice a second).

use crate::state::AppState;
use crate::tasks::ExecutionView;
use axum::response::sse::Event;
use cordon_storage::TaskRow;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How often a call running on another node is read from the store.
const POLL_STORE: Duration = Duration::from_millis(500);

/// The events of the call `row` is the task of.
pub fn stream(
    state: Arc<AppState>,
    row: TaskRow,
) -> impl futures_util::Stream<Item = Result<Event, Infallible>> {
    let (send, receive) = mpsc::channel(16);
    tokio::spawn(follow(state, row, send));
    futures_util::stream::unfold(receive, |mut r| async move {
        r.recv().await.map(|event| (Ok(event), r))
    })
}

fn progress_event(p: &cordon_core::Progress) -> Option<Event> {
    Event::default().event("progress").json_data(p).ok()
}

fn result_event(view: &ExecutionView) -> Option<Event> {
    Event::default().event("result").json_data(view).ok()
}

/// Sends the call's events until its result (or until the client goes away).
async fn follow(state: Arc<AppState>, mut row: TaskRow, send: mpsc::Sender<Event>) {
    use crate::running::CallEvent;
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
