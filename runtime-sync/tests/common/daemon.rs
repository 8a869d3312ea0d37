//! A daemon binary under test (`tapio-cni-collector-lite run` or `tapio-cni-collector run`):
//! its stdout lines as they come, its stderr collected, stopped by a signal, and the helpers to
//! read its events. Shared by this package's tests and, through `#[path]`, the tokio runtime's.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use super::Sandbox;

/// A temporary file removed on drop.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(name: &str, text: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("tapio-test-{}-{name}", std::process::id()));
        std::fs::write(&path, text).expect("writing a temporary file");
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("tapio-test-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&path).expect("creating a temporary directory");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The configuration of the daemons under test: only the reference plugins' directory.
pub fn config_file(name: &str) -> TempFile {
    config_with(
        name,
        "cni_bin_path: [/usr/lib/cni]\ntransaction_timeout: 30s\n",
    )
}

/// The configuration of the daemons under test with `keys` (YAML lines) of its own.
pub fn config_with(name: &str, keys: &str) -> TempFile {
    TempFile::new(
        name,
        &format!(
            "name: daemon-under-test\n\
             preset: development\n\
             enable_log_monitoring: false\n\
             enable_file_monitoring: false\n\
             log_level: info\n\
             {keys}"
        ),
    )
}

/// A running daemon. Killed on drop if still running (a failing test must not leave it behind).
pub struct Daemon {
    child: Option<Child>,
    lines: Receiver<String>,
    stdout: Option<JoinHandle<()>>,
    stderr: Arc<Mutex<String>>,
    stderr_thread: Option<JoinHandle<()>>,
}

impl Daemon {
    /// Starts `bin run --config <config>` and waits until its probes are attached.
    pub fn start(bin: &Path, config: &TempFile, env: &[(&str, &str)]) -> Daemon {
        Daemon::start_until(bin, config, env, "eBPF process monitor running")
    }

    /// Starts `bin run --config <config>` and waits until it says `ready` on stderr.
    pub fn start_until(bin: &Path, config: &TempFile, env: &[(&str, &str)], ready: &str) -> Daemon {
        let mut command = Command::new(bin);
        command
            .args(["run", "--config"])
            .arg(&config.0)
            .envs(env.iter().copied());
        Daemon::spawn(command, ready)
    }

    /// Starts `command` (a daemon's whole command line) with its stdout and stderr piped and
    /// waits until it says `ready` on stderr.
    pub fn spawn(mut command: Command, ready: &str) -> Daemon {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().expect("stdout is piped");
        let stdout = thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let err = child.stderr.take().expect("stderr is piped");
        let stderr_thread = {
            let stderr = Arc::clone(&stderr);
            thread::spawn(move || {
                for line in BufReader::new(err).lines() {
                    let Ok(line) = line else { return };
                    let mut s = stderr.lock().unwrap_or_else(PoisonError::into_inner);
                    s.push_str(&line);
                    s.push('\n');
                }
            })
        };
        let mut daemon = Daemon {
            child: Some(child),
            lines,
            stdout: Some(stdout),
            stderr,
            stderr_thread: Some(stderr_thread),
        };
        daemon.wait_ready(ready);
        // Measured on this kernel with both daemons: plugin executions in the first ~50 ms
        // after the probes say they run can go unseen (2 of 6 runs of a script that starts
        // plugins at once; none of 5 after a 300 ms pause). Reported; not this crate's to fix.
        thread::sleep(Duration::from_millis(300));
        daemon
    }

    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until the daemon says `what` on stderr (that the probes are attached, that a
    /// monitor runs).
    pub fn wait_ready(&mut self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.stderr().contains(what) {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("the daemon exited early ({status}): {}", self.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not start: {}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Reads events until `n` of them are about `container_id`, or fails after 15 s.
    pub fn events_of(&self, container_id: &str, n: usize) -> Vec<Value> {
        self.events_where(n, |e| e["cni"]["container_id"] == container_id)
    }

    /// Reads events until `n` of them match `wanted` (the others are skipped), or fails after
    /// 15 s.
    pub fn events_where(&self, n: usize, wanted: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut found = Vec::new();
        while found.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "timed out waiting for {n} events; got {found:#?}; stderr: {}",
                    self.stderr()
                )
            });
            let event: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
            if wanted(&event) {
                found.push(event);
            }
        }
        found
    }

    /// Stops the daemon with SIGTERM, checks that it exited cleanly and returns every stdout
    /// line not read yet.
    pub fn stop_cleanly(&mut self) -> Vec<String> {
        let (status, lines) = self.stop(Signal::SIGTERM);
        assert!(
            status.success(),
            "exit after SIGTERM: {status}: {}",
            self.stderr()
        );
        lines
    }

    /// Sends `signal`; returns the exit status and every stdout line not read yet.
    pub fn stop(&mut self, signal: Signal) -> (ExitStatus, Vec<String>) {
        let mut child = self.child.take().expect("running");
        let pid = Pid::from_raw(i32::try_from(child.id()).expect("a pid fits in i32"));
        kill(pid, signal).expect("sending the signal");
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for the daemon") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the daemon did not stop within 10 s of {signal}: {}",
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        // Its stdout is closed now: the reader ends, and what it still holds is what was flushed.
        if let Some(t) = self.stdout.take() {
            t.join().expect("stdout reader");
        }
        if let Some(t) = self.stderr_thread.take() {
            t.join().expect("stderr reader");
        }
        (status, self.lines.try_iter().collect())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `bin`'s daemon, runs bridge as an ADD still waiting for its config on stdin when the
/// daemon is stopped with SIGTERM, and checks the one event for it: a warning, its exit
/// unknown, and no transaction left open. `tag` keeps the container ids of the runtimes apart.
pub fn a_plugin_running_at_sigterm_is_reported(bin: &Path, tag: &str) {
    let config = config_file(&format!("stopped-{tag}.yaml"));
    let mut daemon = Daemon::start(bin, &config, &[]);
    let container_id = format!("tapio-{tag}-stopped-{}", std::process::id());
    // bridge waits for its config on stdin, which stays open until the daemon has stopped;
    // it then reads nothing, fails on the empty config and touches no network.
    let mut plugin = Command::new("/usr/lib/cni/bridge")
        .env_clear()
        .envs([
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", container_id.as_str()),
            ("CNI_NETNS", "/var/run/netns/tapio-test-none"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", "/usr/lib/cni"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting bridge");
    // `spawn` returns once exec has closed the CLOEXEC pipe, which is before the exec
    // tracepoint fires: a signal sent at once may stop the daemon before the exec exists.
    thread::sleep(Duration::from_millis(300));
    let (status, lines) = daemon.stop(Signal::SIGTERM);
    drop(plugin.stdin.take());
    let plugin_status = plugin.wait().expect("waiting for bridge");
    assert!(!plugin_status.success(), "bridge with no config");
    assert!(
        status.success(),
        "exit after SIGTERM: {status}: {}",
        daemon.stderr()
    );
    let events = events_in(&lines, &container_id);
    let [event] = &events[..] else {
        panic!(
            "one event for the running plugin: {events:#?}; stderr: {}",
            daemon.stderr()
        )
    };
    assert_eq!(event["cni"]["operation"], "ADD");
    assert_eq!(event["cni"]["plugin_type"], "bridge");
    assert_eq!(event["severity"], "warning");
    assert_eq!(event["cni"]["exit_code"], Value::Null);
    assert_eq!(
        event["message"],
        format!(
            "CNI ADD for container {} via bridge: still running when the collector stopped, \
             exit unknown",
            &container_id[..12]
        )
    );
    assert!(
        daemon.stderr().contains("open_transactions=0"),
        "{}",
        daemon.stderr()
    );
}

/// Starts `bin`'s daemon, runs bridge ADD and DEL in a sandbox and stops the daemon with SIGINT
/// at once: both events must be written before it exits.
pub fn what_happened_before_sigint_is_written(bin: &Path, tag: &str) {
    let config = config_file(&format!("sigint-{tag}.yaml"));
    let mut daemon = Daemon::start(bin, &config, &[]);
    let sandbox = Sandbox::new();
    assert!(sandbox.run("ADD").status.success());
    assert!(sandbox.run("DEL").status.success());
    // At once: the records may still be in the ring buffer or the channel.
    let (status, lines) = daemon.stop(Signal::SIGINT);
    assert!(
        status.success(),
        "exit after SIGINT: {status}: {}",
        daemon.stderr()
    );
    let ops: Vec<Value> = events_in(&lines, &sandbox.container_id)
        .into_iter()
        .map(|e| e["cni"]["operation"].clone())
        .collect();
    assert_eq!(ops, ["ADD", "DEL"], "stderr: {}", daemon.stderr());
}

/// Runs `bin` with a config of an unknown key: it must refuse to start, name the key and write
/// no event. Returns its stderr.
pub fn an_unknown_key_is_refused(bin: &Path) -> String {
    let config = TempFile::new("unknown.yaml", "name: x\nevent_bufer_size: 10\n");
    let out = run_to_end(bin, &config, &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.contains("event_bufer_size"), "{stderr}");
    assert!(out.stdout.is_empty());
    stderr
}

/// Runs `bin run --config <config>` with `env` to its end: a daemon that refuses its
/// configuration at start-up.
pub fn run_to_end(bin: &Path, config: &TempFile, env: &[(&str, &str)]) -> Output {
    Command::new(bin)
        .args(["run", "--config"])
        .arg(&config.0)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()))
}

/// The events about `container_id` among JSON `lines`; fails on a line that is not JSON.
pub fn events_in(lines: &[String], container_id: &str) -> Vec<Value> {
    lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l)
                .unwrap_or_else(|e| panic!("a cut or bad line ({e}): {l}"))
        })
        .filter(|e| e["cni"]["container_id"] == container_id)
        .collect()
}

