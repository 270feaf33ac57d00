//! The `cordon` command. All the work is in the library; this only parses and dispatches.

use clap::Parser;
use std::process::ExitCode;

mod allocator;

fn main() -> ExitCode {
    let cli = cordon::cli::Cli::parse();
    if !matches!(cli.command, cordon::cli::Command::Serve(_)) {
        // A client command whose output is cut (`cordon executions | head`) ends quietly, as
        // other Unix tools do, instead of panicking on the closed pipe. The server keeps Rust's
        // default (SIGPIPE ignored): a client hanging up must never stop it.
        // SAFETY: called before any other thread exists; SIG_DFL is a valid disposition.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    cordon::logging::init(&cli.log);
    // Confinement comes before the async runtime starts its threads: Landlock holds for the
    // thread that asks and the threads it starts afterwards.
    let plan = match &cli.command {
        cordon::cli::Command::Serve(args) if !args.no_confine => {
            Some(cordon::commands::serve::confinement_plan(args))
        }
        cordon::cli::Command::Run(args) if !args.no_confine => {
            Some(cordon::commands::run::confinement_plan(args))
        }
        cordon::cli::Command::Serve(_) | cordon::cli::Command::Run(_) => {
            cordon_host::confine::disable();
            None
        }
        _ => None,
    };
    match plan {
        Some(Ok(plan)) => {
            cordon_host::confine::apply(plan);
        }
        Some(Err(e)) => {
            eprintln!("error: {}", cordon::cli::error_chain(&e));
            return ExitCode::from(2);
        }
        None => {}
    }
    // After confinement, so that they are confined too.
    allocator::start_background_threads();
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
            eprintln!("error: {}", cordon::cli::error_chain(&e));
            ExitCode::from(2)
        }
    }
}
