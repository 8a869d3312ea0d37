//! The /proc fallback of `tapio-cni-collector-lite run` (`use_ebpf: false`) with the real
//! bridge and host-local plugins in a network namespace. A plugin runs for milliseconds; as a
//! real runtime's slow pipe would, each run here holds the plugin on its stdin for a while
//! before the config arrives, so that 1 ms scans see it for certain. Needs root and the
//! plugins; fails (never skips) without them.

mod common;

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use common::daemon::{events_in, run_to_end, Daemon, TempDir, TempFile};
use common::{require_root, Sandbox, BRIDGE};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tapio-cni-collector-lite");
/// How long a plugin waits on its stdin before the config comes.
const HOLD_STDIN: Duration = Duration::from_millis(300);

/// One daemon at a time: each sees every plugin run on the host.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts the daemon with `use_ebpf: false`; returns its config (removed on drop) and it.
fn start(extra_config: &str) -> (TempFile, Daemon) {
    start_with(&format!("use_ebpf: false\n{extra_config}"), false)
}

/// Starts the daemon and waits for its /proc monitor; `without_bpf_caps` takes CAP_BPF,
/// CAP_PERFMON and CAP_SYS_ADMIN from it (root without them cannot load BPF programs).
fn start_with(extra_config: &str, without_bpf_caps: bool) -> (TempFile, Daemon) {
    let config = TempFile::new(
        "proc.yaml",
        &format!(
            "name: proc-fallback-test\n\
             poll_interval: 1ms\n\
             cni_bin_path: [/usr/lib/cni]\n\
             enable_log_monitoring: false\n\
             log_level: info\n{extra_config}"
        ),
    );
    let mut command = if without_bpf_caps {
        let mut setpriv = Command::new("setpriv");
        setpriv.args(["--bounding-set=-bpf,-perfmon,-sys_admin", BIN]);
        setpriv
    } else {
        Command::new(BIN)
    };
    command
        .args(["run", "--config"])
        .arg(&config.0)
        .env("TAPIO_CNI_NODE_NAME", "proc-node");
    let daemon = Daemon::spawn(command, "/proc process monitor running");
    (config, daemon)
}

/// Runs bridge as a runtime with a slow pipe would: the config comes `HOLD_STDIN` after the
/// start. With `late_reap`, the exited plugin is reaped only 50 ms after it exited. The environment carries more
/// than the request: none of it may leave the collector.
fn run_slowly(sandbox: &Sandbox, command: &str, late_reap: bool) -> Output {
    run_slowly_with(
        sandbox,
        command,
        late_reap,
        "/usr/lib/cni",
        &sandbox.config(),
    )
}

