//! The real `tapio-cni-collector run` on tokio: the probes in the running kernel and the
//! reference bridge + host-local plugins in a network namespace. Needs root, kernel BTF and the
//! plugins; fails (never skips) without them.

#[path = "../../runtime-sync/tests/common/mod.rs"]
mod common;
mod support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::daemon::{
    a_plugin_running_at_sigterm_is_reported, an_unknown_key_is_refused, config_file, config_with,
    events_in, mask, run_to_end, what_happened_before_sigint_is_written, Daemon, TempDir, TempFile,
};
use common::{require_root, Sandbox};
use serde_json::{json, Value};
use support::TOKIO_BIN;

/// The masked event `tapio-cni-collector` must write for a bridge `op` in `sandbox`.
fn expected(sandbox: &Sandbox, op: &str, network: Value) -> Value {
    let netns = sandbox.netns_path();
    let inode = std::fs::metadata(&netns).expect("the netns file").ino();
    let (category, message) = match op {
        "ADD" => (
            "network_setup",
            format!(
                "CNI ADD succeeded for pod shop/web-0 via bridge with IP {}",
                network["ip_address"].as_str().expect("an IP")
            ),
        ),
        _ => (
            "network_teardown",
            "CNI DEL succeeded for pod shop/web-0 via bridge".to_owned(),
        ),
    };
    let mut attributes = json!({
        "ipam_type": "host-local",
        "netns_inode": inode.to_string(),
        "plugin_path": "/usr/lib/cni/bridge",
    });
    if op == "ADD" {
        attributes["bridge"] = Value::from(sandbox.bridge.as_str());
    }
    json!({
        "attributes": attributes,
        "category": category,
        "cni": {
            "args": {"K8S_POD_NAME": "web-0", "K8S_POD_NAMESPACE": "shop"},
            "chain": [{
                "duration_ms": "<ms>",
                "exit_code": 0,
                "operation": op,
                "plugin_type": "host-local",
            }],
            "cni_version": "1.0.0",
            "container_id": sandbox.container_id,
            "exit_code": 0,
            "if_name": "eth0",
            "network_name": "tapio-rt-test",
            "operation": op,
            "plugin_type": "bridge",
        },
        "confidence": 1.0,
        "id": format!("cni_bridge_{op}_<nanos>_<seq>"),
        "kubernetes": {
            "container_id": sandbox.container_id,
            "namespace": "shop",
            "node_name": "tokio-test-node",
            "pod_name": "web-0",
        },
        "message": message,
        "network": network,
        "origin": {"monitor": "ebpf"},
        "performance": {
            "latency_ms": "<ms>",
            "metrics": {"execution_time_ms": "<ms>"},
            "success": true,
        },
        "severity": "info",
        "source": "cni",
        "system": {
            "comm": "bridge",
            "network_ns": netns,
            "node_name": "tokio-test-node",
            "pid": "<pid>",
            "ppid": std::process::id(),
        },
        "tags": ["cni", "bridge", op, "namespace:shop"],
        "timestamp": "<timestamp>",
        "trace_context": {"span_id": "<span_id>", "trace_id": "<trace_id>"},
        "type": "network",
    })
}

/// A plugin dir of `tag` holding `slow`: sleep(1) under a plugin's name.
fn slow_plugin(tag: &str) -> (TempDir, PathBuf) {
    let bin = TempDir::new(tag);
    let slow = bin.0.join("slow");
    std::fs::copy("/bin/sleep", &slow).expect("copying /bin/sleep");
    (bin, slow)
}

/// `slow` run as an ADD of `container_id` for `seconds`, with no network config.
fn slow_add(slow: &Path, container_id: &str, seconds: u32) -> Command {
    let mut command = Command::new(slow);
    command.arg(seconds.to_string()).env_clear().envs([
        ("CNI_COMMAND", "ADD"),
        ("CNI_CONTAINERID", container_id),
        ("CNI_NETNS", "/var/run/netns/none"),
        ("CNI_IFNAME", "eth0"),
        ("CNI_ARGS", "K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0"),
    ]);
    command
}

