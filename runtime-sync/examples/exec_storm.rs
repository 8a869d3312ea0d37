//! The exec-storm benchmark (`make bench-exec`; README "Exec-storm benchmark").
//!
//! Unrelated short processes (`/bin/true`) are spawned by `--workers` threads as fast as the
//! machine allows for `--seconds`, while one thread runs ADD/DEL pairs of the real bridge
//! plugin (with host-local) in a network namespace of its own. The storm runs twice: observed
//! by `tapio-cni-collector-lite run` (release build, events to a file), then by Debian's
//! libbpf-tools `execsnoop` (output to a file). For each observer it reports CPU seconds
//! (user + system, from wait4's rusage) and peak RSS; for the collector also the CNI
//! transactions captured against those executed, events about anything else, and the drop
//! counters of its summary. Needs root, the plugins and execsnoop.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use clap::Parser;
use nix::libc;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

const BRIDGE: &str = "/usr/lib/cni/bridge";

#[derive(Debug, Parser)]
#[command(about = "Exec storm with CNI ADD/DEL pairs: the collector against execsnoop")]
struct Args {
    /// Length of each storm.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Threads spawning /bin/true (the default: two per CPU, to keep every CPU busy).
    #[arg(long)]
    workers: Option<usize>,
    /// The collector binary (a release build).
    #[arg(long, default_value = "target/release/tapio-cni-collector-lite")]
    collector: PathBuf,
    /// Debian's libbpf-tools execsnoop.
    #[arg(long, default_value = "/usr/sbin/execsnoop")]
    execsnoop: PathBuf,
    /// Where the outputs go.
    #[arg(long, default_value = "target/bench-exec")]
    out_dir: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(
        nix::unistd::geteuid().is_root(),
        "run as root: both observers load BPF programs"
    );
    for (what, path) in [
        ("collector", &args.collector),
        ("execsnoop", &args.execsnoop),
    ] {
        ensure!(path.exists(), "{what} {} is missing", path.display());
    }
    ensure!(Path::new(BRIDGE).exists(), "{BRIDGE} is missing");
    fs::create_dir_all(&args.out_dir)?;
    let workers = args
        .workers
        .unwrap_or_else(|| 2 * thread::available_parallelism().map_or(1, |n| n.get()));
    let storm = Duration::from_secs(args.seconds);
    println!(
        "exec storm: {workers} workers spawning /bin/true for {} s, CNI ADD/DEL pairs alongside",
        args.seconds
    );

    let collector = observe_with_collector(&args, workers, storm)?;
    let execsnoop = observe_with_execsnoop(&args, workers, storm)?;
    report(&collector, &execsnoop);
    Ok(())
}

/// What one storm did.
#[derive(Debug, Default)]
struct Storm {
    execs: u64,
    /// (container id, operation) of every plugin run that succeeded.
    cni_runs: BTreeSet<(String, String)>,
    cni_failed: u64,
    elapsed: Duration,
}

/// What an observer cost.
#[derive(Debug, Default)]
struct Cost {
    cpu_user: f64,
    cpu_system: f64,
    /// CPU seconds spent when it was ready (loading its BPF programs), from its `stat`.
    cpu_at_ready: f64,
    /// Peak resident set, KiB (rusage `ru_maxrss`).
    max_rss_kib: i64,
}

impl Cost {
    fn cpu(&self) -> f64 {
        self.cpu_user + self.cpu_system
    }

    /// CPU seconds from ready to exit: the storm, and the stop.
    fn cpu_after_ready(&self) -> f64 {
        self.cpu() - self.cpu_at_ready
    }
}

#[derive(Debug, Default)]
struct CollectorRun {
    storm: Storm,
    cost: Cost,
    captured: usize,
    missing: Vec<(String, String)>,
    other_events: usize,
    ring_buffer_full: Option<u64>,
    channel_full: Option<u64>,
    stderr_tail: String,
}

#[derive(Debug, Default)]
struct ExecsnoopRun {
    storm: Storm,
    cost: Cost,
    lines: usize,
    stderr_tail: String,
}

