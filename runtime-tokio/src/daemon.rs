//! `run` on tokio: one task owns the [`Collector`] and every source of its inputs, and waits on
//! all of them in one `select!` loop.
//!
//! Each turn of the loop takes one input, hands it to the core, then runs the drain step
//! (events to the output, then requests). The branches today:
//! - the process monitor: the eBPF ring buffer, or the /proc fallback's scan every
//!   `poll_interval` when the probes are not used. The ring buffer goes through [`AsyncFd`] on
//!   its epoll fd: on readiness one non-blocking
//!   [`Probes::poll`] consumes a batch; readiness is cleared only once a poll finds nothing.
//!   After a poll that took records the branch rests for [`GATHER`], so that the records of one
//!   plugin execution are taken together;
//! - the CNI config and plugin-directory monitor ([`FileMonitor`]), through [`AsyncFd`] on its
//!   inotify fd, and its `poll_interval` scan when it needs one;
//! - the log tailer ([`LogTailer`]), through [`AsyncFd`] on its inotify fd, and its
//!   `poll_interval` look (files that appeared, copytruncate); the core's checkpoints go back
//!   to it in the drain step and are persisted every tick and at the stop;
//! - the core's next deadline ([`Collector::poll_timeout`]) as a `sleep_until`;
//! - a one-second tick: the `CLOCK_REALTIME - CLOCK_MONOTONIC` resample and the BPF drop
//!   counter;
//! - the stop signal.
//!
//! More monitors (a Kubernetes watch stream) are more branches of the same loop: a new field of
//! [`Daemon`] and its handler.
//!
//! The file monitor works inside its calls (reads, hashes, and a plugin's `VERSION` run of up
//! to `version_timeout` when a binary changed); the loop waits meanwhile, and the ring buffer
//! holds what comes.
//!
//! A current-thread runtime is enough, and the right size: the core is a single-owner state
//! machine, so every input is handled on this one task anyway; worker threads would add memory
//! and cross-thread wake-ups and run nothing in parallel. Writing standard output goes through
//! tokio's blocking pool, so a slow reader stalls the loop (as it stalls the threaded
//! runtime's core thread); meanwhile the kernel's ring buffer holds the records, and what it
//! cannot hold is counted by the BPF drop counter.

use std::future::Future;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::pin;
use std::time::Duration;

use anyhow::Context;
use proto::{Collector, MonoClock};
use tapio_cni_bpf::Probes;
use tapio_cni_collector_lite::config::Config;
use tapio_cni_collector_lite::files::FileMonitor;
use tapio_cni_collector_lite::offline::now;
use tapio_cni_collector_lite::proc::Scanner;
use tapio_cni_collector_lite::runloop::{
    drain, feed_files, feed_lines, handle_due_timeout, handle_record, proc_scanner, sample_clock,
    start, start_files, start_logs, until, warn_queue_drops, write_events, ProcessMonitor, Summary,
};
use tapio_cni_collector_lite::tail::{Batch, LogTailer};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncWrite, AsyncWriteExt, Interest};
use tokio::time::{Instant, Interval, MissedTickBehavior};

/// The monitors this daemon runs besides the eBPF one (`enable_*` keys of the config).
const RUNS: &[&str] = &["enable_file_monitoring", "enable_log_monitoring"];

/// How often the clock offset is resampled (NTP slews it; a step moves it) and the BPF drop
/// counter read.
const TICK: Duration = Duration::from_secs(1);
/// After a poll took records, how long more may gather before the next poll: a plugin
/// execution's records (exec, environment, stdin, stdout, exit, of it and its children) are then
/// taken in about one wake-up instead of one per record, which was most of the daemon's CPU.
/// Events come out as much later; the ring buffer holds what comes meanwhile. The threaded
/// runtime's poller does the same.
const GATHER: Duration = Duration::from_millis(50);
/// The output buffer kept between turns; a burst may grow it, and it shrinks back after.
const PENDING_KEPT: usize = 64 << 10;