#[test]
fn run_reports_bridge_add_and_del_and_stops_cleanly_on_sigterm() {
    require_root();
    let config = config_file("run.yaml");
    let mut daemon = Daemon::start(
        Path::new(TOKIO_BIN),
        &config,
        &[("TAPIO_CNI_NODE_NAME", "tokio-test-node")],
    );
    assert!(
        daemon.stderr().contains("not active yet"),
        "the inactive keys are logged once: {}",
        daemon.stderr()
    );
    let sandbox = Sandbox::new();
    let add = sandbox.run("ADD");
    assert!(add.status.success(), "bridge ADD: {add:?}");
    let result: Value = serde_json::from_slice(&add.stdout).expect("ADD result JSON");
    let del = sandbox.run("DEL");
    assert!(del.status.success(), "bridge DEL: {del:?}");

    let events = daemon.events_of(&sandbox.container_id, 2);
    let address = result["ips"][0]["address"].as_str().expect("an address");
    let ip = address.split('/').next().expect("address/prefix");
    assert!(ip.starts_with("192.0.2."), "{ip}");
    let added = expected(
        &sandbox,
        "ADD",
        json!({
            "cni_version": "1.0.0",
            "gateway": "192.0.2.1",
            "host_interface": "<veth>",
            "interface_name": "eth0",
            "ip_address": ip,
            "mac": "<mac>",
            "plugin_name": "bridge",
            "subnet": "192.0.2.0/24",
        }),
    );
    assert_eq!(mask(&events[0]), added, "{:#}", events[0]);
    // The masked MAC and veth are the result's own.
    let interfaces = result["interfaces"].as_array().expect("interfaces");
    let host_veth = interfaces
        .iter()
        .find(|i| i.get("sandbox").is_none() && i["name"] != sandbox.bridge.as_str())
        .expect("the host-side veth in the result");
    assert_eq!(events[0]["network"]["host_interface"], host_veth["name"]);
    let eth0 = interfaces
        .iter()
        .find(|i| i["name"] == "eth0")
        .expect("eth0 in the result");
    assert_eq!(events[0]["network"]["mac"], eth0["mac"]);
    let deleted = expected(
        &sandbox,
        "DEL",
        json!({"cni_version": "1.0.0", "interface_name": "eth0", "plugin_name": "bridge"}),
    );
    assert_eq!(mask(&events[1]), deleted, "{:#}", events[1]);
    drop(sandbox);

    let rest = daemon.stop_cleanly();
    // The sandbox's clean-up DEL came after; every line is whole.
    events_in(&rest, "");
    let stderr = daemon.stderr();
    let summary = stderr
        .lines()
        .find(|l| l.contains(" stopped "))
        .unwrap_or_else(|| panic!("the summary is logged: {stderr}"));
    for field in [
        "invalid_records=0",
        "dropped_ring_buffer_full=0",
        "dropped_channel_full=0",
        "dropped_event_queue_full=0",
        "open_transactions=0",
    ] {
        assert!(summary.contains(field), "{field} in {summary}");
    }
    let count = |key: &str| -> u64 {
        let Some(at) = summary.find(&format!(" {key}=")) else {
            panic!("{key} in {summary}");
        };
        summary[at + key.len() + 2..]
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{key} is a number in {summary}"))
    };
    // ADD, DEL and the clean-up DEL at least (other tests' plugins may run meanwhile), each
    // from several records (exec, env, stdin, stdout, exit of bridge and host-local).
    assert!(count("events") >= 3, "{summary}");
    assert!(count("records") >= 10 * count("events"), "{summary}");
}

#[test]
fn what_happened_before_sigint_is_written_before_exit() {
    require_root();
    what_happened_before_sigint_is_written(Path::new(TOKIO_BIN), "tokio");
}

#[test]
fn an_unknown_key_fails_at_start_up_naming_it() {
    let stderr = an_unknown_key_is_refused(Path::new(TOKIO_BIN));
    assert!(stderr.starts_with("tapio-cni-collector: "), "{stderr}");
}

