//! `tapio-cni-collector-lite`: the collector on plain threads, for minimal hosts.

use std::path::PathBuf;

use clap::Parser;
use tapio_cni_collector_lite::{config, daemon, offline};

#[derive(Debug, Parser)]
#[command(
    name = "tapio-cni-collector-lite",
    version,
    about = "Observes every CNI operation on this host (threaded runtime, no Kubernetes)"
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
