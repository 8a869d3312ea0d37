//! `tapio-cni-collector`: the collector on tokio, the cluster DaemonSet.

mod daemon;

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use tapio_cni_collector_lite::runloop::{install_stop_signals, is_broken_pipe};
use tapio_cni_collector_lite::{config, offline};
use tokio::signal::unix::{signal, SignalKind};

#[derive(Debug, Parser)]
#[command(
    name = "tapio-cni-collector",
    version,
    about = "Observes every CNI operation on this host and turns it into UnifiedEvents"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// The daemon: observe CNI plugin executions with eBPF (or, when it cannot load, /proc
    /// scans), CNI config changes and plugin logs, and print UnifiedEvent JSON lines.
    Run {
        /// YAML configuration (the keys of the original `cni_collector` block); built-in
        /// defaults without it. `TAPIO_CNI_<KEY>` environment variables override it.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    // The offline commands are plain file IO; they are shared with the threaded runtime.
    #[command(flatten)]
    Offline(offline::Command),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { config } => run(config),
        Command::Offline(command) => offline::run(command),
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
    let summary = match daemon::run(config, stopped, tokio::io::stdout()).await {
        Err(e) if is_broken_pipe(&e) => {
            tracing::info!("standard output closed; stopping");
            return Ok(());
        }
        other => other?,
    };
    summary.log();
    Ok(())
}