#[test]
fn a_disabled_collector_exits_at_once_and_says_so() {
    let config = TempFile::new("disabled.yaml", "enabled: false\n");
    let out = run_to_end(Path::new(TOKIO_BIN), &config, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("enabled: false; nothing to do"), "{stderr}");
    assert!(stderr.contains(" stopped records=0 events=0 "), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn parallel_add_del_pairs_are_all_reported_and_kept_apart() {
    require_root();
    const PAIRS: usize = 12;
    let config = config_file("parallel.yaml");
    let mut daemon = Daemon::start(Path::new(TOKIO_BIN), &config, &[]);
    let sandboxes: Vec<Sandbox> = (0..PAIRS).map(|_| Sandbox::new()).collect();
    thread::scope(|s| {
        for sandbox in &sandboxes {
            s.spawn(move || {
                let add = sandbox.run("ADD");
                assert!(add.status.success(), "ADD: {add:?}");
                let del = sandbox.run("DEL");
                assert!(del.status.success(), "DEL: {del:?}");
            });
        }
    });
    let ids: Vec<&str> = sandboxes.iter().map(|s| s.container_id.as_str()).collect();
    let events = daemon.events_where(2 * PAIRS, |e| {
        ids.iter().any(|id| e["cni"]["container_id"] == *id)
    });
    for sandbox in &sandboxes {
        let mine: Vec<&Value> = events
            .iter()
            .filter(|e| e["cni"]["container_id"] == sandbox.container_id.as_str())
            .collect();
        let ops: Vec<&Value> = mine.iter().map(|e| &e["cni"]["operation"]).collect();
        assert_eq!(ops, ["ADD", "DEL"], "{}", sandbox.container_id);
        for e in mine {
            assert_eq!(e["performance"]["success"], true, "{e:#}");
            assert_eq!(e["system"]["network_ns"], sandbox.netns_path().as_str());
            assert_eq!(e["cni"]["chain"][0]["plugin_type"], "host-local");
        }
    }
    drop(sandboxes);
    daemon.stop_cleanly();
    let stderr = daemon.stderr();
    assert!(
        stderr.contains("dropped_ring_buffer_full=0") && stderr.contains("invalid_records=0"),
        "{stderr}"
    );
}

/// A plugin whose exit does not come within `transaction_timeout` is reported by the core's
/// deadline, which only the loop's timer branch fires: no other input arrives meanwhile.
#[test]
fn a_plugin_still_running_at_the_deadline_is_reported_by_the_timer() {
    require_root();
    // A plugin that outlives the timeout.
    let (bin, slow) = slow_plugin("slow-plugins");
    let config = config_with(
        "timeout.yaml",
        &format!(
            "cni_bin_path: [{}]\ntransaction_timeout: 1s\n",
            bin.0.display()
        ),
    );
    let mut daemon = Daemon::start(Path::new(TOKIO_BIN), &config, &[]);
    let container_id = format!("tapio-tokio-slow-{}", std::process::id());
    let mut plugin = slow_add(&slow, &container_id, 4)
        .stdin(Stdio::null())
        .spawn()
        .expect("starting the slow plugin");
    let started = Instant::now();
    let events = daemon.events_of(&container_id, 1);
    let waited = started.elapsed();
    let _ = plugin.wait();
    let event = &events[0];
    assert_eq!(
        event["message"],
        // No network config on its stdin, so no plugin type to name.
        "CNI ADD for pod shop/web-0: exit not seen within 1 s, the process vanished or its \
         records were lost",
        "{event:#}"
    );
    assert_eq!(event["severity"], "warning");
    assert_eq!(
        event["attributes"]["plugin_path"],
        slow.to_str().expect("UTF-8")
    );
    assert!(event.get("performance").is_none(), "{event:#}");
    assert!(
        waited < Duration::from_secs(3),
        "reported by the deadline, not by the exit at 4 s: {waited:?}"
    );
    daemon.stop_cleanly();
}

#[test]
fn a_closed_stdout_stops_the_daemon_quietly() {
    require_root();
    let config = config_file("closed-stdout.yaml");
    let stderr = TempFile::new("closed-stdout.log", "");
    let mut child = Command::new(TOKIO_BIN)
        .args(["run", "--config"])
        .arg(&config.0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr.0).expect("the stderr file"))
        .spawn()
        .expect("starting the daemon");
    // The reader goes away before anything is written.
    drop(child.stdout.take());
    let log = || std::fs::read_to_string(&stderr.0).unwrap_or_default();
    let started = Instant::now();
    while !log().contains("eBPF process monitor running") {
        assert!(started.elapsed() < Duration::from_secs(30), "{}", log());
        thread::sleep(Duration::from_millis(50));
    }
    let sandbox = Sandbox::new();
    assert!(sandbox.run("ADD").status.success());
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the daemon") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(40) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the daemon kept running with its stdout closed: {}", log());
        }
        thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}: {}", log());
    assert!(
        log().contains("standard output closed; stopping"),
        "{}",
        log()
    );
}

#[test]
fn a_plugin_still_running_at_sigterm_is_reported_with_its_exit_unknown() {
    require_root();
    a_plugin_running_at_sigterm_is_reported(Path::new(TOKIO_BIN), "tokio");
}

