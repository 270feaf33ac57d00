//! The `cordon` command as a library: argument parsing, logging set-up and the commands.

pub mod admission;
pub mod cli;
pub mod commands;
pub mod confine;
pub mod input;
pub mod logging;
pub mod secrets;
pub mod server;
