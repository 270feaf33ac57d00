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

pub fn init(args: &LogArgs) {
    let filter = EnvFilter::try_new(args.log.as_deref().unwrap_or("warn"))
        .unwrap_or_else(|_| EnvFilter::new("warn"));
    // rmcp's debug and info events carry whole MCP requests and results (tool inputs and
    // outputs), which the execution log deliberately does not keep unless told to.
    let filter = match "rmcp=warn".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests calling into the library) keeps the first subscriber.
    let _ = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
