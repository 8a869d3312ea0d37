//! `run`: the daemon on two plain threads.
//!
//! The process monitor is the eBPF probes when they load, else the /proc fallback
//! ([`ProcessMonitor::choose`] says which, and why):
//! - The **poller** owns the [`Probes`]: it waits on the ring buffer (a short timeout, so it sees
//!   shutdown promptly), copies each record and sends it with the sampled [`MonoClock`] over a
//!   bounded channel. A full channel is waited on briefly, then the record is dropped and
//!   counted: the poller never blocks for long, or the kernel's ring buffer would overflow
//!   instead, silently to the records that follow.
//! - Or the **scanner** owns the [`Scanner`]: every `poll_interval` it scans /proc and sends the
//!   snapshot over the same channel. A snapshot is state, not a record: on a full channel it
//!   waits (nothing overflows meanwhile) instead of dropping it.
//! - The **core** thread (the caller's) owns the [`Collector`]: it feeds records, fires
//!   [`Collector::poll_timeout`] deadlines, drains events and writes them as JSON Lines to
//!   standard output, flushed after each batch.
//!
//! SIGINT/SIGTERM set a flag; the poller drains what the ring buffer holds and hangs up; the
//! core handles everything still in the channel, closes every transaction still open (its exit
//! unknown, [`Collector::handle_shutdown`]), flushes and
//! returns.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use crossbeam_channel::{Receiver, RecvTimeoutError, SendTimeoutError, Sender, TrySendError};
use proto::proc::Snapshot;
use proto::{Collector, MonoClock, Timestamp};
use tapio_cni_bpf::Probes;

use crate::config::Config;
use crate::offline::now;
use crate::proc::{ScanStats, Scanner};
use crate::runloop::{
    drain, handle_due_timeout, handle_record, install_stop_signals, is_broken_pipe, proc_scanner,
    start, until, warn_queue_drops, write_events,
};
// Where they were before both daemons shared them.
pub use crate::runloop::{sample_clock, ProcessMonitor, Summary};

/// How long the poller waits on the ring buffer before it looks at the shutdown flag.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);
/// After records came, how long the poller lets more gather before it takes them: a plugin
/// execution's records then cross to the core in about one wake-up of each thread instead of
/// one per record (those wake-ups were the daemon's main CPU cost: 0.75 ms of CPU per bridge
/// ADD or DEL without this, 0.16 ms with it). Events come out as much later; the ring buffer
/// holds what comes meanwhile (4 KiB records: the default 4 MiB ring takes 50 ms of about
/// 1,500 plugin executions a second).
const GATHER: Duration = Duration::from_millis(50);
/// How long the poller waits on a full channel before it drops a record.
const SEND_TIMEOUT: Duration = Duration::from_millis(20);
/// How often `CLOCK_REALTIME - CLOCK_MONOTONIC` is re-sampled (NTP slews it; a step moves it).
const CLOCK_RESAMPLE: Duration = Duration::from_secs(1);
/// How often the BPF drop counter is read.
const DROPS_EVERY: Duration = Duration::from_secs(1);
/// The longest the core thread sleeps without a deadline (to notice counters, and hang-ups).
const IDLE_WAKE: Duration = Duration::from_secs(1);
/// Records handled between two flushes of the output, at most.
const BATCH: usize = 4096;

/// A ring-buffer record on its way to the core.
#[derive(Debug)]
pub struct RecordReceived {
    pub clock: MonoClock,
    pub bytes: Vec<u8>,
}

/// What the monitor threads send the core thread.
#[derive(Debug)]
pub enum Input {
    Record(RecordReceived),
    /// A scan of /proc, taken at `at`. Boxed: the channel allocates every slot up front, at
    /// the size of the largest input.
    Snapshot {
        at: Timestamp,
        snapshot: Box<Snapshot>,
    },
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
/// Probes that cannot be loaded, or an output that cannot be written.
pub fn run(config: &Config, stop: &Arc<AtomicBool>, out: impl Write) -> anyhow::Result<Summary> {
    let Some(monitor) = start(config, &[])? else {
        return Ok(Summary::default());
    };
    let drops = Arc::new(Drops::default());
    let (tx, rx) = crossbeam_channel::bounded(config.record_channel_capacity);
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
    let mut collector = Collector::new(config.core());
    let result = drive(&mut collector, &rx, &drops, out);
    // On an output error, stop the monitor thread too; it then hangs up.
    stop.store(true, Ordering::SeqCst);
    drop(rx);
    let scan = worker
        .join()
        .map_err(|_| anyhow::anyhow!("the process monitor thread panicked"))?;
    result?;
    let scan = scan?;

    Ok(Summary {
        fallback_reason,
        scan,
        ..Summary::of(
            &collector,
            drops.ring_buffer_full.load(Ordering::Relaxed),
            drops.channel_full.load(Ordering::Relaxed),
        )
    })
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
    let mut hung_up = false;
    let mut send = |bytes: &[u8], clock: MonoClock| {
        if hung_up {
            return;
        }
        let record = RecordReceived {
            clock,
            bytes: bytes.to_vec(),
        };
        hung_up = forward(tx, Input::Record(record), drops) == Forwarded::HungUp;
    };
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
        let n = probes.poll(timeout, |bytes| send(bytes, clock))?;
        if stopping || drops_at.elapsed() >= DROPS_EVERY {
            read_drops(&probes, drops);
            drops_at = Instant::now();
        }
        if stopping && n == 0 {
            return Ok(());
        }
        if n > 0 && !stopping {
            thread::sleep(GATHER);
        }
    }
}

