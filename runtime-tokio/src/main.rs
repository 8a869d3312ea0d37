//! `tapio-cni-collector`: the collector on tokio, the cluster DaemonSet.

use clap::Parser;
use tapio_cni_collector_lite::offline;

#[derive(Debug, Parser)]
#[command(
    name = "tapio-cni-collector",
    version,
    about = "Observes every CNI operation on this host and turns it into UnifiedEvents"
)]
struct Cli {
    #[command(subcommand)]
    command: offline::Command,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The offline commands are plain file IO; they are shared with the threaded runtime.
    match offline::run(cli.command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tapio-cni-collector: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