/// Runs the daemon until `shutdown` completes, writing events to `out`; then takes what the
/// ring buffer still holds, closes every transaction still open (exit unknown,
/// [`Collector::handle_shutdown`]) and flushes.
///
/// # Errors
/// Probes that cannot be loaded or registered with the reactor, a failing ring buffer, or an
/// output that cannot be written.
pub async fn run(
    config: &Config,
    shutdown: impl Future<Output = ()>,
    out: impl AsyncWrite + Unpin,
) -> anyhow::Result<Summary> {
    let Some(monitor) = start(config, RUNS)? else {
        return Ok(Summary::default());
    };
    let mut daemon = Daemon::new(Collector::new(config.core()), out)?;
    match monitor {
        ProcessMonitor::Ebpf(probes) => daemon.ring = Some(register_probes(*probes)?),
        ProcessMonitor::Proc { reason } => {
            daemon.scanner = Some(proc_scanner(config, &reason)?);
            daemon.scan_poll = Some(every(config.poll_interval));
            daemon.fallback_reason = Some(reason);
        }
    }
    if config.enable_file_monitoring {
        daemon.files = Some(Files::start(config, &mut daemon.collector)?);
        daemon.files_poll = Some(every(config.poll_interval));
    }
    if config.enable_log_monitoring {
        daemon.logs = Some(Logs::start(config)?);
        daemon.logs_poll = Some(every(config.poll_interval));
    }
    daemon.serve(shutdown).await?;
    daemon.finish().await?;
    Ok(Summary {
        fallback_reason: daemon.fallback_reason.take(),
        scan: daemon
            .scanner
            .as_ref()
            .map(|s| s.stats().clone())
            .unwrap_or_default(),
        ..Summary::of(&daemon.collector, daemon.ring_buffer_full, 0)
    })
}

/// The task's state: the core, its input sources and its output.
struct Daemon<W> {
    collector: Collector,
    /// The eBPF process monitor; `None` on the /proc fallback.
    ring: Option<AsyncFd<Probes>>,
    /// The /proc fallback's scanner, its `poll_interval` and why it runs.
    scanner: Option<Scanner>,
    scan_poll: Option<Interval>,
    fallback_reason: Option<String>,
    clock: MonoClock,
    /// The config and plugin-directory monitor, when `enable_file_monitoring`.
    files: Option<Files>,
    /// Every `poll_interval`: a scan, when the file monitor needs one.
    files_poll: Option<Interval>,
    /// The plugin log tailer, when `enable_log_monitoring`.
    logs: Option<Logs>,
    /// Every `poll_interval`: the tailer's look at files inotify does not tell about.
    logs_poll: Option<Interval>,
    /// Until when the ring buffer is left to gather records (see [`GATHER`]).
    gathering: Option<Instant>,
    /// The BPF drop counter at its last reading.
    ring_buffer_full: u64,
    queue_drops_seen: u64,
    /// The JSON Lines of one turn, written out at its end.
    pending: Vec<u8>,
    out: W,
}

impl<W: AsyncWrite + Unpin> Daemon<W> {
    fn new(collector: Collector, out: W) -> anyhow::Result<Self> {
        Ok(Daemon {
            collector,
            ring: None,
            scanner: None,
            scan_poll: None,
            fallback_reason: None,
            files: None,
            files_poll: None,
            logs: None,
            logs_poll: None,
            gathering: None,
            clock: sample_clock()?,
            ring_buffer_full: 0,
            queue_drops_seen: 0,
            pending: Vec::with_capacity(PENDING_KEPT),
            out,
        })
    }

