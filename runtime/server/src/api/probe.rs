//! Test-only: `POST /v1/test/confinement` tries, from inside the server, what a compromised
//! host would: open a file, start a program. The end-to-end tests prove a confined server
//! cannot. Compiled into debug builds only, and served only when the server is started with
//! `CORDON_TEST_CONFINEMENT_PROBE=1` (`Settings::confinement_probe`); an admin key is still
//! required. A runtime switch rather than a cargo feature: a feature would make the tests'
//! build of the server differ from the demo's, and the demo would recompile it.

use crate::callers::caller::Caller;
use crate::error::ApiError;
use axum::Json;
use cordon_core::Action;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
pub struct Probe {
    /// A file to open and read.
    pub read: Option<String>,
    /// A program to start.
    pub exec: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Tried {
    /// `ok`, or the error the system gave.
    pub read: Option<String>,
    pub exec: Option<String>,
}

pub async fn confinement(
    caller: Caller,
    Json(probe): Json<Probe>,
) -> Result<Json<Tried>, ApiError> {
    caller.require(Action::ManageKeys)?;
    let outcome = |r: std::io::Result<()>| match r {
        Ok(()) => "ok".to_owned(),
        Err(e) => format!("error: {e}"),
    };
    Ok(Json(Tried {
        read: probe.read.map(|p| outcome(std::fs::read(p).map(|_| ()))),
        exec: probe.exec.map(|p| {
            outcome(
                std::process::Command::new(p)
                    .stdin(std::process::Stdio::null())
                    .output()
                    .map(|_| ()),
            )
        }),
    }))
}
