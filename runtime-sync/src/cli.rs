//! The subcommands both binaries take: `run` starts each runtime's own daemon, the offline
//! commands are shared file IO.

use std::path::PathBuf;

use crate::offline;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
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
