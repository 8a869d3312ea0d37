//! `tapio-cni-collector`: the collector on tokio, the cluster DaemonSet.

mod daemon;

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tapio_cni_collector_lite::runloop::{finish, install_stop_signals};
use tapio_cni_collector_lite::{cli, config, offline};
use tokio::signal::unix::{signal, SignalKind};

#[derive(Debug, Parser)]
#[command(
    name = "tapio-cni-collector",
    version,
    about = "Observes every CNI operation on this host and turns it into UnifiedEvents"
)]
struct Cli {
    #[command(subcommand)]
    command: cli::Command,
}

fn main() -> std::process::ExitCode {
    let args = Cli::parse();
    let result = match args.command {
        cli::Command::Run { config } => run(config),
        cli::Command::Offline(command) => offline::run(command),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tapio-cni-collector: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(file: Option<PathBuf>) -> anyhow::Result<()> {
    let config = config::Config::load_from_env(file.as_deref())?;
    tapio_cni_collector_lite::daemon::init_logging(config.log_level.as_tracing());
    // See daemon.rs for why one thread is enough.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(serve(&config))
}

async fn serve(config: &config::Config) -> anyhow::Result<()> {
    // The same policy as the threaded runtime: the first signal stops cleanly (the streams
    // below see it), a second one while stopping exits at once.
    install_stop_signals()?;
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let stopped = async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    };
    finish(daemon::run(config, stopped, tokio::io::stdout()).await)
}
