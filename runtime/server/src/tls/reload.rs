//! The certificate the listener serves, renewed without a restart: on SIGHUP, or when either
//! file changes (looked at every [`WATCH_EVERY`]). New connections get the new certificate;
//! open ones keep theirs (TLS does not change a connection's certificate). A new pair that does
//! not load (half written, mismatched) leaves the old one in place and says why in the log.

use super::certs::{self, TlsError, TlsFiles};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

/// How often the files are looked at for a renewal. Renewal tools replace certificates days
/// before they expire: seconds of delay cost nothing, and a look is two `stat` calls.
pub const WATCH_EVERY: Duration = Duration::from_secs(2);

/// What a file looked like when it was last loaded: a change of either is a renewal.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &std::path::Path) -> Stamp {
    std::fs::metadata(path)
        .ok()
        .and_then(|m| Some((m.modified().ok()?, m.len())))
}

/// The certificate in force, and where it comes from.
#[derive(Debug)]
pub struct Reloading {
    files: TlsFiles,
    current: RwLock<Arc<CertifiedKey>>,
    /// The files' stamps when last looked at (loaded or not: a bad file is reported once).
    seen: Mutex<(Stamp, Stamp)>,
}

impl Reloading {
    /// Loads the pair in `files`: the start fails on a bad one.
    pub fn new(files: TlsFiles) -> Result<Reloading, TlsError> {
        let seen = (stamp(&files.cert), stamp(&files.key));
        let current = certs::load(&files.cert, &files.key)?;
        Ok(Reloading {
            files,
            current: RwLock::new(current),
            seen: Mutex::new(seen),
        })
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// Loads the files again and serves them from now on; on an error the certificate in force
    /// stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) =
            (stamp(&self.files.cert), stamp(&self.files.key));
        let loaded = certs::load(&self.files.cert, &self.files.key)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = loaded;
        Ok(())
    }

    /// Reloads if either file changed since it was last looked at; `None` when neither did.
    pub fn reload_if_changed(&self) -> Option<Result<(), TlsError>> {
        let now = (stamp(&self.files.cert), stamp(&self.files.key));
        let changed = {
            let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            *seen != now
        };
        changed.then(|| self.reload())
    }

    /// Looks at the files every [`WATCH_EVERY`] for as long as the process runs.
    pub fn spawn_watch(self: Arc<Self>) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(WATCH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let me = self.clone();
                let done = tokio::task::spawn_blocking(move || me.reload_if_changed()).await;
                if let Ok(Some(result)) = done {
                    self.report("the files changed", &result);
                }
            }
        });
    }

    /// Logs what a reload did (`why`: what asked for it).
    pub fn report(&self, why: &str, result: &Result<(), TlsError>) {
        match result {
            Ok(()) => tracing::info!(
                target: "cordon::admin",
                cert = %self.files.cert.display(),
                "TLS certificate reloaded ({why}): new connections get it"
            ),
            Err(e) => tracing::error!(
                target: "cordon::admin",
                cert = %self.files.cert.display(),
                error = %e,
                "TLS certificate not reloaded ({why}): the one in force stays"
            ),
        }
    }
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}
