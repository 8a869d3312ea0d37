//! What both daemons' run loops share, so that `tapio-cni-collector-lite run` (threads) and
//! `tapio-cni-collector run` (tokio) start, feed the core, write and stop the same way:
//! the probes' start-up, the clock sample, the drain step (events, then requests), the
//! signal handling and the end-of-run summary.

use std::io::{self, Write};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use nix::time::{clock_gettime, ClockId};
use proto::{Collector, MonoClock, Request, Timestamp};
use tapio_cni_bpf::Probes;

use crate::config::Config;
use crate::files::{FileMonitor, FileSettings};
use crate::offline::now;
use crate::proc::{ScanStats, Scanner};
use crate::tail::{Batch, Entry, LogTailer, TailSettings};

/// What a run saw, reported at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub records: u64,
    pub events: u64,
    pub invalid_records: u64,
    pub ring_buffer_full: u64,
    /// Records dropped on the threaded runtime's poller → core channel. Always 0 on tokio,
    /// where the task that owns the core reads the ring buffer itself.
    pub channel_full: u64,
    pub events_dropped_queue_full: u64,
    /// Plugin executions still open after the stop; [`Collector::handle_shutdown`] reports
    /// them, so this is 0 unless a daemon stopped without it.
    pub open_transactions_at_exit: usize,
    /// Why the /proc fallback ran instead of the probes; `None` when the probes ran.
    pub fallback_reason: Option<String>,
    /// The /proc scans of the fallback.
    pub scan: ScanStats,
    /// Plugin executions the /proc fallback reported.
    pub proc_executions: u64,
    /// Log lines read by the tailer and handed to the core.
    pub log_lines: u64,
    /// Config and plugin-binary changes handed to the core.
    pub file_changes: u64,
    /// Log events joined to a plugin execution's trace.
    pub correlated_lines: u64,
    /// Plugin executions still running when the collector stopped (reported, exit unknown).
    pub transactions_stopped: u64,
    /// Stream bytes cut because `max_buffered_bytes` was reached.
    pub budget_bytes_cut: u64,
}

impl Summary {
    /// The summary of `collector`'s run, with the drop counters the runtime kept.
    pub fn of(collector: &Collector, ring_buffer_full: u64, channel_full: u64) -> Summary {
        let stats = collector.stats();
        Summary {
            records: stats.bpf.records,
            events: stats.events,
            invalid_records: stats.bpf.invalid_records,
            ring_buffer_full,
            channel_full,
            events_dropped_queue_full: stats.events_dropped_queue_full,
            open_transactions_at_exit: collector.open_transactions(),
            fallback_reason: None,
            scan: ScanStats::default(),
            proc_executions: stats.proc.executions + stats.proc.executions_expired,
            log_lines: stats.lines,
            file_changes: stats.files.changes + stats.files.unchanged,
            correlated_lines: stats.correlation.correlated_lines,
            transactions_stopped: stats.bpf.transactions_stopped,
            budget_bytes_cut: stats.bpf.budget_bytes_cut,
        }
    }

    /// Logs the summary (the last lines a daemon writes on stderr).
    pub fn log(&self) {
        tracing::info!(
            records = self.records,
            events = self.events,
            invalid_records = self.invalid_records,
            dropped_ring_buffer_full = self.ring_buffer_full,
            dropped_channel_full = self.channel_full,
            dropped_event_queue_full = self.events_dropped_queue_full,
            log_lines = self.log_lines,
            file_changes = self.file_changes,
            correlated_lines = self.correlated_lines,
            stopped_while_running = self.transactions_stopped,
            budget_bytes_cut = self.budget_bytes_cut,
            open_transactions = self.open_transactions_at_exit,
            "stopped"
        );
        if let Some(reason) = &self.fallback_reason {
            tracing::warn!(
                scans = self.scan.scans,
                executions = self.proc_executions,
                vanished_while_read = self.scan.vanished,
                unreadable = self.scan.unreadable,
                malformed_stat = self.scan.malformed,
                over_limit = self.scan.over_limit,
                "ran on the /proc fallback (lossy) because {reason}"
            );
        }
    }
}

