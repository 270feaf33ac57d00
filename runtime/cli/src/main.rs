//! The `cordon` command. All the work is in the library; this only parses and dispatches.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cordon::cli::Cli::parse();
    cordon::logging::init(&cli.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(cordon::cli::dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
