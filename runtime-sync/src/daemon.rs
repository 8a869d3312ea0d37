//! `run`: the daemon on plain threads.
//!
//! - The **process monitor** thread is either the poller, which owns the [`Probes`]: it waits
//!   on the ring buffer (a short timeout, so it sees shutdown promptly), copies each record and
//!   sends it with the sampled [`MonoClock`] over a bounded channel. A full channel is waited on
//!   briefly, then the record is dropped and counted: the poller never blocks for long, or the
//!   kernel's ring buffer would overflow instead, silently to the records that follow.
//!   Or, when the probes cannot run ([`ProcessMonitor::choose`] says why), the scanner, which
//!   owns the [`Scanner`]: every `poll_interval` it scans /proc and sends the snapshot over the
//!   same channel. A snapshot is state, not a record: on a full channel it waits (nothing
//!   overflows meanwhile) instead of dropping it.
//! - The **waker** thread waits with poll(2) on the inotify fds of the CNI config monitor
//!   ([`FileMonitor`]) and the log tailer ([`LogTailer`]) and tells the core thread which is
//!   readable; it then waits for the core thread to have read before it polls again (the fd
//!   stays readable until then).
//! - The **core** thread (the caller's) owns the [`Collector`], the file monitor and the log
//!   tailer: it feeds records, snapshots, file changes and log lines to the core, looks at the
//!   log files and (when inotify cannot) the config dirs every `poll_interval`, fires
//!   [`Collector::poll_timeout`] deadlines, hands the core's offset checkpoints back to the
//!   tailer (persisted every second and at the stop), drains events and writes them as JSON
//!   Lines to standard output, flushed after each batch.
//!
//! SIGINT/SIGTERM set a flag; the monitor threads take what is left and hang up; the core
//! thread handles everything still in the channel, reads what the log files and the inotify
//! queue still hold, closes every transaction still open (its exit unknown,
//! [`Collector::handle_shutdown`]), flushes, persists the log offsets and returns.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use crossbeam_channel::{RecvTimeoutError, SendTimeoutError, TrySendError};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use proto::proc::Snapshot;
use proto::{Collector, MonoClock, Timestamp};
use tapio_cni_bpf::Probes;

use crate::config::Config;
use crate::files::FileMonitor;
use crate::offline::now;
use crate::proc::{ScanStats, Scanner};
pub use crate::runloop::ProcessMonitor;
use crate::runloop::{
    drain, feed_files, feed_lines, finish, handle_due_timeout, handle_record, install_stop_signals,
    proc_scanner, start, start_files, start_logs, until, warn_queue_drops, write_events,
};
// Where they were before both daemons shared them.
pub use crate::runloop::{sample_clock, Summary};
use crate::tail::{Batch, LogTailer};

use inbox::{Receiver, Sender};

mod inbox;

/// The monitors this daemon runs besides the process monitor (`enable_*` keys of the config).
const RUNS: &[&str] = &["enable_file_monitoring", "enable_log_monitoring"];

/// How long the poller waits on the ring buffer before it looks at the shutdown flag.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);
/// After records came, how long the poller lets more gather before it takes them: a plugin
/// execution's records then cross to the core in one wake-up of each thread instead of one per
/// record, and several executions share one. The wake-ups are the daemon's main CPU cost (in
/// the exec-storm bench: 0.75 ms of CPU per bridge ADD or DEL with none, 0.16 ms with 50 ms,
/// about half that with this). Events come out as much later.
const GATHER: Duration = Duration::from_millis(200);
/// While gathering, how often the poller looks how full the ring buffer is: a quarter full,
/// it takes the records at once. So a burst has a ring's worth of room for this long, as
/// before the gathering grew past it (4 KiB records: the default 4 MiB ring takes 50 ms of
/// about 1,500 plugin executions a second).
const GATHER_STEP: Duration = Duration::from_millis(50);
/// How long the poller waits on a full channel before it drops a record.
const SEND_TIMEOUT: Duration = Duration::from_millis(20);
/// How often `CLOCK_REALTIME - CLOCK_MONOTONIC` is re-sampled (NTP slews it; a step moves it).
const CLOCK_RESAMPLE: Duration = Duration::from_secs(1);
/// How often the BPF drop counter is read.
const DROPS_EVERY: Duration = Duration::from_secs(1);
/// The longest the core thread sleeps without a deadline (to notice counters, and hang-ups).
const IDLE_WAKE: Duration = Duration::from_secs(1);
/// How often the log offsets the core checkpointed are written to the state file.
const PERSIST_EVERY: Duration = Duration::from_secs(1);
/// Records handled between two flushes of the output, at most.
const BATCH: usize = 4096;
/// Ring-buffer records per message to the core, at most. One message per poll (a plugin run
/// is about 13 records) wakes the core thread once instead of once per record; the bound
/// keeps `record_channel_capacity` a bound on records (the channel holds that many divided
/// by this).
const RECORDS_PER_MESSAGE: usize = 64;