    /// The loop: one input per turn, then the drain step.
    async fn serve(&mut self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let mut shutdown = pin!(shutdown);
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let deadline = self
                .collector
                .poll_timeout()
                .map(|(at, _)| Instant::now() + until(at));
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                ready = ring_readable(self.ring.as_mut()), if self.gathering.is_none() => {
                    let mut guard = ready.context("waiting on the ring buffer")?;
                    let consumed = consume(
                        guard.get_inner_mut(),
                        &mut self.collector,
                        self.clock,
                        &mut self.pending,
                    )?;
                    // Cleared only when a poll found the ring empty: a batch may have stopped
                    // short of the end, and nothing would wake us for the rest.
                    if consumed == 0 {
                        guard.clear_ready();
                    } else {
                        self.gathering = Some(Instant::now() + GATHER);
                    }
                }
                () = sleep_until(self.gathering) => self.gathering = None,
                () = tick_of(self.scan_poll.as_mut()) => self.on_scan()?,
                ready = files_readable(self.files.as_ref()) => {
                    // Cleared first: what comes during the drain sets it again; what a bounded
                    // drain leaves is `Files::more`.
                    ready.context("waiting on inotify")?.clear_ready();
                    self.on_files_readable();
                }
                () = std::future::ready(()), if self.files.as_ref().is_some_and(|f| f.more) => {
                    self.on_files_readable();
                }
                () = tick_of(self.files_poll.as_mut()) => self.on_files_tick(),
                ready = logs_readable(self.logs.as_ref()) => {
                    ready.context("waiting on inotify")?.clear_ready();
                    self.on_logs(LogTailer::on_readable)?;
                }
                () = std::future::ready(()), if self.logs.as_ref().is_some_and(|l| l.more) => {
                    self.on_logs(LogTailer::on_readable)?;
                }
                () = tick_of(self.logs_poll.as_mut()) => self.on_logs(LogTailer::poll)?,
                () = sleep_until(deadline) => handle_due_timeout(&mut self.collector),
                _ = tick.tick() => self.on_tick()?,
            }
            self.drain().await?;
        }
    }

    /// After the stop: what the ring buffer and the inotify queue still hold, then everything
    /// the core still holds.
    async fn finish(&mut self) -> anyhow::Result<()> {
        if self.files.as_ref().is_some_and(|f| f.fd.is_some()) {
            self.on_files_readable();
        }
        if self.logs.is_some() {
            self.on_logs(LogTailer::on_readable)?;
        }
        if let Some(ring) = self.ring.as_mut() {
            while consume(
                ring.get_mut(),
                &mut self.collector,
                self.clock,
                &mut self.pending,
            )? > 0
            {}
        }
        self.read_drops();
        self.collector.handle_shutdown(now());
        self.drain().await?;
        self.persist_offsets();
        self.out.shutdown().await.context("writing events")
    }

    /// The /proc fallback: one scan, handed to the core.
    fn on_scan(&mut self) -> anyhow::Result<()> {
        let Some(scanner) = self.scanner.as_mut() else {
            return Ok(());
        };
        let snapshot = scanner.scan().context("listing /proc")?;
        self.collector.handle_proc_snapshot(now(), &snapshot);
        Ok(())
    }

    fn on_files_readable(&mut self) {
        let Some(files) = self.files.as_mut() else {
            return;
        };
        let changes = files.monitor.on_readable();
        feed_files(&mut self.collector, changes);
        files.after_read();
    }

    /// Reads with `read` (the tailer's drain or its periodic look) and feeds the lines.
    fn on_logs(&mut self, read: fn(&mut LogTailer) -> Batch) -> anyhow::Result<()> {
        let Some(logs) = self.logs.as_mut() else {
            return Ok(());
        };
        let batch = read(&mut logs.tailer);
        feed_lines(&mut self.collector, &batch, &mut self.pending)?;
        logs.more = batch.more()
            || logs
                .fd
                .as_ref()
                .is_some_and(|fd| still_readable(fd.get_ref()));
        Ok(())
    }

    /// Writes the tailer's checkpointed offsets (nothing when they did not move).
    fn persist_offsets(&mut self) {
        let Some(logs) = self.logs.as_mut() else {
            return;
        };
        if let Err(e) = logs.tailer.persist() {
            tracing::warn!("{e}: a restart may read some log lines again");
        }
    }

    fn on_files_tick(&mut self) {
        let Some(files) = self.files.as_mut() else {
            return;
        };
        if files.monitor.needs_polling() {
            let changes = files.monitor.scan();
            feed_files(&mut self.collector, changes);
            files.after_read();
        }
    }

    fn on_tick(&mut self) -> anyhow::Result<()> {
        self.clock = sample_clock()?;
        self.read_drops();
        warn_queue_drops(&self.collector, &mut self.queue_drops_seen);
        self.persist_offsets();
        Ok(())
    }

    fn read_drops(&mut self) {
        let Some(ring) = self.ring.as_ref() else {
            return;
        };
        match ring.get_ref().dropped() {
            Ok(n) if n > self.ring_buffer_full => {
                tracing::warn!(
                    lost = n - self.ring_buffer_full,
                    total = n,
                    "the BPF ring buffer was full: records lost (raise ring_buffer_size)"
                );
                self.ring_buffer_full = n;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("{e}"),
        }
    }

    /// The drain step: the events as JSON Lines, written and flushed; then the requests (the
    /// checkpoints, to the tailer).
    async fn drain(&mut self) -> anyhow::Result<()> {
        let mut tailer = self.logs.as_mut().map(|l| &mut l.tailer);
        drain(&mut self.collector, &mut self.pending, |source, offset| {
            if let Some(tailer) = tailer.as_mut() {
                tailer.checkpoint(source, offset);
            }
        })?;
        if self.pending.is_empty() {
            return Ok(());
        }
        self.out
            .write_all(&self.pending)
            .await
            .context("writing events")?;
        self.out.flush().await.context("writing events")?;
        self.pending.clear();
        self.pending.shrink_to(PENDING_KEPT);
        Ok(())
    }
}

