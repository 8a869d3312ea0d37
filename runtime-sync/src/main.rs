//! `tapio-cni-collector-lite`: the collector on plain threads, for minimal hosts.

use clap::Parser;
use tapio_cni_collector_lite::offline;

#[derive(Debug, Parser)]
#[command(
    name = "tapio-cni-collector-lite",
    version,
    about = "Observes every CNI operation on this host (threaded runtime, no Kubernetes)"
)]
struct Cli {
    #[command(subcommand)]
    command: offline::Command,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match offline::run(cli.command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tapio-cni-collector-lite: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