fn observe_with_collector(
    args: &Args,
    workers: usize,
    storm: Duration,
) -> anyhow::Result<CollectorRun> {
    let config = args.out_dir.join("collector.yaml");
    fs::write(
        &config,
        "name: exec-storm-bench\n\
         cni_bin_path: [/usr/lib/cni]\n\
         enable_log_monitoring: false\n\
         enable_file_monitoring: false\n\
         enable_event_monitoring: false\n\
         log_level: info\n",
    )?;
    let events_path = args.out_dir.join("collector-events.jsonl");
    let stderr_path = args.out_dir.join("collector-stderr.log");
    let child = Command::new(&args.collector)
        .args(["run", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(File::create(&events_path)?)
        .stderr(File::create(&stderr_path)?)
        .spawn()
        .with_context(|| format!("starting {}", args.collector.display()))?;
    let mut observer = Observer::new(child);
    wait_for(
        || {
            fs::read_to_string(&stderr_path)
                .is_ok_and(|s| s.contains("eBPF process monitor running"))
        },
        "the collector to attach its probes",
    )?;
    observer.ready()?;
    println!("collector running; storm 1/2 ...");
    let done = run_storm(workers, storm, "tapio")?;
    // Let the last records through before stopping.
    thread::sleep(Duration::from_secs(1));
    let cost = observer.stop(Signal::SIGTERM)?;

    let stderr = fs::read_to_string(&stderr_path)?;
    let mut captured = BTreeSet::new();
    let mut other_events = 0;
    for line in fs::read_to_string(&events_path)?.lines() {
        let event: Value = serde_json::from_str(line).context("a collector line is not JSON")?;
        let id = event["cni"]["container_id"].as_str().unwrap_or("");
        let op = event["cni"]["operation"].as_str().unwrap_or("");
        if id.starts_with(&container_prefix("tapio")) && event["origin"]["monitor"] == "ebpf" {
            captured.insert((id.to_owned(), op.to_owned()));
        } else {
            other_events += 1;
        }
    }
    let missing = done.cni_runs.difference(&captured).cloned().collect();
    Ok(CollectorRun {
        captured: captured.intersection(&done.cni_runs).count(),
        missing,
        other_events,
        ring_buffer_full: counter(&stderr, "dropped_ring_buffer_full="),
        channel_full: counter(&stderr, "dropped_channel_full="),
        stderr_tail: tail(&stderr),
        storm: done,
        cost,
    })
}

fn observe_with_execsnoop(
    args: &Args,
    workers: usize,
    storm: Duration,
) -> anyhow::Result<ExecsnoopRun> {
    let out_path = args.out_dir.join("execsnoop.out");
    let stderr_path = args.out_dir.join("execsnoop-stderr.log");
    let child = Command::new(&args.execsnoop)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path)?)
        .stderr(File::create(&stderr_path)?)
        .spawn()
        .with_context(|| format!("starting {}", args.execsnoop.display()))?;
    let mut observer = Observer::new(child);
    // Its output to a file is block-buffered: it is attached once execs make the file grow.
    wait_for(
        || {
            let _ = Command::new("/bin/true").status();
            fs::metadata(&out_path).is_ok_and(|m| m.len() > 0)
        },
        "execsnoop to attach",
    )?;
    observer.ready()?;
    println!("execsnoop running; storm 2/2 ...");
    let done = run_storm(workers, storm, "execsnoop")?;
    thread::sleep(Duration::from_secs(1));
    let cost = observer.stop(Signal::SIGINT)?;
    let lines = fs::read_to_string(&out_path)?.lines().count();
    Ok(ExecsnoopRun {
        storm: done,
        cost,
        lines: lines.saturating_sub(1),
        stderr_tail: tail(&fs::read_to_string(&stderr_path)?),
    })
}

/// An observer process, killed on drop if it was not stopped.
struct Observer(Option<Child>, f64);

impl Observer {
    fn new(child: Child) -> Observer {
        Observer(Some(child), 0.0)
    }