/// The config and plugin-directory monitor, and its inotify fd in the reactor.
struct Files {
    monitor: FileMonitor,
    /// A duplicate of the monitor's inotify fd (the same open file), owned here so that the
    /// reactor never holds a number the monitor has closed; `None` while it polls.
    fd: Option<AsyncFd<OwnedFd>>,
    /// The last drain stopped at its bound with events still queued: drain again at once (no
    /// new readiness would come for them).
    more: bool,
}

impl Files {
    /// Starts the monitor (the start-up state goes to the core) and registers its fd.
    fn start(config: &Config, collector: &mut Collector) -> anyhow::Result<Files> {
        let monitor = start_files(config, collector)?;
        let fd = match monitor.fd() {
            Some(fd) => Some(register(
                fd.try_clone_to_owned()
                    .context("duplicating the inotify fd")?,
            )?),
            None => None,
        };
        Ok(Files {
            monitor,
            fd,
            more: false,
        })
    }

    /// After a drain or a scan: let go of the fd if the monitor fell back to polling, and see
    /// whether events are still queued.
    fn after_read(&mut self) {
        if self.monitor.fd().is_none() && self.fd.take().is_some() {
            tracing::warn!(
                "CNI config monitor polls from now on: {}",
                self.monitor.fallback().unwrap_or("inotify stopped")
            );
        }
        self.more = self
            .fd
            .as_ref()
            .is_some_and(|fd| still_readable(fd.get_ref()));
    }
}

/// The plugin log tailer, and its inotify fd in the reactor.
struct Logs {
    tailer: LogTailer,
    /// A duplicate of the tailer's inotify fd (see [`Files::fd`]); `None` when it polls.
    fd: Option<AsyncFd<OwnedFd>>,
    /// The last batch stopped at a budget or at the end of a file generation, or events are
    /// still queued: read again at once.
    more: bool,
}

impl Logs {
    fn start(config: &Config) -> anyhow::Result<Logs> {
        let tailer = start_logs(config)?;
        let fd = match tailer.fd() {
            Some(fd) => Some(register(
                fd.try_clone_to_owned()
                    .context("duplicating the inotify fd")?,
            )?),
            None => None,
        };
        // The first look reads what the files already hold (from the saved offsets).
        Ok(Logs {
            tailer,
            fd,
            more: true,
        })
    }
}

/// Readiness of the log tailer's inotify fd; never without one.
async fn logs_readable(
    logs: Option<&Logs>,
) -> std::io::Result<tokio::io::unix::AsyncFdReadyGuard<'_, OwnedFd>> {
    match logs.and_then(|l| l.fd.as_ref()) {
        Some(fd) => fd.readable().await,
        None => std::future::pending().await,
    }
}

/// The probes in the reactor, for the readability of their ring buffer.
fn register_probes(probes: Probes) -> anyhow::Result<AsyncFd<Probes>> {
    // SAFETY: the fd is the ring buffer's epoll instance, which `Probes` owns and closes only
    // when it drops; `AsyncFd` owns the `Probes` and deregisters the fd before dropping it, and
    // `as_raw_fd` returns that same fd for the whole life of the `Probes`.
    unsafe { AsyncFd::register_with_interest(probes, Interest::READABLE) }
        .map_err(std::io::Error::from)
        .context("registering the ring buffer with the reactor")
}

/// Readiness of the ring buffer; never without the probes.
async fn ring_readable(
    ring: Option<&mut AsyncFd<Probes>>,
) -> std::io::Result<tokio::io::unix::AsyncFdReadyMutGuard<'_, Probes>> {
    match ring {
        Some(ring) => ring.readable_mut().await,
        None => std::future::pending().await,
    }
}

/// Registers an fd this process owns with the reactor, for readability.
fn register(fd: OwnedFd) -> anyhow::Result<AsyncFd<OwnedFd>> {
    // SAFETY: an `OwnedFd` is open until it drops, which `AsyncFd` does only after
    // deregistering it, and its number never changes.
    unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
        .map_err(std::io::Error::from)
        .context("registering an fd with the reactor")
}

/// Whether `fd` has input waiting right now.
fn still_readable(fd: &OwnedFd) -> bool {
    let mut fds = [nix::poll::PollFd::new(
        fd.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO).is_ok_and(|n| n > 0)
}

/// Readiness of the file monitor's inotify fd; never without one.
async fn files_readable(
    files: Option<&Files>,
) -> std::io::Result<tokio::io::unix::AsyncFdReadyGuard<'_, OwnedFd>> {
    match files.and_then(|f| f.fd.as_ref()) {
        Some(fd) => fd.readable().await,
        None => std::future::pending().await,
    }
}

