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
    // OpenTelemetry export (`cordon serve` with an OTLP endpoint configured): the provider now;
    // the exporters and their threads after confinement.
    let telemetry = match &cli.command {
        cordon::cli::Command::Serve(args) => {
            match cordon::commands::serve::telemetry_settings(args) {
                Ok(settings) => settings.map(cordon::telemetry::Telemetry::new),
                Err(e) => {
                    eprintln!("error: {}", cordon::cli::error_chain(&e));
                    return ExitCode::from(2);
                }
            }
        }
        _ => None,
    };
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
    if let Some(t) = &telemetry
        && let Err(e) = t.start()
    {
        eprintln!(
            "error: cannot start the OpenTelemetry export: {}",
            cordon::cli::error_chain(&e)
        );
        return ExitCode::from(2);
    }
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
    let code = match runtime.block_on(cordon::cli::dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", cordon::cli::error_chain(&e));
            ExitCode::from(2)
        }
    };
    // The spans and metrics still queued are sent before the process ends.
    if let Some(t) = telemetry {
        t.shutdown();
    }
    code
}