/// The CNI config monitor on real inotify: a network config created, replaced atomically with
/// another IPAM range and a plugin more, and a file that does not parse.
#[test]
fn config_changes_in_the_conf_dir_are_reported() {
    require_root();
    let conf = TempDir::new("net.d");
    let bin = TempDir::new("conf-bin");
    // A plugin dir of its own with one binary that is no CNI plugin (so no VERSION run).
    std::fs::copy("/bin/true", bin.0.join("noop")).expect("copying /bin/true");
    let config = TempFile::new(
        "files.yaml",
        &format!(
            "name: runtime-tokio-test\n\
             preset: development\n\
             enable_log_monitoring: false\n\
             cni_conf_path: {}\n\
             cni_bin_path: [{}]\n\
             log_level: info\n",
            conf.0.display(),
            bin.0.display()
        ),
    );
    let mut daemon = Daemon::start(Path::new(TOKIO_BIN), &config, &[]);
    daemon.wait_ready("CNI config monitor running");
    let dir = conf.0.to_str().expect("UTF-8").to_owned();
    let file = conf.0.join("10-tapio.conflist");
    let path = file.to_str().expect("UTF-8").to_owned();
    let change = |kind: &'static str| {
        let path = path.clone();
        move |e: &Value| e["origin"]["file"] == path.as_str() && e["attributes"]["change"] == kind
    };
    let list = |subnet: &str, extra: &str| {
        format!(
            r#"{{"cniVersion":"1.0.0","name":"tapio-net","plugins":[{{"type":"bridge","bridge":"tp0","ipam":{{"type":"host-local","subnet":"{subnet}"}}}}{extra}]}}"#
        )
    };

    std::fs::write(&file, list("10.99.0.0/16", "")).expect("writing the config");
    let created = &daemon.events_where(1, change("created"))[0];
    assert_eq!(created["category"], "config_change", "{created:#}");
    assert_eq!(created["origin"]["monitor"], "file");
    assert_eq!(created["cni"]["network_name"], "tapio-net");
    assert_eq!(created["attributes"]["ipam_ranges"], "10.99.0.0/16");
    assert_eq!(created["attributes"]["plugins"], "bridge");
    assert_eq!(
        created["message"],
        format!(
            "CNI config 10-tapio.conflist created in {dir}: network tapio-net, cniVersion 1.0.0, \
             plugin bridge"
        )
    );
    let active = &daemon.events_where(1, |e| e["attributes"]["active_config"] == path.as_str())[0];
    assert_eq!(
        active["message"],
        format!(
            "Active CNI config of {dir} is 10-tapio.conflist (network tapio-net, cniVersion \
             1.0.0, plugin bridge)"
        )
    );

    // Atomically, as config writers do: a temporary file renamed over the config.
    let tmp = conf.0.join(".10-tapio.conflist.tmp");
    std::fs::write(&tmp, list("10.98.0.0/16", r#",{"type":"portmap"}"#)).expect("writing");
    std::fs::rename(&tmp, &file).expect("renaming over the config");
    let modified = &daemon.events_where(1, change("modified"))[0];
    assert_eq!(modified["severity"], "warning", "{modified:#}");
    assert_eq!(modified["attributes"]["ipam_ranges"], "10.98.0.0/16");
    assert_eq!(modified["attributes"]["ipam_ranges_before"], "10.99.0.0/16");
    assert_eq!(modified["attributes"]["plugins_added"], "portmap");
    assert_eq!(
        modified["message"],
        format!(
            "CNI config 10-tapio.conflist modified in {dir}: network tapio-net, cniVersion \
             1.0.0, plugins bridge → portmap; plugins added: portmap; IPAM ranges 10.99.0.0/16 \
             → 10.98.0.0/16; settings of bridge changed"
        )
    );

    let bad = conf.0.join("20-bad.conf");
    std::fs::write(&bad, "{not json").expect("writing");
    let bad_path = bad.to_str().expect("UTF-8").to_owned();
    let invalid = &daemon.events_where(1, |e| e["origin"]["file"] == bad_path.as_str())[0];
    assert_eq!(invalid["severity"], "error", "{invalid:#}");
    assert_eq!(
        invalid["message"],
        "CNI config 20-bad.conf is invalid, the container runtime will skip it: invalid JSON: \
         key must be a string at line 1 column 2; no earlier good version"
    );

    daemon.stop_cleanly();
}

/// `use_ebpf: false`: the /proc fallback, a scan every `poll_interval` on the loop's timer.
#[test]
fn without_ebpf_the_proc_fallback_reports_a_running_plugin() {
    require_root();
    // A plugin that runs long enough for several scans.
    let (bin, slow) = slow_plugin("proc-plugins");
    let config = config_with(
        "proc.yaml",
        &format!(
            "use_ebpf: false\npoll_interval: 100ms\ncni_bin_path: [{}]\n",
            bin.0.display()
        ),
    );
    let mut daemon = Daemon::start_until(
        Path::new(TOKIO_BIN),
        &config,
        &[],
        "/proc process monitor running",
    );
    let container_id = format!("tapio-tokio-proc-{}", std::process::id());
    let status = slow_add(&slow, &container_id, 1)
        .status()
        .expect("running the slow plugin");
    assert!(status.success());
    let event = &daemon.events_of(&container_id, 1)[0];
    assert_eq!(event["origin"]["monitor"], "proc", "{event:#}");
    assert_eq!(event["confidence"], 0.5);
    assert_eq!(event["cni"]["operation"], "ADD");
    assert_eq!(event["kubernetes"]["pod_name"], "web-0");
    daemon.stop_cleanly();
    let stderr = daemon.stderr();
    assert!(
        stderr.contains("ran on the /proc fallback (lossy) because use_ebpf is false"),
        "{stderr}"
    );
}