/// Ring-buffer records on their way to the core, from one poll.
#[derive(Debug)]
pub struct RecordReceived {
    pub clock: MonoClock,
    /// The records, back to back.
    pub bytes: Vec<u8>,
    /// Where each record ends in `bytes`.
    pub ends: Vec<usize>,
}

impl RecordReceived {
    /// The records, in ring-buffer order.
    pub fn records(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .map(|(start, &end)| &self.bytes[start..end])
    }
}

/// What the monitor threads send the core thread.
#[derive(Debug)]
pub enum Input {
    Record(RecordReceived),
    /// A scan of /proc, taken at `at`. Boxed: every slot of the channel's queue has
    /// the size of the largest input.
    Snapshot {
        at: Timestamp,
        snapshot: Box<Snapshot>,
    },
    /// An inotify fd is readable: the file monitor's, the log tailer's, or both.
    Readable(Watched),
}

/// Which inotify fds the waker watches, or found readable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Watched {
    pub files: bool,
    pub logs: bool,
}

/// Drop counters shared by the threads.
#[derive(Debug, Default)]
pub struct Drops {
    /// Records the kernel could not put in the full ring buffer (the BPF per-CPU counter).
    pub ring_buffer_full: AtomicU64,
    /// Records dropped because the channel to the core stayed full.
    pub channel_full: AtomicU64,
}

/// Runs the daemon until `stop` is set, writing events to `out`.
///
/// # Errors
/// A configuration this build cannot run, a monitor that cannot start, or an output that
/// cannot be written.
pub fn run(config: &Config, stop: &Arc<AtomicBool>, out: impl Write) -> anyhow::Result<Summary> {
    let Some(monitor) = start(config, RUNS)? else {
        return Ok(Summary::default());
    };
    let mut collector = Collector::new(config.core());
    let mut monitors = Monitors {
        files: None,
        logs: None,
        poll_interval: config.poll_interval,
        next_poll: Instant::now() + config.poll_interval,
        next_persist: Instant::now() + PERSIST_EVERY,
        acks: None,
    };
    if config.enable_file_monitoring {
        monitors.files = Some(start_files(config, &mut collector)?);
    }
    if config.enable_log_monitoring {
        monitors.logs = Some(start_logs(config)?);
    }

    let drops = Arc::new(Drops::default());
    let capacity = match &monitor {
        ProcessMonitor::Ebpf(_) => config
            .record_channel_capacity
            .div_ceil(RECORDS_PER_MESSAGE)
            .max(1),
        ProcessMonitor::Proc { .. } => config.record_channel_capacity,
    };
    let (tx, rx) = inbox::bounded(capacity);
    let waker = monitors.start_waker(&tx, stop)?;
    let fallback_reason = match &monitor {
        ProcessMonitor::Ebpf(_) => None,
        ProcessMonitor::Proc { reason } => Some(reason.clone()),
    };
    let worker = match monitor {
        ProcessMonitor::Ebpf(probes) => {
            let stop = Arc::clone(stop);
            let drops = Arc::clone(&drops);
            thread::Builder::new()
                .name("bpf-poller".to_owned())
                .spawn(move || {
                    poll_ring(*probes, &tx, &stop, &drops)?;
                    Ok(ScanStats::default())
                })
                .context("starting the poller thread")?
        }
        ProcessMonitor::Proc { reason } => start_scanner(config, &reason, tx, stop)?,
    };
    let result = drive(&mut collector, &rx, &drops, &mut monitors, out);
    // On an output error, stop the monitor threads too; they then hang up.
    stop.store(true, Ordering::SeqCst);
    drop(rx);
    drop(monitors.acks.take());
    let scan = worker
        .join()
        .map_err(|_| anyhow::anyhow!("the process monitor thread panicked"))?;
    if let Some(waker) = waker {
        waker
            .join()
            .map_err(|_| anyhow::anyhow!("the waker thread panicked"))?;
    }
    result?;
    let mut summary = Summary::of(
        &collector,
        drops.ring_buffer_full.load(Ordering::Relaxed),
        drops.channel_full.load(Ordering::Relaxed),
    );
    summary.fallback_reason = fallback_reason;
    summary.scan = scan?;
    Ok(summary)
}