/// [`run_slowly`] with another `CNI_PATH` and config.
fn run_slowly_with(
    sandbox: &Sandbox,
    command: &str,
    late_reap: bool,
    cni_path: &str,
    config: &[u8],
) -> Output {
    let netns = sandbox.netns_path();
    let mut child = Command::new(BRIDGE)
        .env_clear()
        .envs([
            ("CNI_COMMAND", command),
            ("CNI_CONTAINERID", sandbox.container_id.as_str()),
            ("CNI_NETNS", netns.as_str()),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", cni_path),
            ("CNI_ARGS", sandbox.cni_args.as_str()),
            ("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            ("SECRET_TOKEN", "hunter2"),
            ("HOME", "/root/private-home"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning bridge");
    thread::sleep(HOLD_STDIN);
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin.write_all(config).expect("writing the config");
    drop(stdin);
    if late_reap {
        // The result fits in the pipe: the plugin exits without anyone reading it.
        wait_exited_unreaped(child.id());
        thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("waiting for bridge")
}

/// Waits until `pid` has exited (state `Z`: its parent, this test, has not reaped it).
fn wait_exited_unreaped(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the plugin's stat");
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next());
        if state == Some("Z") {
            return;
        }
        assert!(Instant::now() < deadline, "the plugin did not exit: {stat}");
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_proc_fallback_reports_bridge_add_and_del() {
    require_root();
    let _serial = serial();
    let (_config, mut daemon) = start("");
    assert!(
        daemon
            .stderr()
            .contains("degraded to /proc scans every 1ms, because use_ebpf is false"),
        "the reason is logged: {}",
        daemon.stderr()
    );
    let sandbox = Sandbox::new();
    // ADD is reaped late: a scan sees it exited, so its exit status is known.
    let add = run_slowly(&sandbox, "ADD", true);
    assert!(add.status.success(), "bridge ADD: {add:?}");
    let del = run_slowly(&sandbox, "DEL", false);
    assert!(del.status.success(), "bridge DEL: {del:?}");
    let netns_inode = std::fs::metadata(sandbox.netns_path())
        .expect("the netns file")
        .ino();
    thread::sleep(Duration::from_millis(100));
    let lines = daemon.stop_cleanly();

    let events = events_in(&lines, &sandbox.container_id);
    assert_eq!(events.len(), 2, "{lines:#?}");
    for (event, op) in events.iter().zip(["ADD", "DEL"]) {
        assert_eq!(event["origin"]["monitor"], "proc", "{event:#}");
        assert_eq!(event["confidence"], 0.5);
        let cni = &event["cni"];
        assert_eq!(cni["operation"], op);
        assert_eq!(cni["plugin_type"], "bridge");
        assert_eq!(cni["if_name"], "eth0");
        assert_eq!(
            cni["args"],
            serde_json::json!({"K8S_POD_NAMESPACE": "shop", "K8S_POD_NAME": "web-0"})
        );
        assert_eq!(event["kubernetes"]["pod_name"], "web-0");
        assert_eq!(event["kubernetes"]["namespace"], "shop");
        assert_eq!(event["kubernetes"]["node_name"], "proc-node");
        assert_eq!(event["system"]["network_ns"], sandbox.netns_path().as_str());
        assert_eq!(event["system"]["comm"], "bridge");
        assert_eq!(event["system"]["ppid"], std::process::id());
        assert_eq!(event["attributes"]["plugin_path"], BRIDGE);
        // Not measured, so not stated: only bounds, and the bounds hold the held stdin.
        let perf = &event["performance"];
        assert_eq!(perf.get("latency_ms"), None, "{event:#}");
        let seen = perf["metrics"]["seen_for_ms"]
            .as_f64()
            .expect("seen_for_ms");
        let most = perf["metrics"]["lifetime_max_ms"]
            .as_f64()
            .expect("lifetime_max_ms");
        assert!((150.0..=most).contains(&seen), "{seen} {most}");
        // Delegates and the netns entered are seen when a scan catches them: host-local runs
        // for a few milliseconds only (and a scan that first sees it exited reads no
        // environment, so no operation).
        for entry in cni["chain"].as_array().into_iter().flatten() {
            assert_eq!(entry["plugin_type"], "host-local", "{event:#}");
            assert!(
                entry["operation"] == op || entry["operation"].is_null(),
                "{event:#}"
            );
        }
        if let Some(ino) = event["attributes"].get("netns_inode") {
            assert_eq!(ino, &netns_inode.to_string(), "{event:#}");
        }
    }
    let add = &events[0];
    assert_eq!(add["category"], "network_setup");
    assert_eq!(add["cni"]["exit_code"], 0, "{add:#}");
    assert_eq!(add["performance"]["success"], true);
    assert!(add["id"].as_str().unwrap().starts_with("cni_bridge_ADD_"));
    assert_eq!(events[1]["category"], "network_teardown");

    let all = lines.join("\n");
    for secret in [
        "hunter2",
        "SECRET_TOKEN",
        "private-home",
        "/usr/sbin:/usr/bin",
    ] {
        assert!(!all.contains(secret), "{secret} left the collector: {all}");
    }
}

#[test]
fn delegated_plugins_seen_by_a_scan_form_the_chain() {
    require_root();
    let _serial = serial();
    // An IPAM plugin that takes its time, as a slow IPAM daemon would, before it becomes
    // host-local: bridge → slow-ipam (sleep, then exec host-local).
    let dir = TempDir::new("proc-ipam");
    let script = dir.0.join("slow-ipam");
    std::fs::write(
        &script,
        "#!/bin/sh\nsleep 0.3\nexec /usr/lib/cni/host-local \"$@\"\n",
    )
    .expect("writing the plugin");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let (_config, mut daemon) = start("");
    let sandbox = Sandbox::new();
    let mut config: Value = serde_json::from_slice(&sandbox.config()).expect("JSON");
    config["ipam"]["type"] = "slow-ipam".into();
    let config = config.to_string().into_bytes();
    let cni_path = format!("{}:/usr/lib/cni", dir.0.display());
    let add = run_slowly_with(&sandbox, "ADD", false, &cni_path, &config);
    let del = run_slowly_with(&sandbox, "DEL", false, &cni_path, &config);
    drop(dir);
    assert!(add.status.success(), "bridge ADD: {add:?}");
    assert!(del.status.success(), "bridge DEL: {del:?}");
    thread::sleep(Duration::from_millis(100));
    let lines = daemon.stop_cleanly();
    let events = events_in(&lines, &sandbox.container_id);
    assert_eq!(events.len(), 2, "{lines:#?}");
    for (event, op) in events.iter().zip(["ADD", "DEL"]) {
        let chain = event["cni"]["chain"].as_array().expect("a chain");
        assert_eq!(chain.len(), 1, "{event:#}");
        // The delegate was seen as the script (on CNI_PATH) for certain, and as host-local
        // when a scan caught it after its exec: both are its name, never its interpreter.
        let delegate = chain[0]["plugin_type"].as_str().unwrap_or_default();
        assert!(["slow-ipam", "host-local"].contains(&delegate), "{event:#}");
        assert_eq!(chain[0]["operation"], op);
        assert!(chain[0]["duration_ms"].is_null(), "not measured");
        let sleep = &chain[0]["children"][0];
        assert_eq!(sleep["plugin_type"], "sleep", "{event:#}");
    }
}

#[test]
fn the_summary_names_the_fallback_and_its_counts() {
    require_root();
    let _serial = serial();
    let (_config, mut daemon) = start("");
    let sandbox = Sandbox::new();
    assert!(run_slowly(&sandbox, "ADD", false).status.success());
    assert!(run_slowly(&sandbox, "DEL", false).status.success());
    thread::sleep(Duration::from_millis(100));
    let lines = daemon.stop_cleanly();
    assert_eq!(events_in(&lines, &sandbox.container_id).len(), 2);
    let stderr = daemon.stderr();
    assert!(
        stderr.contains("ran on the /proc fallback (lossy) because use_ebpf is false"),
        "{stderr}"
    );
    // Other plugin runs on this host are seen too: at least these two.
    let executions: u64 = stderr
        .split("executions=")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no executions= in the summary: {stderr}"));
    assert!(executions >= 2, "{stderr}");
    assert!(stderr.contains("over_limit=0"), "{stderr}");
}

#[test]
fn run_falls_back_when_the_probes_cannot_load() {
    require_root();
    let _serial = serial();
    let (_config, mut daemon) = start_with("use_ebpf: true\n", true);
    let stderr = daemon.stderr();
    assert!(
        stderr.contains(
            "degraded to /proc scans every 1ms, because the eBPF probes cannot be loaded: "
        ),
        "{stderr}"
    );
    let sandbox = Sandbox::new();
    assert!(run_slowly(&sandbox, "ADD", false).status.success());
    thread::sleep(Duration::from_millis(100));
    let lines = daemon.stop_cleanly();
    let events = events_in(&lines, &sandbox.container_id);
    assert_eq!(events.len(), 1, "{lines:#?}");
    assert_eq!(events[0]["origin"]["monitor"], "proc");
    assert_eq!(events[0]["cni"]["operation"], "ADD");
    assert_eq!(events[0]["kubernetes"]["pod_name"], "web-0");
}

#[test]
fn check_says_when_and_why_the_fallback_runs() {
    require_root();
    let out = Command::new("setpriv")
        .args(["--bounding-set=-bpf,-perfmon,-sys_admin", BIN, "check"])
        .output()
        .expect("running check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for line in [
        "degraded eBPF probes: cannot be loaded: ",
        "degraded process monitor: /proc scans every 5s (the fallback), because the eBPF probes \
         cannot be loaded: ",
        "result: `run` works here on the /proc fallback only",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("FAILED"), "{stdout}");

    let out = Command::new(BIN)
        .arg("check")
        .env("TAPIO_CNI_USE_EBPF", "false")
        .output()
        .expect("running check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("because use_ebpf is false"), "{stdout}");
}

#[test]
fn a_zero_poll_interval_is_refused_naming_the_key() {
    let config = TempFile::new("zero.yaml", "use_ebpf: false\npoll_interval: 0s\n");
    let out = run_to_end(Path::new(BIN), &config, &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("poll_interval"), "{stderr}");
}
