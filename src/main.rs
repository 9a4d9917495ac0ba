//! The `shepard` binary: parses the command line and runs the chosen subcommand. Errors end
//! here, printed once to stderr with exit status 1 (`rollout watch` also ends with 2 for a
//! stuck rollout and 3 for an aborted one).

use std::future::Future;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use prometheus::Registry;
use shepard::cli::{AgentArgs, Cli, Command, ConfigCommand, GcArgs};
use shepard::config::{self, Config, ConfigError};
use shepard::telemetry::{self, Readiness, build_info};

fn main() -> ExitCode {
    let cli = Cli::parse_from(shepard::operator::normalize_json_flag(std::env::args_os()));
    let result = match cli.command {
        Command::Status(args) => {
            return operator_exit(shepard::operator::run_status(&args, &config::process_env()));
        }
        Command::Rollout { command } => {
            return operator_exit(shepard::operator::run_rollout(
                &command,
                &config::process_env(),
            ));
        }
        Command::Version => {
            println!("shepard {}", build_info::VERSION);
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Check(args),
        } => config_check(&args),
        Command::Agent(args) => agent(&args),
        Command::Gc(args) => gc(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            ExitCode::FAILURE
        }
    }
}

/// The exit status of an operator command: its outcome's, or 1 after printing the error.
fn operator_exit(
    result: Result<shepard::operator::Outcome, shepard::operator::OperatorError>,
) -> ExitCode {
    match result {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(e) => {
            match e {
                // A configuration error lists its problems like `agent` does.
                shepard::operator::OperatorError::Config(e) => report(&anyhow::Error::from(e)),
                // Each message already says its cause.
                e => eprintln!("error: {e}"),
            }
            ExitCode::FAILURE
        }
    }
}

/// Prints an error; a configuration error lists each problem on its own line.
fn report(e: &anyhow::Error) {
    match e.downcast_ref::<ConfigError>() {
        Some(ConfigError::Invalid(problems)) => {
            eprintln!("error: invalid configuration");
            for p in problems {
                eprintln!("  {p}");
            }
        }
        _ => eprintln!("error: {e:#}"),
    }
}

fn config_check(args: &AgentArgs) -> anyhow::Result<()> {
    let resolved = args.load(&config::process_env())?;
    resolved.check_token_files()?;
    print!("{}", resolved.render());
    Ok(())
}

fn agent(args: &AgentArgs) -> anyhow::Result<()> {
    let env = config::process_env();
    let resolved = args.load(&env)?;
    resolved.check_token_files()?;
    let config = resolved.config;
    telemetry::logging::init(
        &config.log_level,
        config.log_format,
        env.get("RUST_LOG").map(String::as_str),
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve_agent(config))
}

/// `shepard gc`: one pass now; logs (deletes, refusals) go to stderr, the report to stdout.
fn gc(args: &GcArgs) -> anyhow::Result<()> {
    let env = config::process_env();
    let resolved = args.config.load(&env)?;
    resolved.check_token_files()?;
    let config = resolved.config;
    telemetry::logging::init(
        "warn",
        config.log_format,
        env.get("RUST_LOG").map(String::as_str),
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let options = shepard::operator_gc::GcOptions {
        dry_run: args.dry_run,
        json: args.json,
    };
    runtime.block_on(async {
        let mut out = std::io::stdout().lock();
        shepard::operator_gc::run(&config, options, &mut out).await
    })?;
    Ok(())
}

async fn serve_agent(config: Config) -> anyhow::Result<()> {
    let registry = Registry::new();
    build_info::register(&registry).context("cannot register shepard_build_info")?;
    let readiness = Readiness::new();
    let server = telemetry::serve(config.listen, registry.clone(), readiness.clone()).await?;
    tracing::info!(
        version = build_info::VERSION,
        listen = %server.local_addr(),
        "telemetry server listening"
    );
    tracing::debug!(?config, "configuration");
    let result = shepard::agent::run(&config, &registry, &readiness, shutdown_signal()?)
        .await
        .map_err(anyhow::Error::from);
    tracing::info!("shutting down");
    server.shutdown().await?;
    result
}

/// Resolves on the first SIGINT (ctrl-c) or SIGTERM.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}