/// The file monitor and the log tailer, owned by the core thread.
struct Monitors {
    files: Option<FileMonitor>,
    logs: Option<LogTailer>,
    poll_interval: Duration,
    /// When the log files (and, when inotify cannot, the config dirs) are looked at next.
    next_poll: Instant,
    /// When the checkpointed log offsets are written next.
    next_persist: Instant,
    /// Tells the waker the core thread has read what it woke it for, and which fds it should
    /// still watch.
    acks: Option<Sender<Watched>>,
}

impl Monitors {
    /// Starts the waker thread on duplicates of the monitors' inotify fds (the same open
    /// files, owned by the thread); `None` when neither has one.
    fn start_waker(
        &mut self,
        tx: &Sender<Input>,
        stop: &Arc<AtomicBool>,
    ) -> anyhow::Result<Option<thread::JoinHandle<()>>> {
        let dup = |fd: Option<std::os::fd::BorrowedFd<'_>>| {
            fd.map(|fd| fd.try_clone_to_owned())
                .transpose()
                .context("duplicating an inotify fd")
        };
        let files = dup(self.files.as_ref().and_then(FileMonitor::fd))?;
        let logs = dup(self.logs.as_ref().and_then(LogTailer::fd))?;
        if files.is_none() && logs.is_none() {
            return Ok(None);
        }
        let (acks, acks_rx) = inbox::bounded(1);
        self.acks = Some(acks);
        let tx = tx.clone();
        let stop = Arc::clone(stop);
        thread::Builder::new()
            .name("inotify-waker".to_owned())
            .spawn(move || wake(files, logs, &tx, &acks_rx, &stop))
            .map(Some)
            .context("starting the waker thread")
    }

    /// Reads what woke the waker, then lets it poll again.
    fn on_readable(
        &mut self,
        collector: &mut Collector,
        readable: Watched,
        out: &mut impl Write,
    ) -> anyhow::Result<()> {
        if readable.files {
            if let Some(files) = self.files.as_mut() {
                feed_files(collector, files.on_readable());
            }
        }
        if readable.logs {
            self.read_logs(collector, LogTailer::on_readable, out)?;
        }
        if let Some(acks) = &self.acks {
            let still = Watched {
                files: self.files.as_ref().is_some_and(|f| f.fd().is_some()),
                logs: self.logs.as_ref().is_some_and(|l| l.fd().is_some()),
            };
            // A waker already gone has stopped; nothing waits for the answer.
            let _ = acks.send(still);
        }
        Ok(())
    }

    /// Reads log lines with `read` (the tailer's drain or its periodic look) until a batch
    /// says nothing more is waiting. The core's checkpoints go back to the tailer after each
    /// batch: a batch never holds two generations of one file, so they belong to it.
    fn read_logs(
        &mut self,
        collector: &mut Collector,
        read: fn(&mut LogTailer) -> Batch,
        out: &mut impl Write,
    ) -> anyhow::Result<()> {
        let Some(tailer) = self.logs.as_mut() else {
            return Ok(());
        };
        loop {
            let batch = read(tailer);
            feed_lines(collector, &batch, out)?;
            let more = batch.more();
            drop(batch);
            drain(collector, out, |source, offset| {
                tailer.checkpoint(source, offset);
            })?;
            if !more {
                return Ok(());
            }
        }
    }

    /// The periodic work that is due: the tailer's look at the files (files that appeared,
    /// copytruncate, the polling fallback), the config monitor's scan when it cannot rely on
    /// inotify, and writing the offsets.
    fn on_time(&mut self, collector: &mut Collector, out: &mut impl Write) -> anyhow::Result<()> {
        let now = Instant::now();
        if now >= self.next_poll {
            self.next_poll = now + self.poll_interval;
            self.read_logs(collector, LogTailer::poll, out)?;
            if let Some(files) = self.files.as_mut().filter(|f| f.needs_polling()) {
                feed_files(collector, files.scan());
            }
        }
        if now >= self.next_persist {
            self.next_persist = now + PERSIST_EVERY;
            self.persist();
        }
        Ok(())
    }

    /// What the log files and the config monitor's inotify queue still hold, at the stop.
    fn last_reads(
        &mut self,
        collector: &mut Collector,
        out: &mut impl Write,
    ) -> anyhow::Result<()> {
        if let Some(files) = self.files.as_mut().filter(|f| f.fd().is_some()) {
            feed_files(collector, files.on_readable());
        }
        self.read_logs(collector, LogTailer::on_readable, out)
    }

    /// Writes the tailer's checkpointed offsets (nothing when they did not move).
    fn persist(&mut self) {
        if let Some(tailer) = self.logs.as_mut() {
            if let Err(e) = tailer.persist() {
                tracing::warn!("{e}: a restart may read some log lines again");
            }
        }
    }

    /// When [`on_time`](Self::on_time) has work next.
    fn next_due(&self) -> Instant {
        if self.logs.is_none() && self.files.is_none() {
            return Instant::now() + IDLE_WAKE;
        }
        self.next_poll.min(self.next_persist)
    }
}