    /// Notes the CPU time it has used so far (user + system, to the clock tick).
    fn ready(&mut self) -> anyhow::Result<()> {
        let pid = self.0.as_ref().context("stopped already")?.id();
        let line = fs::read(format!("/proc/{pid}/stat"))?;
        let stat = proto::proc::parse_stat(&line)?;
        let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)?.unwrap_or(100) as f64;
        self.1 = (stat.utime_ticks + stat.stime_ticks) as f64 / ticks;
        Ok(())
    }

    /// Stops it with `signal` and returns what it cost (wait4's rusage of this child alone).
    fn stop(&mut self, signal: Signal) -> anyhow::Result<Cost> {
        let child = self.0.take().context("stopped already")?;
        let pid = i32::try_from(child.id())?;
        kill(Pid::from_raw(pid), signal)?;
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value of this plain C struct.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `pid` is our child, not reaped yet (the `Child` was never waited on), and
        // both pointers are to live locals.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        ensure!(reaped == pid, "wait4: {}", std::io::Error::last_os_error());
        ensure!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "the observer exited with status {status:#x}"
        );
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Ok(Cost {
            cpu_user: secs(usage.ru_utime),
            cpu_system: secs(usage.ru_stime),
            cpu_at_ready: self.1,
            max_rss_kib: usage.ru_maxrss,
        })
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs the storm for `length`: `workers` threads spawning /bin/true, one thread running
/// ADD/DEL pairs of bridge with container ids `<prefix>` + a counter.
fn run_storm(workers: usize, length: Duration, tag: &str) -> anyhow::Result<Storm> {
    let stop = Arc::new(AtomicBool::new(false));
    let execs = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..workers)
        .map(|_| {
            let stop = Arc::clone(&stop);
            let execs = Arc::clone(&execs);
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let ran = Command::new("/bin/true")
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status();
                    if ran.is_ok_and(|s| s.success()) {
                        execs.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let cni = {
        let stop = Arc::clone(&stop);
        let prefix = container_prefix(tag);
        thread::spawn(move || cni_pairs(&prefix, &stop))
    };
    thread::sleep(length);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join()
            .map_err(|_| anyhow::anyhow!("a storm worker panicked"))?;
    }
    let (cni_runs, cni_failed) = cni
        .join()
        .map_err(|_| anyhow::anyhow!("the CNI thread panicked"))??;
    Ok(Storm {
        execs: execs.load(Ordering::Relaxed),
        cni_runs,
        cni_failed,
        elapsed: started.elapsed(),
    })
}

fn container_prefix(tag: &str) -> String {
    format!("bench-{}-{tag}-", std::process::id())
}

/// ADD then DEL of a new container, in a loop until `stop`.
fn cni_pairs(prefix: &str, stop: &AtomicBool) -> anyhow::Result<(BTreeSet<(String, String)>, u64)> {
    let sandbox = Sandbox::new(prefix)?;
    let mut runs = BTreeSet::new();
    let mut failed = 0;
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let id = format!("{prefix}{n}");
        for op in ["ADD", "DEL"] {
            if sandbox.run(op, &id)? {
                runs.insert((id.clone(), op.to_owned()));
            } else {
                failed += 1;
            }
        }
    }
    Ok((runs, failed))
}

/// A network namespace, a bridge and an IPAM data directory of this run, removed on drop.
struct Sandbox {
    netns: String,
    bridge: String,
    data_dir: PathBuf,
}

impl Sandbox {
    fn new(prefix: &str) -> anyhow::Result<Sandbox> {
        let tag = if prefix.contains("execsnoop") {
            'e'
        } else {
            't'
        };
        let pid = std::process::id();
        let sandbox = Sandbox {
            netns: format!("bench-exec-{pid}-{tag}"),
            bridge: format!("bnch{tag}{}", pid % 1_000_000),
            data_dir: std::env::temp_dir().join(format!("bench-exec-ipam-{pid}-{tag}")),
        };
        let status = Command::new("ip")
            .args(["netns", "add", &sandbox.netns])
            .status()?;
        ensure!(status.success(), "ip netns add {}", sandbox.netns);
        Ok(sandbox)
    }

