//! The `cordon` command as a library: argument parsing, logging set-up and the commands. The
//! server itself is the `cordon-server` crate; `cordon serve` reads its flags, environment and
//! config file into that crate's settings.

pub mod cli;
pub mod commands;
pub mod logging;
pub mod telemetry;