/// The waker thread: poll(2) on the inotify fds; on readiness, tell the core thread and wait
/// until it has read (or poll would report the same readiness again and again).
fn wake(
    mut files: Option<OwnedFd>,
    mut logs: Option<OwnedFd>,
    tx: &Sender<Input>,
    acks: &Receiver<Watched>,
    stop: &AtomicBool,
) {
    let timeout = PollTimeout::try_from(POLL_TIMEOUT).unwrap_or(PollTimeout::MAX);
    while !stop.load(Ordering::SeqCst) && (files.is_some() || logs.is_some()) {
        let mut fds = Vec::with_capacity(2);
        fds.extend(
            files
                .as_ref()
                .map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN)),
        );
        fds.extend(
            logs.as_ref()
                .map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN)),
        );
        match nix::poll::poll(&mut fds, timeout) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!("waiting on inotify: {e}; the monitors poll from now on");
                return;
            }
        }
        let is_readable = |fd: &PollFd<'_>| {
            fd.revents()
                .is_some_and(|r| r.intersects(PollFlags::POLLIN | PollFlags::POLLERR))
        };
        let mut readable = fds.iter().map(is_readable);
        let readable = Watched {
            files: files.is_some() && readable.next().unwrap_or(false),
            logs: logs.is_some() && readable.next().unwrap_or(false),
        };
        drop(fds);
        if tx.send(Input::Readable(readable)).is_err() {
            return;
        }
        let still = loop {
            match acks.recv_timeout(POLL_TIMEOUT) {
                Ok(still) => break still,
                Err(RecvTimeoutError::Timeout) if !stop.load(Ordering::SeqCst) => {}
                Err(_) => return,
            }
        };
        // A monitor that fell back to polling no longer reads its fd: stop watching it.
        if !still.files {
            files = None;
        }
        if !still.logs {
            logs = None;
        }
    }
}