/// `CLOCK_REALTIME - CLOCK_MONOTONIC` now.
///
/// # Errors
/// When a clock cannot be read (never on Linux).
pub fn sample_clock() -> anyhow::Result<MonoClock> {
    let mono = clock_gettime(ClockId::CLOCK_MONOTONIC).context("reading CLOCK_MONOTONIC")?;
    let real = clock_gettime(ClockId::CLOCK_REALTIME).context("reading CLOCK_REALTIME")?;
    let ns = |t: nix::sys::time::TimeSpec| t.tv_sec() * 1_000_000_000 + t.tv_nsec();
    Ok(MonoClock {
        realtime_minus_monotonic_ns: ns(real) - ns(mono),
    })
}

/// How `run` observes CNI plugin executions.
#[derive(Debug)]
pub enum ProcessMonitor {
    /// The eBPF probes, loaded and attached.
    Ebpf(Box<Probes>),
    /// The /proc fallback, and why the probes are not used.
    Proc { reason: String },
}

impl ProcessMonitor {
    /// The probes when `use_ebpf` is on and they load; the /proc fallback otherwise.
    pub fn choose(config: &Config) -> ProcessMonitor {
        if !config.use_ebpf {
            return ProcessMonitor::Proc {
                reason: "use_ebpf is false".to_owned(),
            };
        }
        match Probes::load(&config.probes()) {
            Ok(probes) => ProcessMonitor::Ebpf(Box::new(probes)),
            Err(e) => {
                // libbpf's own log lines follow the cause; the first line says it.
                let cause = format!("{e:#}");
                let cause = cause.lines().next().unwrap_or_default();
                ProcessMonitor::Proc {
                    reason: format!("the eBPF probes cannot be loaded: {cause}"),
                }
            }
        }
    }
}

/// Checks that `config` asks for what this build can run, and chooses the process monitor:
/// the probes, loaded and attached, or the /proc fallback. `None` when the collector is
/// disabled (`enabled: false`): nothing to do. `runs` are the `enable_*` keys of the monitors
/// the calling daemon runs besides the process monitor: the others are logged as configured
/// but not active.
///
/// # Errors
/// A configuration this build cannot run.
pub fn start(config: &Config, runs: &[&str]) -> anyhow::Result<Option<ProcessMonitor>> {
    if !config.enabled {
        tracing::warn!("enabled: false; nothing to do");
        return Ok(None);
    }
    if !config.enable_process_monitoring {
        bail!(
            "enable_process_monitoring must be on: the process monitor is what every other \
             monitor's events are joined to"
        );
    }
    let mut inactive = config.inactive();
    inactive.retain(|entry| !runs.iter().any(|key| entry.split(' ').next() == Some(key)));
    if !inactive.is_empty() {
        tracing::info!(
            "configured but not active yet in this daemon: {}",
            inactive.join("; ")
        );
    }
    let monitor = ProcessMonitor::choose(config);
    if let ProcessMonitor::Ebpf(probes) = &monitor {
        for missing in probes.missing() {
            tracing::warn!("degraded: {missing}");
        }
        tracing::info!(
            plugin_dirs = ?config.cni_bin_path,
            ring_buffer_bytes = config.ring_buffer_size,
            "eBPF process monitor running"
        );
    }
    Ok(Some(monitor))
}

/// Starts the CNI config and plugin-directory monitor and hands its start-up state to the
/// core.
///
/// # Errors
/// A monitor that cannot start.
pub fn start_files(config: &Config, collector: &mut Collector) -> anyhow::Result<FileMonitor> {
    let mut monitor = FileMonitor::new(FileSettings::from_config(config))
        .context("starting the CNI config monitor")?;
    feed_files(collector, monitor.scan());
    if let Some(why) = monitor.fallback() {
        tracing::warn!(
            "CNI config monitor polls every {:?}: {why}",
            config.poll_interval
        );
    }
    tracing::info!(
        watched = monitor.watched().count(),
        "CNI config monitor running"
    );
    Ok(monitor)
}

