//! `tapio-cni-collector-lite`: the collector on plain threads, for minimal hosts.

use std::path::PathBuf;

use clap::Parser;
use tapio_cni_collector_lite::{cli, config, daemon, offline};

#[derive(Debug, Parser)]
#[command(
    name = "tapio-cni-collector-lite",
    version,
    about = "Observes every CNI operation on this host (threaded runtime, no Kubernetes)"
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
            eprintln!("tapio-cni-collector-lite: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(file: Option<PathBuf>) -> anyhow::Result<()> {
    let config = config::Config::load_from_env(file.as_deref())?;
    daemon::init_logging(config.log_level.as_tracing());
    daemon::main(&config)
}