/// Starts the /proc fallback's scanner thread, saying once why it runs instead of the probes.
fn start_scanner(
    config: &Config,
    reason: &str,
    tx: Sender<Input>,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<thread::JoinHandle<anyhow::Result<ScanStats>>> {
    let interval = config.poll_interval;
    let scanner = proc_scanner(config, reason)?;
    let stop = Arc::clone(stop);
    thread::Builder::new()
        .name("proc-scanner".to_owned())
        .spawn(move || scan_proc(scanner, interval, &tx, &stop))
        .context("starting the /proc scanner thread")
}

/// The scanner thread: a snapshot every `interval`, until `stop`; then hang up.
fn scan_proc(
    mut scanner: Scanner,
    interval: Duration,
    tx: &Sender<Input>,
    stop: &AtomicBool,
) -> anyhow::Result<ScanStats> {
    let mut next = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let snapshot = scanner.scan().context("listing /proc")?;
        let mut input = Input::Snapshot {
            at: now(),
            snapshot: Box::new(snapshot),
        };
        loop {
            match tx.send_timeout(input, POLL_TIMEOUT) {
                Ok(()) => break,
                Err(SendTimeoutError::Timeout(back)) if !stop.load(Ordering::SeqCst) => {
                    input = back;
                }
                Err(_) => return Ok(scanner.stats().clone()),
            }
        }
        next += interval;
        let current = Instant::now();
        if next < current {
            // Behind (a scan took longer than the interval): the next one starts at once.
            next = current;
        }
        // In slices, so that a stop is seen promptly whatever the interval.
        while !stop.load(Ordering::SeqCst) && Instant::now() < next {
            thread::sleep((next - Instant::now()).min(POLL_TIMEOUT));
        }
    }
    Ok(scanner.stats().clone())
}

/// The poller thread: ring buffer → channel, until `stop`; then a last drain, and hang up.
fn poll_ring(
    mut probes: Probes,
    tx: &Sender<Input>,
    stop: &AtomicBool,
    drops: &Drops,
) -> anyhow::Result<()> {
    let mut clock = sample_clock()?;
    let mut clock_at = Instant::now();
    let mut drops_at = Instant::now();
    let mut outbox = Outbox::default();
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        if clock_at.elapsed() >= CLOCK_RESAMPLE {
            clock = sample_clock()?;
            clock_at = Instant::now();
        }
        // When stopping, take what is left without waiting.
        let timeout = if stopping {
            Duration::ZERO
        } else {
            POLL_TIMEOUT
        };
        let n = probes.poll(timeout, |bytes| outbox.push(bytes, clock, tx, drops))?;
        outbox.send(clock, tx, drops);
        if stopping || drops_at.elapsed() >= DROPS_EVERY {
            read_drops(&probes, drops);
            drops_at = Instant::now();
        }
        if stopping && n == 0 {
            return Ok(());
        }
        if n > 0 && !stopping {
            gather(&probes, stop);
        }
    }
}

/// Lets records gather in the ring buffer for up to [`GATHER`]: less once it is a quarter full,
/// or when stopping.
fn gather(probes: &Probes, stop: &AtomicBool) {
    let started = Instant::now();
    while started.elapsed() < GATHER && !stop.load(Ordering::SeqCst) {
        thread::sleep(GATHER_STEP);
        let (pending, size) = probes.ring_fill();
        if pending >= size / 4 {
            return;
        }
    }
}

/// The records of one poll, staged until a message is full or the poll ends.
#[derive(Default)]
struct Outbox {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    hung_up: bool,
}

impl Outbox {
    fn push(&mut self, record: &[u8], clock: MonoClock, tx: &Sender<Input>, drops: &Drops) {
        self.bytes.extend_from_slice(record);
        self.ends.push(self.bytes.len());
        if self.ends.len() >= RECORDS_PER_MESSAGE {
            self.send(clock, tx, drops);
        }
    }