/// What became of a record handed to [`forward`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Forwarded {
    Sent,
    /// The channel stayed full for [`SEND_TIMEOUT`]: dropped and counted.
    Dropped,
    /// The core is gone.
    HungUp,
}

/// Sends a record to the core, waiting at most [`SEND_TIMEOUT`] on a full channel.
fn forward<T>(tx: &Sender<T>, record: T, drops: &Drops) -> Forwarded {
    let record = match tx.try_send(record) {
        Ok(()) => return Forwarded::Sent,
        Err(TrySendError::Full(r)) => r,
        Err(TrySendError::Disconnected(_)) => return Forwarded::HungUp,
    };
    match tx.send_timeout(record, SEND_TIMEOUT) {
        Ok(()) => Forwarded::Sent,
        Err(SendTimeoutError::Timeout(_)) => {
            drops.channel_full.fetch_add(1, Ordering::Relaxed);
            Forwarded::Dropped
        }
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

/// The core thread: channel → collector → output, until the poller hangs up.
fn drive(
    collector: &mut Collector,
    rx: &Receiver<Input>,
    drops: &Drops,
    out: impl Write,
) -> anyhow::Result<()> {
    let mut out = BufWriter::with_capacity(64 << 10, out);
    let mut channel_drops_seen = 0;
    let mut queue_drops_seen = 0;
    loop {
        let wait = collector
            .poll_timeout()
            .map_or(IDLE_WAKE, |(deadline, _)| until(deadline).min(IDLE_WAKE));
        let hung_up = match rx.recv_timeout(wait) {
            Ok(first) => {
                handle(collector, &first);
                // Take what else is waiting, up to a batch, before writing.
                for record in rx.try_iter().take(BATCH) {
                    handle(collector, &record);
                    write_events(collector, &mut out)?;
                }
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        handle_due_timeout(collector);
        if hung_up {
            collector.handle_shutdown(now());
        }
        // No log tailer in this daemon yet: offset checkpoints have no taker.
        drain(collector, &mut out, |_, _| {})?;
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
            return Ok(());
        }
    }
}

fn handle(collector: &mut Collector, input: &Input) {
    match input {
        Input::Record(record) => handle_record(collector, record.clock, &record.bytes),
        Input::Snapshot { at, snapshot } => collector.handle_proc_snapshot(*at, snapshot),
    }
}

/// Runs `run` for the binary: signals, logging, the summary; standard output for events.
///
/// # Errors
/// As [`run`]; a signal handler that cannot be installed.
pub fn main(config: &Config) -> anyhow::Result<()> {
    let stop = install_stop_signals()?;
    let stdout = io::stdout().lock();
    let summary = match run(config, &stop, stdout) {
        Err(e) if is_broken_pipe(&e) => {
            tracing::info!("standard output closed; stopping");
            return Ok(());
        }
        other => other?,
    };
    summary.log();
    Ok(())
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

    fn record(n: u8) -> RecordReceived {
        RecordReceived {
            clock: MonoClock::default(),
            bytes: vec![n],
        }
    }

    #[test]
    fn a_full_channel_drops_and_counts_without_blocking_for_long() {
        let drops = Drops::default();
        let (tx, rx) = crossbeam_channel::bounded(1);
        assert_eq!(forward(&tx, record(1), &drops), Forwarded::Sent);
        let started = Instant::now();
        assert_eq!(forward(&tx, record(2), &drops), Forwarded::Dropped);
        assert!(
            started.elapsed() < SEND_TIMEOUT * 10,
            "{:?}",
            started.elapsed()
        );
        assert_eq!(drops.channel_full.load(Ordering::Relaxed), 1);
        assert_eq!(rx.recv().unwrap().bytes, [1]);
        assert_eq!(forward(&tx, record(3), &drops), Forwarded::Sent);
        drop(rx);
        assert_eq!(forward(&tx, record(4), &drops), Forwarded::HungUp);
        assert_eq!(drops.channel_full.load(Ordering::Relaxed), 1);
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
