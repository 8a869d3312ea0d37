//! CNI transactions from the eBPF probes' ring-buffer records.
//!
//! The bpf crate's probes report, for every process that execs a CNI plugin (and everything
//! such a process runs), its EXEC, its environment in ENV chunks, what it reads from stdin and
//! writes to stdout/stderr in DATA chunks, its network-namespace switches (NETNS) and its EXIT.
//! [`record`] reads those records from raw bytes with the offsets mirrored in [`layout`]; the
//! collector assembles them per process into one transaction per top-level plugin execution,
//! with its delegated plugins as a chain, and emits it as one event when it exits
//! (see [`Collector::handle_bpf_record`](crate::Collector::handle_bpf_record)).

pub(crate) mod build;
pub mod layout;
pub mod record;
pub(crate) mod transaction;

#[cfg(test)]
pub(crate) mod tests;

use crate::time::Timestamp;

/// The offset from the probes' clock to wall-clock time.
///
/// Record times are `bpf_ktime_get_ns()`, `CLOCK_MONOTONIC` nanoseconds since boot. The
/// runtime samples `CLOCK_REALTIME - CLOCK_MONOTONIC` (read the two clocks back to back) and
/// passes it with every record; re-sampling it now and then follows NTP steps of the wall clock.
/// Durations are taken between record times and never depend on it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct MonoClock {
    /// `CLOCK_REALTIME - CLOCK_MONOTONIC`, in nanoseconds.
    pub realtime_minus_monotonic_ns: i64,
}

impl MonoClock {
    /// The wall-clock time of a `CLOCK_MONOTONIC` instant.
    pub fn to_wall(self, monotonic_ns: u64) -> Timestamp {
        let mono = i64::try_from(monotonic_ns).unwrap_or(i64::MAX);
        Timestamp::from_unix_nanos(mono.saturating_add(self.realtime_minus_monotonic_ns))
    }
}

/// Counters of the ring-buffer input (part of [`crate::Stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records handed to the collector.
    pub records: u64,
    /// Records that were not valid records (wrong size, unknown kind, bad length), skipped.
    pub invalid_records: u64,
    /// Records of a process not seen exec'ing: a forked child that never exec'd, a process
    /// refused because the table was full, or one whose EXEC was lost.
    pub orphan_records: u64,
    /// Top-level plugin executions emitted after their EXIT.
    pub transactions: u64,
    /// Top-level plugin executions emitted without an EXIT (timeout, or their pid was reused).
    pub transactions_expired: u64,
    /// Top-level plugin executions emitted without an EXIT because the collector stopped.
    pub transactions_stopped: u64,
    /// Processes not tracked because `max_open_transactions` were open.
    pub transactions_dropped: u64,
    /// Jumps in a stream's offsets: DATA records the kernel could not deliver.
    pub stream_gaps: u64,
    /// Stream bytes beyond `max_stream_bytes`, not kept.
    pub stream_bytes_cut: u64,
    /// Stream and environment bytes not kept because all open processes together held
    /// `max_buffered_bytes`.
    pub budget_bytes_cut: u64,
    /// Processes whose environment was not seen whole (lost or capped chunks).
    pub env_incomplete: u64,
    /// Delegated executions beyond `max_chain_entries` of one parent, not kept.
    pub chain_entries_cut: u64,
}
