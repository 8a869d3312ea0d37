//! `run`: the daemon on two plain threads.
//!
//! - The **poller** owns the [`Probes`]: it waits on the ring buffer (a short timeout, so it sees
//!   shutdown promptly), copies each record and sends it with the sampled [`MonoClock`] over a
//!   bounded channel. A full channel is waited on briefly, then the record is dropped and
//!   counted: the poller never blocks for long, or the kernel's ring buffer would overflow
//!   instead, silently to the records that follow.
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
use proto::{Collector, MonoClock};
use tapio_cni_bpf::Probes;

use crate::config::Config;
use crate::offline::now;
use crate::runloop::{
    drain, handle_due_timeout, handle_record, install_stop_signals, is_broken_pipe, start, until,
    warn_queue_drops, write_events,
};
// Where they were before both daemons shared them.
pub use crate::runloop::{sample_clock, Summary};

/// How long the poller waits on the ring buffer before it looks at the shutdown flag.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);
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
    let Some(probes) = start(config, &[])? else {
        return Ok(Summary::default());
    };

    let drops = Arc::new(Drops::default());
    let (tx, rx) = crossbeam_channel::bounded(config.record_channel_capacity);
    let poller = {
        let stop = Arc::clone(stop);
        let drops = Arc::clone(&drops);
        thread::Builder::new()
            .name("bpf-poller".to_owned())
            .spawn(move || poll_ring(probes, &tx, &stop, &drops))
            .context("starting the poller thread")?
    };
    let mut collector = Collector::new(config.core());
    let result = drive(&mut collector, &rx, &drops, out);
    // On an output error, stop the poller too; it then hangs up.
    stop.store(true, Ordering::SeqCst);
    drop(rx);
    let polled = poller
        .join()
        .map_err(|_| anyhow::anyhow!("the poller thread panicked"))?;
    result?;
    polled?;

    Ok(Summary::of(
        &collector,
        drops.ring_buffer_full.load(Ordering::Relaxed),
        drops.channel_full.load(Ordering::Relaxed),
    ))
}

/// The poller thread: ring buffer → channel, until `stop`; then a last drain, and hang up.
fn poll_ring(
    mut probes: Probes,
    tx: &Sender<RecordReceived>,
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
        hung_up = forward(tx, record, drops) == Forwarded::HungUp;
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
fn forward(tx: &Sender<RecordReceived>, record: RecordReceived, drops: &Drops) -> Forwarded {
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
    rx: &Receiver<RecordReceived>,
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

fn handle(collector: &mut Collector, record: &RecordReceived) {
    handle_record(collector, record.clock, &record.bytes);
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
}