/// `event` with what differs between two executions of the same plugin run replaced by a
/// placeholder, after checking its shape: the time, the nanos and sequence number in the id,
/// the trace context, the plugin's pid, latencies and durations, and what the kernel draws at
/// random for a new veth pair (its MAC and the host-side name).
pub fn mask(event: &Value) -> Value {
    let mut event = event.clone();
    let timestamp = take_str(&mut event, &["timestamp"], "<timestamp>");
    assert!(
        timestamp.len() == "2026-11-22T18:09:34.595058943Z".len() && timestamp.ends_with('Z'),
        "{timestamp}"
    );
    let id = take_str(&mut event, &["id"], "");
    let mut parts = id.rsplitn(3, '_');
    let (seq, nanos, prefix) = (parts.next(), parts.next(), parts.next());
    let (Some(seq), Some(nanos), Some(prefix)) = (seq, nanos, prefix) else {
        panic!("an id of prefix_nanos_seq: {id}");
    };
    assert!(
        seq.parse::<u64>().is_ok() && nanos.parse::<u64>().is_ok(),
        "{id}"
    );
    event["id"] = Value::from(format!("{prefix}_<nanos>_<seq>"));
    // Config events come from no process.
    if event.get("system").and_then(|s| s.get("pid")).is_some() {
        let pid = event["system"]["pid"].as_u64().expect("system.pid");
        assert!(pid > 0);
        event["system"]["pid"] = Value::from("<pid>");
    }
    // Derived from the container id, the operation and its start time (deterministic, but
    // the start differs between runs).
    if event.get("trace_context").is_some() {
        for (key, len) in [("trace_id", 32), ("span_id", 16)] {
            let id = take_str(&mut event, &["trace_context", key], &format!("<{key}>"));
            assert!(
                id.len() == len && id.bytes().all(|b| b.is_ascii_hexdigit()),
                "{key}: {id}"
            );
        }
    }
    // A plugin whose exit was not seen has no performance block at all.
    if event.get("performance").is_some() {
        for path in [
            &["performance", "latency_ms"][..],
            &["performance", "metrics", "execution_time_ms"],
        ] {
            mask_ms(&mut event, path);
        }
    }
    // Looked up with `get_mut`: indexing a missing key would add it.
    let chain = event
        .get_mut("cni")
        .and_then(|cni| cni.get_mut("chain"))
        .and_then(Value::as_array_mut);
    if let Some(chain) = chain {
        for child in chain {
            mask_ms(child, &["duration_ms"]);
        }
    }
    if event["network"].get("mac").is_some() {
        take_str(&mut event, &["network", "mac"], "<mac>");
    }
    if event["network"].get("host_interface").is_some() {
        let veth = take_str(&mut event, &["network", "host_interface"], "<veth>");
        assert!(veth.starts_with("veth"), "{veth}");
    }
    event
}

/// Replaces the string at `path` with `placeholder` and returns it.
fn take_str(event: &mut Value, path: &[&str], placeholder: &str) -> String {
    let slot = path.iter().fold(event, |v, key| &mut v[*key]);
    let text = slot
        .as_str()
        .unwrap_or_else(|| panic!("{path:?} is a string: {slot}"))
        .to_owned();
    *slot = Value::from(placeholder);
    text
}

/// Replaces the positive number of milliseconds at `path` with a placeholder.
fn mask_ms(event: &mut Value, path: &[&str]) {
    let slot = path.iter().fold(event, |v, key| &mut v[*key]);
    let ms = slot
        .as_f64()
        .unwrap_or_else(|| panic!("{path:?} is a number: {slot}"));
    assert!(ms > 0.0 && ms < 30_000.0, "{path:?}: {ms}");
    *slot = Value::from("<ms>");
}
