//! CNI plugin executions seen by scanning /proc: the process monitor's fallback when the eBPF
//! probes cannot load (no BTF, no capability, `use_ebpf: false`).
//!
//! The runtime reads /proc every `poll_interval`, keeps the processes that run a CNI plugin (or
//! whose parent is one it keeps), reads their files with the parsers of [`parse`] and hands
//! them over as one [`Snapshot`] to
//! [`Collector::handle_proc_snapshot`](crate::Collector::handle_proc_snapshot). The collector
//! diffs consecutive snapshots: a process that appears is tracked, one that vanishes has ended
//! and becomes one event per top-level plugin execution, with the delegated plugins seen under
//! it as its `chain`.
//!
//! A scan sees much less than the probes, and the events say so:
//! - `confidence` is [`PROC_CONFIDENCE`] and `origin.monitor` is `proc`;
//! - an execution that starts and ends between two scans is not seen at all;
//! - the config on stdin and the result on stdout are never seen: no IPs, no plugin error;
//! - the exit status is known only when a scan caught the process exited but not yet reaped;
//! - the run time is not measured, so `performance.latency_ms` is absent. `performance.metrics`
//!   bound it instead: `seen_for_ms` (between the first and the last scan that saw it: a lower
//!   bound) and `lifetime_max_ms` (from its start, to the clock tick, to the first scan that
//!   missed it: an upper bound).

pub(crate) mod build;
pub mod parse;
pub(crate) mod track;

use std::collections::BTreeMap;

pub use parse::{
    exe_path, parse_args, parse_environ, parse_ns_link, parse_stat, read_cni_vars, Stat,
};

use crate::time::Timestamp;

/// The confidence of an event from a /proc scan: the process and its request were seen, but
/// not its config, result, or (mostly) its exit.
pub const PROC_CONFIDENCE: f64 = 0.5;

/// One scan of /proc: the CNI plugin processes running (or exited, not yet reaped) at `now`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The wall-clock time of the machine's boot (`CLOCK_REALTIME - CLOCK_BOOTTIME`): it dates
    /// the processes' `starttime`.
    pub boot_time: Timestamp,
    /// The kernel's clock ticks per second (`sysconf(_SC_CLK_TCK)`), the unit of `starttime`.
    pub ticks_per_sec: u64,
    pub processes: Vec<Process>,
}

/// One process of a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub stat: Stat,
    /// The plugin binary as it was run (the first of its first arguments that names a file in a
    /// plugin directory or on its `CNI_PATH`, else the `exe` link); `None` when unreadable (an
    /// exited process has no binary any more).
    pub path: Option<String>,
    /// Its `CNI_*` variables (see [`parse_environ`]); `None` when unreadable (an exited
    /// process has no environment any more).
    pub env: Option<BTreeMap<String, String>>,
    /// The environment was longer than the runtime reads: variables past the cut are missing.
    pub env_truncated: bool,
    /// The inode of a network namespace one of its threads was in, other than the process's
    /// own: the container's, which a Go plugin enters on one thread (`task/*/ns/net`).
    pub entered_netns_ino: Option<u64>,
}

/// Counters of the /proc input (part of [`crate::Stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub snapshots: u64,
    /// Processes tracked from the scan they first appeared in.
    pub processes_tracked: u64,
    /// Processes not tracked because `max_open_transactions` were tracked already.
    pub processes_dropped: u64,
    /// Top-level plugin executions emitted after they vanished.
    pub executions: u64,
    /// Top-level plugin executions emitted while still running past the timeout.
    pub executions_expired: u64,
    /// Delegated executions beyond `max_chain_entries` of one parent, not kept.
    pub chain_entries_cut: u64,
}

#[cfg(test)]
mod tests;
