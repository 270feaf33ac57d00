//! Change announcements on PostgreSQL: every change's transaction sends
//! `NOTIFY cordon_changes` with what it changed (delivered at commit, to every session
//! listening, never for a rolled-back change), and each node keeps one connection listening.
//! Each time the listener connects (the first time, and after a lost connection) it reports
//! [`Change::Everything`]: announcements sent while no one listened are gone.

use crate::StorageError;
use crate::changes::Change;
use fallible_iterator::FallibleIterator;
use postgres::Transaction;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;
use tokio_postgres_rustls::MakeRustlsConnect;

const CHANNEL: &str = "cordon_changes";

/// How long the listener waits for an announcement before it checks its connection: a
/// connection dropped without a word (a vanished host) is noticed within this.
const PING_EVERY: Duration = Duration::from_secs(5);

/// How long it waits before connecting again.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Announces `change` when `tx` commits.
pub(crate) fn announce(tx: &mut Transaction<'_>, change: Change) -> Result<(), StorageError> {
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &change.as_str()])?;
    Ok(())
}

/// Starts the listener thread; it ends when the receiver is dropped.
pub(crate) fn spawn(
    config: postgres::Config,
    tls: MakeRustlsConnect,
) -> Result<Receiver<Change>, StorageError> {
    let (send, receive) = channel();
    std::thread::Builder::new()
        .name("cordon-pg-listen".into())
        .spawn(move || listen(&config, &tls, &send))
        .map_err(|e| StorageError::Postgres(format!("cannot start the change listener: {e}")))?;
    Ok(receive)
}

fn listen(config: &postgres::Config, tls: &MakeRustlsConnect, send: &Sender<Change>) {
    loop {
        match config.connect(tls.clone()) {
            Ok(mut client) => {
                if let Err(e) = client.batch_execute(&format!("LISTEN {CHANNEL}")) {
                    warn("cannot listen for changes", &e);
                } else {
                    // Whatever was announced while no one listened is lost: read it all.
                    if send.send(Change::Everything).is_err() {
                        return;
                    }
                    match relay(&mut client, send) {
                        Ok(()) => return,
                        Err(e) => warn("lost the change listener's connection", &e),
                    }
                }
            }
            Err(e) => warn("the change listener cannot connect", &e),
        }
        std::thread::sleep(RECONNECT_AFTER);
    }
}

/// Forwards announcements until the connection fails (`Err`) or no one receives (`Ok`).
fn relay(client: &mut postgres::Client, send: &Sender<Change>) -> Result<(), postgres::Error> {
    loop {
        {
            let mut notifications = client.notifications();
            let mut pending = notifications.timeout_iter(PING_EVERY);
            while let Some(n) = pending.next()? {
                if send.send(Change::parse(n.payload())).is_err() {
                    return Ok(());
                }
            }
        }
        // Quiet for a while, or closed: a round trip tells which.
        client.simple_query("SELECT 1")?;
    }
}

fn warn(what: &str, e: &postgres::Error) {
    tracing::warn!(target: "cordon::storage", error = %e, "{what}; retrying every second (changes made elsewhere apply at the next full resync meanwhile)");
}
