//! One scenario through both runtimes yields the same events: the same real plugin sequence
//! (ADD, CHECK, DEL, an unknown command, and a plugin still running at SIGTERM), and a network
//! config written to a watched directory, under
//! `tapio-cni-collector-lite run` (threads), then under `tapio-cni-collector run` (tokio),
//! compared field by field after masking only what differs between two executions
//! (see `common::daemon::mask`). The namespace, bridge, container id and IPAM state are the same for
//! both runs: one sandbox, reset between them. Needs root, kernel BTF and the plugins.

#[path = "../../runtime-sync/tests/common/mod.rs"]
mod common;
mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::Duration;

use common::daemon::{events_in, mask, Daemon, TempDir, TempFile};
use common::{require_root, run_plugin, Sandbox, BRIDGE};
use nix::sys::signal::Signal;
use serde_json::Value;
use support::{lite_bin, TOKIO_BIN};

/// Runs bridge with `command` and `config` in `sandbox`, as a runtime does.
fn bridge(sandbox: &Sandbox, command: &str, config: &[u8]) -> Output {
    let netns = sandbox.netns_path();
    run_plugin(
        BRIDGE,
        &[
            ("CNI_COMMAND", command),
            ("CNI_CONTAINERID", &sandbox.container_id),
            ("CNI_NETNS", &netns),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", "/usr/lib/cni"),
            ("CNI_ARGS", &sandbox.cni_args),
            ("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        ],
        config,
    )
}

/// ADD, CHECK (with the ADD's result as prevResult), DEL, and a command bridge refuses.
/// Returns how many events the scenario must produce.
fn scenario(sandbox: &Sandbox) -> usize {
    let config = sandbox.config();
    let add = bridge(sandbox, "ADD", &config);
    assert!(add.status.success(), "ADD: {add:?}");
    let mut check: Value = serde_json::from_slice(&config).expect("the config is JSON");
    check["prevResult"] = serde_json::from_slice(&add.stdout).expect("the ADD result is JSON");
    let check = bridge(sandbox, "CHECK", check.to_string().as_bytes());
    assert!(check.status.success(), "CHECK: {check:?}");
    let del = bridge(sandbox, "DEL", &config);
    assert!(del.status.success(), "DEL: {del:?}");
    let bogus = bridge(sandbox, "BOGUS", &config);
    assert!(!bogus.status.success(), "BOGUS: {bogus:?}");
    4
}

/// Back to the state before the scenario: the bridge and the IPAM allocations gone.
fn reset(sandbox: &Sandbox) {
    let _ = Command::new("ip")
        .args(["link", "del", &sandbox.bridge])
        .stderr(Stdio::null())
        .status();
    let _ = std::fs::remove_dir_all(&sandbox.data_dir);
}

/// A bridge ADD still waiting for its config on stdin (so touching no network); it fails once
/// the returned stdin is dropped.
fn waiting_bridge(sandbox: &Sandbox, container_id: &str) -> Child {
    Command::new(BRIDGE)
        .env_clear()
        .envs([
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", container_id),
            ("CNI_NETNS", sandbox.netns_path().as_str()),
            ("CNI_IFNAME", "eth1"),
            ("CNI_PATH", "/usr/lib/cni"),
            ("CNI_ARGS", sandbox.cni_args.as_str()),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting bridge")
}

/// The scenario's events under `bin run`, masked; then the event of a plugin still running at
/// SIGTERM (closed by the shutdown, its exit unknown). Second, the events of a network config
/// written to the watched `conf` directory (removed again after); third, the event of a plugin
/// log line naming the container.
fn events_under(bin: &Path, sandbox: &Sandbox, conf: &Path) -> [Vec<Value>; 3] {
    // A plugin log, new for each run at the same path, with its offsets kept beside it.
    let log = conf.join("plugin.log");
    let state = conf.join("state");
    std::fs::write(&log, "").expect("creating the log");
    let config = TempFile::new(
        &format!(
            "same-{}.yaml",
            bin.file_name().and_then(|n| n.to_str()).unwrap_or("bin")
        ),
        &format!(
            "name: runtime-tokio-test\n\
             preset: development\n\
             enable_log_monitoring: true\n\
             log_paths: [{}]\n\
             state_dir: {}\n\
             enable_file_monitoring: true\n\
             cni_conf_path: {}\n\
             cni_bin_path: [/usr/lib/cni]\n\
             transaction_timeout: 30s\n\
             log_level: info\n",
            log.display(),
            state.display(),
            conf.display()
        ),
    );
    let mut daemon = Daemon::start(bin, &config, &[("TAPIO_CNI_NODE_NAME", "same-node")]);
    daemon.wait_ready("CNI config monitor running");
    let n = scenario(sandbox);
    // What a plugin logs about the container: one more event.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("opening the log");
    writeln!(
        f,
        "2026-11-22 18:13:08.338 [INFO][2] cni-plugin/k8s.go 73: Extracted identifiers for \
         CmdAddK8s ContainerID=\"{}\" Namespace=\"shop\" Pod=\"web-0\"",
        sandbox.container_id
    )
    .expect("appending to the log");
    // The log's event comes before or after the DEL's, as the correlation hold and the timing
    // have it: the two kinds are compared apart.
    let (logs, mut events): (Vec<Value>, Vec<Value>) = daemon
        .events_of(&sandbox.container_id, n + 1)
        .into_iter()
        .partition(|e| e["origin"]["monitor"] == "log");
    let file = conf.join("10-same.conflist");
    std::fs::write(
        &file,
        r#"{"cniVersion":"1.0.0","name":"same-net","plugins":[{"type":"bridge","bridge":"sm0","ipam":{"type":"host-local","subnet":"10.97.0.0/16"}},{"type":"portmap"}]}"#,
    )
    .expect("writing the config");
    let path = file.to_str().expect("UTF-8").to_owned();
    // Created, and now the directory's active config.
    let configs = daemon.events_where(2, |e| e["origin"]["file"] == path.as_str());
    let running_id = format!("{}-running", sandbox.container_id);
    let mut running = waiting_bridge(sandbox, &running_id);
    // Until the exec has surely reached the probes (see run.rs, the SIGTERM test).
    thread::sleep(Duration::from_millis(300));
    let (status, rest) = daemon.stop(Signal::SIGTERM);
    drop(running.stdin.take());
    let _ = running.wait();
    assert!(status.success(), "{}: {status}", bin.display());
    events.extend(events_in(&rest, &running_id));
    reset(sandbox);
    std::fs::remove_file(&file).expect("removing the config");
    std::fs::remove_file(&log).expect("removing the log");
    let _ = std::fs::remove_dir_all(&state);
    [
        events.iter().map(mask).collect(),
        configs.iter().map(mask).collect(),
        logs.iter().map(mask).collect(),
    ]
}

#[test]
fn both_runtimes_yield_the_same_events_for_the_same_plugin_runs() {
    require_root();
    let lite = lite_bin();
    let sandbox = Sandbox::new();
    let conf = TempDir::new("same-net.d");
    let [threaded, threaded_configs, threaded_logs] = events_under(&lite, &sandbox, &conf.0);
    let [tokio, tokio_configs, tokio_logs] = events_under(Path::new(TOKIO_BIN), &sandbox, &conf.0);

    // What the scenario is: not two empty or trivial lists that compare equal.
    let shape: Vec<(Value, Value)> = tokio
        .iter()
        .map(|e| {
            (
                e["cni"]["operation"].clone(),
                e["performance"]["success"].clone(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("ADD".into(), true.into()),
            ("CHECK".into(), true.into()),
            ("DEL".into(), true.into()),
            // An unknown command is no operation; the plugin's error says which.
            (Value::Null, false.into()),
            // Still running at the stop: no performance block, no success.
            ("ADD".into(), Value::Null),
        ],
        "{tokio:#?}"
    );
    assert_eq!(
        tokio[3]["cni"]["error"]["msg"], "unknown CNI_COMMAND: BOGUS",
        "{:#}",
        tokio[3]
    );
    assert!(
        tokio[4]["message"]
            .as_str()
            .is_some_and(|m| m.ends_with("still running when the collector stopped, exit unknown")),
        "{:#}",
        tokio[4]
    );
    for (n, (a, b)) in threaded.iter().zip(&tokio).enumerate() {
        assert_eq!(a, b, "event {n} differs:\nthreaded: {a:#}\ntokio: {b:#}");
    }
    assert_eq!(threaded.len(), tokio.len());
    let changes: Vec<&Value> = tokio_configs
        .iter()
        .map(|e| &e["tags"][e["tags"].as_array().map_or(0, Vec::len).saturating_sub(1)])
        .collect();
    assert_eq!(changes, ["created", "active"], "{tokio_configs:#?}");
    let [log] = &tokio_logs[..] else {
        panic!("one log event: {tokio_logs:#?}");
    };
    assert_eq!(log["origin"]["monitor"], "log", "{log:#}");
    assert_eq!(log["cni"]["plugin_type"], "calico");
    assert_eq!(
        threaded_logs, tokio_logs,
        "the log events differ:\nthreaded: {threaded_logs:#?}\ntokio: {tokio_logs:#?}"
    );
    assert_eq!(
        threaded_configs, tokio_configs,
        "the config events differ:\nthreaded: {threaded_configs:#?}\ntokio: {tokio_configs:#?}"
    );
}