/// An interval whose first tick is one `period` from now.
fn every(period: Duration) -> Interval {
    let mut interval = tokio::time::interval_at(Instant::now() + period, period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval
}

/// The next tick of `interval`; never without one.
async fn tick_of(interval: Option<&mut Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// One non-blocking poll of the ring buffer into the core; returns how many records it took.
///
/// Events are serialised into `pending` after each record, as the threaded runtime does, so a
/// large batch cannot overflow the core's bounded event queue.
fn consume(
    probes: &mut Probes,
    collector: &mut Collector,
    clock: MonoClock,
    pending: &mut Vec<u8>,
) -> anyhow::Result<usize> {
    let mut written = Ok(());
    let n = probes
        .poll(Duration::ZERO, |bytes| {
            handle_record(collector, clock, bytes);
            if written.is_ok() {
                written = write_events(collector, pending);
            }
        })
        .context("polling the ring buffer")?;
    written?;
    Ok(n)
}

/// Completes at `deadline`, or never without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::process::Command;

    use tapio_cni_bpf::Options;
    use tokio::time::timeout;

    use super::*;

    /// A plugin directory of its own holding a copy of `true(1)`: only this test's execs of it
    /// reach the ring buffer, whatever else runs on the host.
    struct PluginDir(PathBuf);

    impl PluginDir {
        fn new() -> PluginDir {
            let dir = std::env::temp_dir().join(format!("tapio-tokio-unit-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("creating the plugin dir");
            std::fs::copy("/bin/true", dir.join("noop")).expect("copying /bin/true");
            PluginDir(dir)
        }

        fn run(&self) {
            let status = Command::new(self.0.join("noop"))
                .status()
                .expect("running the plugin");
            assert!(status.success());
        }
    }

    impl Drop for PluginDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    async fn is_ready(ring: &mut AsyncFd<Probes>, within: Duration) -> bool {
        match timeout(within, ring.readable_mut()).await {
            Ok(ready) => {
                // Dropped without clearing: a look that changes nothing.
                let _guard = ready.expect("waiting on the ring buffer");
                true
            }
            Err(_) => false,
        }
    }

    /// The readiness protocol on the real ring buffer: ready when records come, still ready
    /// while a poll finds some, cleared once a poll finds it empty, and ready again with the
    /// next records. Needs root and kernel BTF; fails (never skips) without them.
    #[tokio::test(flavor = "current_thread")]
    async fn ring_buffer_readiness_is_cleared_only_when_empty_and_comes_back() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test loads BPF programs and must run as root"
        );
        let plugins = PluginDir::new();
        let probes = Probes::load(&Options {
            plugin_dirs: vec![plugins.0.clone()],
            ring_buffer_bytes: 256 << 10,
        })
        .expect("loading the probes");
        // SAFETY: as in `Daemon::new`: `AsyncFd` owns the `Probes`, which own the fd.
        let mut ring = unsafe { AsyncFd::register_with_interest(probes, Interest::READABLE) }
            .map_err(std::io::Error::from)
            .expect("registering the ring buffer");
        let mut collector = Collector::new(proto::Config::default());
        let mut pending = Vec::new();
        let clock = sample_clock().expect("the clock");
        let short = Duration::from_millis(300);
        assert!(!is_ready(&mut ring, short).await, "nothing ran yet");

        let mut total = 0;
        for round in 0..2 {
            plugins.run();
            let mut guard = timeout(Duration::from_secs(5), ring.readable_mut())
                .await
                .unwrap_or_else(|_| panic!("round {round}: no readiness after the exec"))
                .expect("waiting on the ring buffer");
            let n = consume(guard.get_inner_mut(), &mut collector, clock, &mut pending)
                .expect("polling");
            // At least its exec and its exit.
            assert!(n >= 2, "round {round}: {n} records");
            total += n;
            drop(guard);
            assert!(
                is_ready(&mut ring, Duration::ZERO).await,
                "round {round}: still ready until a poll finds the ring empty"
            );
            let mut guard = ring
                .readable_mut()
                .await
                .expect("waiting on the ring buffer");
            assert_eq!(
                consume(guard.get_inner_mut(), &mut collector, clock, &mut pending)
                    .expect("polling"),
                0
            );
            guard.clear_ready();
            assert!(!is_ready(&mut ring, short).await, "round {round}: cleared");
        }
        assert_eq!(collector.stats().bpf.records, u64::try_from(total).unwrap());
        assert_eq!(ring.get_ref().dropped().expect("the drop counter"), 0);
    }
}
