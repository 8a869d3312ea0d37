//! The real `tapio-cni-collector-lite` binary: `run` with the probes in the running kernel and
//! the reference bridge + host-local plugins in a network namespace; its configuration errors;
//! `check`. Needs root, kernel BTF and the plugins; fails (never skips) without them.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::{require_root, Sandbox};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tapio-cni-collector-lite");

/// A temporary file removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("tapio-rt-{}-{name}", std::process::id()));
        std::fs::write(&path, text).expect("writing a temporary file");
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The daemon, its stdout lines as they come, its stderr collected. Killed on drop if still
/// running (a failing test must not leave it behind).
struct Daemon {
    child: Option<Child>,
    lines: Receiver<String>,
    stdout: Option<JoinHandle<()>>,
    stderr: Arc<Mutex<String>>,
    stderr_thread: Option<JoinHandle<()>>,
}

impl Daemon {
    fn start(config: &TempFile, env: &[(&str, &str)]) -> Daemon {
        let mut child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(&config.0)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting tapio-cni-collector-lite run");
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
        Daemon {
            child: Some(child),
            lines,
            stdout: Some(stdout),
            stderr,
            stderr_thread: Some(stderr_thread),
        }
    }

    fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until the probes are attached (the daemon says so on stderr).
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.stderr().contains("eBPF process monitor running") {
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
    fn events_of(&self, container_id: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut found = Vec::new();
        while found.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "timed out waiting for events of {container_id}; got {found:#?}; stderr: {}",
                    self.stderr()
                )
            });
            let event: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
            if event["cni"]["container_id"] == container_id {
                found.push(event);
            }
        }
        found
    }

    /// Sends `signal`; returns the exit status and every stdout line not read yet.
    fn stop(&mut self, signal: Signal) -> (std::process::ExitStatus, Vec<String>) {
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
                    "the daemon did not stop within 10 s of SIGTERM: {}",
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

fn config_file(name: &str) -> TempFile {
    TempFile::new(
        name,
        "# The daemon under test: only the reference plugins' directory.\n\
         name: runtime-sync-test\n\
         preset: development\n\
         cni_bin_path: [/usr/lib/cni]\n\
         transaction_timeout: 30s\n\
         enable_log_monitoring: false\n\
         log_level: info\n",
    )
}

#[test]
fn run_reports_bridge_add_and_del_and_stops_cleanly_on_sigterm() {
    require_root();
    let config = config_file("run.yaml");
    let mut daemon = Daemon::start(&config, &[("TAPIO_CNI_NODE_NAME", "rt-test-node")]);
    daemon.wait_ready();
    assert!(
        daemon.stderr().contains("not active yet"),
        "the inactive keys are logged once: {}",
        daemon.stderr()
    );

    let sandbox = Sandbox::new();
    let add = sandbox.run("ADD");
    assert!(add.status.success(), "bridge ADD: {add:?}");
    let result: Value = serde_json::from_slice(&add.stdout).expect("ADD result JSON");
    let address = result["ips"][0]["address"].as_str().expect("an address");
    let ip = address.split('/').next().expect("address/prefix");
    let del = sandbox.run("DEL");
    assert!(del.status.success(), "bridge DEL: {del:?}");

    let events = daemon.events_of(&sandbox.container_id, 2);
    for (event, op) in events.iter().zip(["ADD", "DEL"]) {
        let cni = &event["cni"];
        assert_eq!(cni["operation"], op, "{event:#}");
        assert_eq!(cni["plugin_type"], "bridge");
        assert_eq!(cni["exit_code"], 0);
        assert_eq!(event["origin"]["monitor"], "ebpf");
        assert_eq!(event["system"]["network_ns"], sandbox.netns_path().as_str());
        assert_eq!(event["kubernetes"]["pod_name"], "web-0");
        assert_eq!(event["kubernetes"]["namespace"], "shop");
        // TAPIO_CNI_NODE_NAME reached the core.
        assert_eq!(
            event["kubernetes"]["node_name"], "rt-test-node",
            "{event:#}"
        );
        let chain = cni["chain"].as_array().expect("a chain");
        assert_eq!(chain.len(), 1, "{event:#}");
        assert_eq!(chain[0]["plugin_type"], "host-local");
        assert_eq!(chain[0]["operation"], op);
        assert_eq!(chain[0]["exit_code"], 0);
    }
    let added = &events[0];
    assert!(added["id"].as_str().unwrap().starts_with("cni_bridge_ADD_"));
    assert_eq!(added["category"], "network_setup");
    assert_eq!(added["network"]["ip_address"], ip);
    assert!(ip.starts_with("192.0.2."), "{ip}");
    assert_eq!(events[1]["category"], "network_teardown");
    drop(sandbox);

    let (status, rest) = daemon.stop(Signal::SIGTERM);
    assert!(
        status.success(),
        "exit after SIGTERM: {status}: {}",
        daemon.stderr()
    );
    for line in &rest {
        serde_json::from_str::<Value>(line)
            .unwrap_or_else(|e| panic!("a cut or bad line after SIGTERM ({e}): {line}"));
    }
    let stderr = daemon.stderr();
    assert!(
        stderr.contains("stopped"),
        "the summary is logged: {stderr}"
    );
    assert!(stderr.contains("dropped_channel_full=0"), "{stderr}");
}

#[test]
fn what_happened_before_sigint_is_written_before_exit() {
    require_root();
    let config = config_file("sigint.yaml");
    let mut daemon = Daemon::start(&config, &[]);
    daemon.wait_ready();
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
    let ops: Vec<String> = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON lines"))
        .filter(|e| e["cni"]["container_id"] == sandbox.container_id.as_str())
        .map(|e| e["cni"]["operation"].as_str().unwrap_or("?").to_owned())
        .collect();
    assert_eq!(ops, ["ADD", "DEL"], "stderr: {}", daemon.stderr());
}

#[test]
fn a_plugin_still_running_at_sigterm_is_reported_with_its_exit_unknown() {
    require_root();
    let config = config_file("stopped.yaml");
    let mut daemon = Daemon::start(&config, &[]);
    daemon.wait_ready();
    let container_id = format!("tapio-rt-stopped-{}", std::process::id());
    // bridge waits for its config on stdin, which stays open until the daemon has stopped;
    // it then reads nothing, fails on the empty config and touches no network.
    let mut plugin = Command::new("/usr/lib/cni/bridge")
        .env_clear()
        .envs([
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", container_id.as_str()),
            ("CNI_NETNS", "/var/run/netns/tapio-rt-none"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", "/usr/lib/cni"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting bridge");
    let (status, lines) = daemon.stop(Signal::SIGTERM);
    drop(plugin.stdin.take());
    let plugin_status = plugin.wait().expect("waiting for bridge");
    assert!(
        !plugin_status.success(),
        "bridge with no config: {plugin_status}"
    );
    assert!(
        status.success(),
        "exit after SIGTERM: {status}: {}",
        daemon.stderr()
    );

    let events: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON lines"))
        .filter(|e| e["cni"]["container_id"] == container_id.as_str())
        .collect();
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

#[test]
fn an_unknown_key_fails_at_start_up_naming_it() {
    let config = TempFile::new("unknown.yaml", "name: x\nevent_bufer_size: 10\n");
    let out = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config.0)
        .output()
        .expect("running the daemon");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("event_bufer_size"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_bad_value_fails_at_start_up_naming_the_key() {
    let config = TempFile::new("bad.yaml", "cni_collector:\n  poll_interval: soon\n");
    let out = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config.0)
        .output()
        .expect("running the daemon");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cni_collector.poll_interval"), "{stderr}");
}

#[test]
fn the_environment_overrides_the_file() {
    // The file is valid; the override is not, and the error names the variable and the key:
    // proof that the variable was read and applied over the file.
    let config = config_file("env.yaml");
    let out = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config.0)
        .env("TAPIO_CNI_RING_BUFFER_SIZE", "12345")
        .output()
        .expect("running the daemon");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ring_buffer_size"), "{stderr}");

    let out = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config.0)
        .env("TAPIO_CNI_CONF_PATHS", "/etc/cni/net.d")
        .output()
        .expect("running the daemon");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("TAPIO_CNI_CONF_PATHS"), "{stderr}");
}

#[test]
fn check_passes_here_and_says_why() {
    require_root();
    let out = Command::new(BIN)
        .arg("check")
        .output()
        .expect("running check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "ok       BTF: /sys/kernel/btf/vmlinux present",
        "ok       tracefs: mounted at ",
        "ok       privileges: ",
        "ok       eBPF probes: loaded and attached",
        "ok       plugin dir: /usr/lib/cni: ",
        "inotify: max_user_watches ",
        "Kubernetes: ",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    assert!(
        stdout.contains(" bridge ") && stdout.contains(" host-local "),
        "{stdout}"
    );
    assert!(!stdout.contains("FAILED"), "{stdout}");
}