    /// Sends what is staged as one message. The buffers go with it, not a copy; the next ones
    /// start at this poll's size, so a steady flow of records grows no buffer twice.
    fn send(&mut self, clock: MonoClock, tx: &Sender<Input>, drops: &Drops) {
        if self.ends.is_empty() || self.hung_up {
            self.bytes.clear();
            self.ends.clear();
            return;
        }
        let bytes = Vec::with_capacity(self.bytes.len());
        let ends = Vec::with_capacity(self.ends.len());
        let records = RecordReceived {
            clock,
            bytes: std::mem::replace(&mut self.bytes, bytes),
            ends: std::mem::replace(&mut self.ends, ends),
        };
        let count = records.ends.len() as u64;
        match forward(tx, Input::Record(records)) {
            Forwarded::Sent => {}
            Forwarded::Dropped => {
                drops.channel_full.fetch_add(count, Ordering::Relaxed);
            }
            Forwarded::HungUp => self.hung_up = true,
        }
    }
}

/// What became of a record handed to [`forward`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Forwarded {
    Sent,
    /// The channel stayed full for [`SEND_TIMEOUT`]: dropped.
    Dropped,
    /// The core is gone.
    HungUp,
}

/// Sends a record to the core, waiting at most [`SEND_TIMEOUT`] on a full channel.
fn forward<T>(tx: &Sender<T>, record: T) -> Forwarded {
    let record = match tx.try_send(record) {
        Ok(()) => return Forwarded::Sent,
        Err(TrySendError::Full(r)) => r,
        Err(TrySendError::Disconnected(_)) => return Forwarded::HungUp,
    };
    match tx.send_timeout(record, SEND_TIMEOUT) {
        Ok(()) => Forwarded::Sent,
        Err(SendTimeoutError::Timeout(_)) => Forwarded::Dropped,
        Err(SendTimeoutError::Disconnected(_)) => Forwarded::HungUp,
    }
}

fn read_drops(probes: &Probes, drops: &Drops) {
    match probes.dropped() {
        Ok(n) => {
            let before = drops.ring_buffer_full.swap(n, Ordering::Relaxed);
            if n > before {
                tracing::warn!(
                    lost = n - before,
                    total = n,
                    "the BPF ring buffer was full: records lost (raise ring_buffer_size)"
                );
            }
        }
        Err(e) => tracing::warn!("{e}"),
    }
}