/// Starts the plugin log tailer (its first read takes what the files hold past the saved
/// offsets).
///
/// # Errors
/// A state directory that cannot be used.
pub fn start_logs(config: &Config) -> anyhow::Result<LogTailer> {
    let tailer =
        LogTailer::new(TailSettings::from_config(config)).context("starting the log tailer")?;
    tracing::info!(
        files = config.log_paths.len(),
        state_dir = %config.state_dir.display(),
        "log tailer running"
    );
    Ok(tailer)
}

/// Hands config and plugin-binary changes to the core.
pub fn feed_files(collector: &mut Collector, changes: Vec<proto::FileChange>) {
    for change in changes {
        collector.handle_file_change(now(), change);
    }
}

/// Hands a batch of log lines and file ends to the core, serialising the events after each
/// (a batch of thousands of lines must not overflow the core's bounded event queue).
///
/// # Errors
/// When `out` cannot be written.
pub fn feed_lines(
    collector: &mut Collector,
    batch: &Batch,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    for entry in batch.entries() {
        match entry {
            Entry::Line(line) => collector.handle_log_line(now(), line),
            Entry::End(source) => collector.handle_log_end(source),
        }
        write_events(collector, out)?;
    }
    Ok(())
}

/// The /proc fallback's scanner, after saying (once, loudly) what the fallback costs.
///
/// # Errors
/// A zero `poll_interval`.
pub fn proc_scanner(config: &Config, reason: &str) -> anyhow::Result<Scanner> {
    let interval = config.poll_interval;
    if interval.is_zero() {
        bail!("poll_interval: must be longer than 0s for the /proc process monitor");
    }
    tracing::warn!(
        "process monitor degraded to /proc scans every {interval:?}, because {reason}: plugin \
         executions shorter than a scan are missed, and their config, result and latency are \
         not seen (events have origin.monitor \"proc\", confidence {}); `check` says how to \
         fix it",
        proto::proc::PROC_CONFIDENCE
    );
    tracing::info!(plugin_dirs = ?config.cni_bin_path, "/proc process monitor running");
    Ok(Scanner::new(
        &config.cni_bin_path,
        config.core().max_env_bytes,
        config.max_open_transactions,
    ))
}

/// Hands one ring-buffer record to the core; an invalid one is counted there and skipped.
pub fn handle_record(collector: &mut Collector, clock: MonoClock, bytes: &[u8]) {
    if let Err(e) = collector.handle_bpf_record(now(), clock, bytes) {
        tracing::debug!("invalid ring-buffer record skipped: {e}");
    }
}

/// Fires the core's deadline if it has passed.
pub fn handle_due_timeout(collector: &mut Collector) {
    let now = now();
    if collector.poll_timeout().is_some_and(|(at, _)| at <= now) {
        collector.handle_timeout(now);
    }
}

/// The core's events as JSON Lines into `out` (the requests stay for [`drain`]).
///
/// # Errors
/// When `out` cannot be written.
pub fn write_events(collector: &mut Collector, out: &mut impl Write) -> anyhow::Result<()> {
    while let Some(event) = collector.poll_event() {
        serde_json::to_writer(&mut *out, &event).context("writing events")?;
        out.write_all(b"\n").context("writing events")?;
    }
    Ok(())
}

/// The drain step after every input: the events as JSON Lines into `out`, then the requests:
/// each offset checkpoint to `checkpoint` (the log tailer's).
///
/// # Errors
/// When `out` cannot be written.
pub fn drain(
    collector: &mut Collector,
    out: &mut impl Write,
    mut checkpoint: impl FnMut(&str, u64),
) -> anyhow::Result<()> {
    write_events(collector, out)?;
    while let Some(request) = collector.poll_request() {
        match request {
            Request::Checkpoint { source, offset } => checkpoint(&source, offset),
            other => tracing::debug!("request not for this daemon: {other:?}"),
        }
    }
    Ok(())
}

/// Time from now until `deadline` (zero when it has passed).
pub fn until(deadline: Timestamp) -> Duration {
    let nanos = deadline.unix_nanos().saturating_sub(now().unix_nanos());
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
}

