//! `run` on tokio: one task owns the [`Collector`] and every source of its inputs, and waits on
//! all of them in one `select!` loop.
//!
//! Each turn of the loop takes one input, hands it to the core, then runs the drain step
//! (events to the output, then requests). The branches today:
//! - the eBPF ring buffer, through [`AsyncFd`] on its epoll fd: on readiness one non-blocking
//!   [`Probes::poll`] consumes a batch; readiness is cleared only once a poll finds nothing.
//!   After a poll that took records the branch rests for [`GATHER`], so that the records of one
//!   plugin execution are taken together;
//! - the core's next deadline ([`Collector::poll_timeout`]) as a `sleep_until`;
//! - a one-second tick: the `CLOCK_REALTIME - CLOCK_MONOTONIC` resample and the BPF drop
//!   counter;
//! - the stop signal.
//!
//! More monitors (the config watcher's and the log tailer's inotify fds, a Kubernetes watch
//! stream) are more branches of the same loop: a new field of [`Daemon`] and its handler.
//!
//! A current-thread runtime is enough, and the right size: the core is a single-owner state
//! machine, so every input is handled on this one task anyway; worker threads would add memory
//! and cross-thread wake-ups and run nothing in parallel. Writing standard output goes through
//! tokio's blocking pool, so a slow reader stalls the loop (as it stalls the threaded
//! runtime's core thread); meanwhile the kernel's ring buffer holds the records, and what it
//! cannot hold is counted by the BPF drop counter.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use anyhow::Context;
use proto::{Collector, MonoClock};
use tapio_cni_bpf::Probes;
use tapio_cni_collector_lite::config::Config;
use tapio_cni_collector_lite::offline::now;
use tapio_cni_collector_lite::runloop::{
    handle_due_timeout, handle_record, sample_clock, start, until, warn_queue_drops, write_events,
    Summary,
};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncWrite, AsyncWriteExt, Interest};
use tokio::time::{Instant, MissedTickBehavior};

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
    let Some(probes) = start(config)? else {
        return Ok(Summary::default());
    };
    let mut daemon = Daemon::new(Collector::new(config.core()), probes, out)?;
    daemon.serve(shutdown).await?;
    daemon.finish().await?;
    Ok(Summary::of(&daemon.collector, daemon.ring_buffer_full, 0))
}

/// The task's state: the core, its input sources and its output.
struct Daemon<W> {
    collector: Collector,
    ring: AsyncFd<Probes>,
    clock: MonoClock,
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
    fn new(collector: Collector, probes: Probes, out: W) -> anyhow::Result<Self> {
        // SAFETY: the fd is the ring buffer's epoll instance, which `Probes` owns and closes
        // only when it drops; `AsyncFd` owns the `Probes` and deregisters the fd before
        // dropping it, and `as_raw_fd` returns that same fd for the whole life of the `Probes`.
        let ring = unsafe { AsyncFd::register_with_interest(probes, Interest::READABLE) }
            .map_err(std::io::Error::from)
            .context("registering the ring buffer with the reactor")?;
        Ok(Daemon {
            collector,
            ring,
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
                ready = self.ring.readable_mut(), if self.gathering.is_none() => {
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
                () = sleep_until(deadline) => handle_due_timeout(&mut self.collector),
                _ = tick.tick() => self.on_tick()?,
            }
            self.drain().await?;
        }
    }

    /// After the stop: what the ring buffer still holds, then everything the core still holds.
    async fn finish(&mut self) -> anyhow::Result<()> {
        while consume(
            self.ring.get_mut(),
            &mut self.collector,
            self.clock,
            &mut self.pending,
        )? > 0
        {}
        self.read_drops();
        self.collector.handle_shutdown(now());
        self.drain().await?;
        self.out.shutdown().await.context("writing events")
    }

    fn on_tick(&mut self) -> anyhow::Result<()> {
        self.clock = sample_clock()?;
        self.read_drops();
        warn_queue_drops(&self.collector, &mut self.queue_drops_seen);
        Ok(())
    }

    fn read_drops(&mut self) {
        match self.ring.get_ref().dropped() {
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

    /// The drain step: the events as JSON Lines, written and flushed; then the requests.
    async fn drain(&mut self) -> anyhow::Result<()> {
        write_events(&mut self.collector, &mut self.pending)?;
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