    /// Runs bridge for `op` on container `id`; `true` when it succeeded.
    fn run(&self, op: &str, id: &str) -> anyhow::Result<bool> {
        // TEST-NET-1 (RFC 5737): never routed. No masquerading: nothing leaves the bridge.
        let config = serde_json::json!({
            "cniVersion": "1.0.0",
            "name": "bench-exec",
            "type": "bridge",
            "bridge": self.bridge,
            "isGateway": true,
            "ipMasq": false,
            "ipam": {"type": "host-local", "subnet": "192.0.2.0/24", "dataDir": self.data_dir},
        });
        let netns = format!("/var/run/netns/{}", self.netns);
        let mut child = Command::new(BRIDGE)
            .env_clear()
            .envs([
                ("CNI_COMMAND", op),
                ("CNI_CONTAINERID", id),
                ("CNI_NETNS", netns.as_str()),
                ("CNI_IFNAME", "eth0"),
                ("CNI_PATH", "/usr/lib/cni"),
                (
                    "CNI_ARGS",
                    "IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=storm",
                ),
                ("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .context("stdin is piped")?
            .write_all(config.to_string().as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() && op == "ADD" {
            // A failed ADD leaves nothing behind only after its DEL.
            let _ = self.run("DEL", id);
        }
        Ok(out.status.success())
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(Stdio::null())
            .status();
        let _ = fs::remove_dir_all(&self.data_dir);
    }
}

/// Waits up to 30 s for `ready`.
fn wait_for(mut ready: impl FnMut() -> bool, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// The number after `key` in the collector's summary line.
fn counter(stderr: &str, key: &str) -> Option<u64> {
    let line = stderr.lines().rev().find(|l| l.contains(" stopped "))?;
    let rest = &line[line.find(key)? + key.len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(3)..].join("\n")
}

fn report(c: &CollectorRun, e: &ExecsnoopRun) {
    let rate = |s: &Storm| s.execs as f64 / s.elapsed.as_secs_f64();
    println!();
    println!("== tapio-cni-collector-lite run (eBPF) ==");
    println!(
        "storm: {} execs in {:.1} s ({:.0}/s); CNI plugin runs executed: {} ({} failed)",
        c.storm.execs,
        c.storm.elapsed.as_secs_f64(),
        rate(&c.storm),
        c.storm.cni_runs.len(),
        c.storm.cni_failed
    );
    println!(
        "CNI transactions captured / executed: {} / {}{}",
        c.captured,
        c.storm.cni_runs.len(),
        if c.missing.is_empty() {
            String::new()
        } else {
            format!(" (missing: {:?})", &c.missing[..c.missing.len().min(5)])
        }
    );
    println!("events about anything else: {}", c.other_events);
    let show =
        |n: Option<u64>| n.map_or_else(|| "not in the summary".to_owned(), |n| n.to_string());
    println!(
        "drops: ring buffer full {}, channel full {}",
        show(c.ring_buffer_full),
        show(c.channel_full)
    );
    println!(
        "CPU: {:.2} s (user {:.2}, system {:.2}; {:.2} s of it loading, {:.2} s after); peak RSS {:.1} MiB",
        c.cost.cpu(),
        c.cost.cpu_user,
        c.cost.cpu_system,
        c.cost.cpu_at_ready,
        c.cost.cpu_after_ready(),
        c.cost.max_rss_kib as f64 / 1024.0
    );
    println!("summary: {}", c.stderr_tail);
    println!();
    println!("== execsnoop (libbpf-tools) ==");
    println!(
        "storm: {} execs in {:.1} s ({:.0}/s); lines printed: {}",
        e.storm.execs,
        e.storm.elapsed.as_secs_f64(),
        rate(&e.storm),
        e.lines
    );
    println!(
        "CPU: {:.2} s (user {:.2}, system {:.2}; {:.2} s of it loading, {:.2} s after); peak RSS {:.1} MiB",
        e.cost.cpu(),
        e.cost.cpu_user,
        e.cost.cpu_system,
        e.cost.cpu_at_ready,
        e.cost.cpu_after_ready(),
        e.cost.max_rss_kib as f64 / 1024.0
    );
    if !e.stderr_tail.is_empty() {
        println!("stderr: {}", e.stderr_tail);
    }
    println!();
    let ratio = c.cost.cpu() / e.cost.cpu();
    let per_exec = |cost: &Cost, s: &Storm| cost.cpu() * 1e6 / s.execs.max(1) as f64;
    println!(
        "CPU per exec: collector {:.1} us, execsnoop {:.1} us",
        per_exec(&c.cost, &c.storm),
        per_exec(&e.cost, &e.storm)
    );
    println!("ratio collector CPU / execsnoop CPU: {ratio:.3} (target < 0.1)");
    println!(
        "the same after loading (storm and stop only): {:.3}",
        c.cost.cpu_after_ready() / e.cost.cpu_after_ready()
    );
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!(
        "targets: zero lost transactions {}; CPU < 1/10 of execsnoop {}; peak RSS < 20 MB {}",
        verdict(c.missing.is_empty() && c.ring_buffer_full == Some(0) && c.channel_full == Some(0)),
        verdict(ratio < 0.1),
        verdict(c.cost.max_rss_kib < 20 * 1000 * 1000 / 1024)
    );
}
