//! Logging set-up: human-readable text or one JSON object per line, on stderr.
//!
//! Every execution emits one event with target `cordon::execution` carrying the outcome and the
//! usage report; `--log-format json` makes it machine-readable.

use clap::{Args, ValueEnum};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log format on stderr.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "CORDON_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
    /// Log filter, e.g. `info` or `cordon=debug` (default: warn; execution events are info).
    #[arg(long, global = true, env = "CORDON_LOG")]
    pub log: Option<String>,
}

/// The log filter when none is given.
pub const DEFAULT_FILTER: &str = "warn,cordon::admin=info";

/// Starts logging. (Spans of calls are not logs: they are made and exported apart, see
/// `telemetry.rs` and `cordon_server::trace`.)
pub fn init(args: &LogArgs) {
    // Default: warnings, plus what operators change (`cordon::admin`: reloads and what they
    // changed), which an operator expects to see without asking.
    let filter = EnvFilter::try_new(args.log.as_deref().unwrap_or(DEFAULT_FILTER))
        .unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    // rmcp's debug and info events carry whole MCP requests and results (tool inputs and
    // outputs), which the execution log deliberately does not keep unless told to.
    let filter = match "rmcp=warn".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    // Colour only for a person at a terminal: log files and pipes get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    // A second init (tests calling into the library) keeps the first subscriber.
    let _ = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