/// The core thread: channel → collector → output, until the monitor threads hang up.
fn drive(
    collector: &mut Collector,
    rx: &Receiver<Input>,
    drops: &Drops,
    monitors: &mut Monitors,
    out: impl Write,
) -> anyhow::Result<()> {
    let mut out = BufWriter::with_capacity(64 << 10, out);
    let mut channel_drops_seen = 0;
    let mut queue_drops_seen = 0;
    // The first look reads what the log files already hold past the saved offsets.
    monitors.read_logs(collector, LogTailer::poll, &mut out)?;
    loop {
        let due = monitors
            .next_due()
            .saturating_duration_since(Instant::now());
        let wait = collector
            .poll_timeout()
            .map_or(IDLE_WAKE, |(deadline, _)| until(deadline).min(IDLE_WAKE))
            .min(due);
        let hung_up = match rx.recv_timeout(wait) {
            Ok(first) => {
                handle(collector, monitors, first, &mut out)?;
                // Take what else is waiting, up to a batch, before writing.
                for input in rx.try_iter().take(BATCH) {
                    handle(collector, monitors, input, &mut out)?;
                    write_events(collector, &mut out)?;
                }
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        handle_due_timeout(collector);
        monitors.on_time(collector, &mut out)?;
        if hung_up {
            monitors.last_reads(collector, &mut out)?;
            collector.handle_shutdown(now());
        }
        drain(collector, &mut out, |source, offset| {
            if let Some(tailer) = monitors.logs.as_mut() {
                tailer.checkpoint(source, offset);
            }
        })?;
        out.flush().context("writing events")?;

        let channel_drops = drops.channel_full.load(Ordering::Relaxed);
        if channel_drops > channel_drops_seen {
            tracing::warn!(
                lost = channel_drops - channel_drops_seen,
                total = channel_drops,
                "the record channel was full: records lost (raise record_channel_capacity)"
            );
            channel_drops_seen = channel_drops;
        }
        warn_queue_drops(collector, &mut queue_drops_seen);
        if hung_up {
            monitors.persist();
            return Ok(());
        }
    }
}

fn handle(
    collector: &mut Collector,
    monitors: &mut Monitors,
    input: Input,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    match input {
        Input::Record(records) => {
            // Events leave after each record, so a batch cannot overflow the core's queue.
            for record in records.records() {
                handle_record(collector, records.clock, record);
                write_events(collector, out)?;
            }
        }
        Input::Snapshot { at, snapshot } => collector.handle_proc_snapshot(at, &snapshot),
        Input::Readable(readable) => monitors.on_readable(collector, readable, out)?,
    }
    Ok(())
}

/// Runs `run` for the binary: signals, logging, the summary; standard output for events.
///
/// # Errors
/// As [`run`]; a signal handler that cannot be installed.
pub fn main(config: &Config) -> anyhow::Result<()> {
    let stop = install_stop_signals()?;
    finish(run(config, &stop, io::stdout().lock()))
}

/// Sends the daemon's own logs to stderr at `level`.
pub fn init_logging(level: tracing::Level) {
    let _ = tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_max_level(level)
        .with_target(false)
        .with_ansi(io::stderr().is_terminal())
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u8) -> Input {
        Input::Record(RecordReceived {
            clock: MonoClock::default(),
            bytes: vec![n],
            ends: vec![1],
        })
    }

    fn records_of(input: Input) -> Vec<Vec<u8>> {
        let Input::Record(records) = input else {
            panic!("not records: {input:?}");
        };
        records.records().map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn a_full_channel_drops_without_blocking_for_long() {
        let (tx, rx) = inbox::bounded(1);
        assert_eq!(forward(&tx, record(1)), Forwarded::Sent);
        let started = Instant::now();
        assert_eq!(forward(&tx, record(2)), Forwarded::Dropped);
        assert!(
            started.elapsed() < SEND_TIMEOUT * 10,
            "{:?}",
            started.elapsed()
        );
        assert_eq!(records_of(rx.recv_timeout(Duration::ZERO).unwrap()), [[1]]);
        assert_eq!(forward(&tx, record(3)), Forwarded::Sent);
        drop(rx);
        assert_eq!(forward(&tx, record(4)), Forwarded::HungUp);
    }

    #[test]
    fn one_poll_is_one_message_and_a_dropped_message_counts_its_records() {
        let drops = Drops::default();
        let (tx, rx) = inbox::bounded(1);
        let clock = MonoClock::default();
        let mut outbox = Outbox::default();
        outbox.push(b"ab", clock, &tx, &drops);
        outbox.push(b"", clock, &tx, &drops);
        outbox.push(b"cde", clock, &tx, &drops);
        outbox.send(clock, &tx, &drops);
        outbox.push(b"f", clock, &tx, &drops);
        outbox.push(b"g", clock, &tx, &drops);
        outbox.send(clock, &tx, &drops);
        assert_eq!(drops.channel_full.load(Ordering::Relaxed), 2);
        let first = records_of(rx.try_iter().next().unwrap());
        assert_eq!(first, [b"ab".to_vec(), Vec::new(), b"cde".to_vec()]);
        assert!(rx.try_iter().next().is_none());
    }

    #[test]
    fn a_long_poll_is_split_into_bounded_messages() {
        let drops = Drops::default();
        let (tx, rx) = inbox::bounded(2 * RECORDS_PER_MESSAGE);
        let clock = MonoClock::default();
        let mut outbox = Outbox::default();
        for n in 0..=RECORDS_PER_MESSAGE {
            outbox.push(&[n as u8], clock, &tx, &drops);
        }
        outbox.send(clock, &tx, &drops);
        let sizes: Vec<usize> = rx.try_iter().map(|m| records_of(m).len()).collect();
        assert_eq!(sizes, [RECORDS_PER_MESSAGE, 1]);
        assert_eq!(drops.channel_full.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_snapshot_does_not_grow_the_channel_slots() {
        assert!(
            std::mem::size_of::<Input>() <= std::mem::size_of::<RecordReceived>() + 8,
            "{} bytes",
            std::mem::size_of::<Input>()
        );
    }
}