/// Warns when the core's event queue dropped events since `seen`, and updates `seen`.
pub fn warn_queue_drops(collector: &Collector, seen: &mut u64) {
    let dropped = collector.stats().events_dropped_queue_full;
    if dropped > *seen {
        tracing::warn!(total = dropped, "events dropped: the event queue was full");
        *seen = dropped;
    }
}

/// Installs the SIGINT/SIGTERM policy of both daemons and returns the flag the first signal
/// sets: the first one asks for a clean stop, a second one while stopping exits at once.
///
/// # Errors
/// A handler that cannot be installed.
pub fn install_stop_signals() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Registered first, so it sees the flag before the second registration sets it.
        signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&stop))
            .context("installing the signal handlers")?;
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing the signal handlers")?;
    }
    Ok(stop)
}

/// The end of a daemon's run, for its binary: the summary is logged, and a reader that closed
/// standard output stops the daemon without an error.
///
/// # Errors
/// Any other error of the run.
pub fn finish(result: anyhow::Result<Summary>) -> anyhow::Result<()> {
    match result {
        Err(e) if is_broken_pipe(&e) => {
            tracing::info!("standard output closed; stopping");
            Ok(())
        }
        Err(e) => Err(e),
        Ok(summary) => {
            summary.log();
            Ok(())
        }
    }
}

/// Whether `e` comes from writing to a closed pipe (the reader of standard output went away).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<io::Error>())
        .any(|io| io.kind() == io::ErrorKind::BrokenPipe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_offset_is_close_to_now() {
        let clock = sample_clock().unwrap();
        let mono = clock_gettime(ClockId::CLOCK_MONOTONIC).unwrap();
        let mono_ns = u64::try_from(mono.tv_sec() * 1_000_000_000 + mono.tv_nsec()).unwrap();
        let wall = clock.to_wall(mono_ns);
        let skew = (wall.unix_nanos() - now().unix_nanos()).abs();
        assert!(skew < 100_000_000, "{skew} ns");
    }

    #[test]
    fn deadlines_in_the_past_do_not_wait() {
        assert_eq!(until(Timestamp::from_unix_nanos(0)), Duration::ZERO);
        let soon = until(now().add_nanos(500_000_000));
        assert!(soon <= Duration::from_millis(500) && soon > Duration::from_millis(400));
    }

    #[test]
    fn a_broken_pipe_is_recognised_through_context() {
        let e = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe))
            .context("writing events");
        assert!(is_broken_pipe(&e));
        let other = anyhow::Error::from(io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(!is_broken_pipe(&other.context("writing events")));
    }

    #[test]
    fn the_drain_hands_checkpoints_over_after_the_events() {
        let mut collector = Collector::new(proto::Config::default());
        let line = b"2026-11-22 18:13:08.338 [INFO][1] felix/daemon.go 300: Calico node up";
        collector.handle_log_line(
            now(),
            proto::LogLine {
                source: "/var/log/calico/cni/cni.log",
                line_no: 1,
                offset: 0,
                bytes: line,
                format: None,
            },
        );
        let mut out = Vec::new();
        let mut checkpoints = Vec::new();
        drain(&mut collector, &mut out, |source, offset| {
            checkpoints.push((source.to_owned(), offset));
        })
        .unwrap();
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1);
        assert!(
            checkpoints
                .iter()
                .all(|(source, _)| source == "/var/log/calico/cni/cni.log"),
            "{checkpoints:?}"
        );
        assert!(!checkpoints.is_empty());
        assert_eq!(collector.poll_request(), None);
    }

    #[test]
    fn an_invalid_record_is_counted_and_the_drain_writes_nothing() {
        let mut collector = Collector::new(proto::Config::default());
        handle_record(&mut collector, MonoClock::default(), &[1, 2, 3]);
        assert_eq!(collector.stats().bpf.invalid_records, 1);
        let mut out = Vec::new();
        write_events(&mut collector, &mut out).unwrap();
        assert!(out.is_empty());
        assert_eq!(Summary::of(&collector, 2, 0).ring_buffer_full, 2);
    }
}
