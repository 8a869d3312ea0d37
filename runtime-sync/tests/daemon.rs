//! The real `tapio-cni-collector-lite` binary: `run` with the probes in the running kernel and
//! the reference bridge + host-local plugins in a network namespace; its configuration errors;
//! `check`. Needs root, kernel BTF and the plugins; fails (never skips) without them.

mod common;

use std::path::Path;
use std::process::Command;

use common::daemon::{
    a_plugin_running_at_sigterm_is_reported, an_unknown_key_is_refused, config_file, run_to_end,
    what_happened_before_sigint_is_written, Daemon, TempFile,
};
use common::{require_root, Sandbox};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tapio-cni-collector-lite");

/// Starts the daemon under test and waits until its probes are attached.
fn start(name: &str, env: &[(&str, &str)]) -> (TempFile, Daemon) {
    let config = config_file(name);
    let daemon = Daemon::start(Path::new(BIN), &config, env);
    (config, daemon)
}

#[test]
fn run_reports_bridge_add_and_del_and_stops_cleanly_on_sigterm() {
    require_root();
    let (_config, mut daemon) = start("run.yaml", &[("TAPIO_CNI_NODE_NAME", "rt-test-node")]);
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

    let rest = daemon.stop_cleanly();
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
    what_happened_before_sigint_is_written(Path::new(BIN), "lite");
}

#[test]
fn a_plugin_still_running_at_sigterm_is_reported_with_its_exit_unknown() {
    require_root();
    a_plugin_running_at_sigterm_is_reported(Path::new(BIN), "lite");
}

#[test]
fn an_unknown_key_fails_at_start_up_naming_it() {
    an_unknown_key_is_refused(Path::new(BIN));
}

#[test]
fn a_bad_value_fails_at_start_up_naming_the_key() {
    let config = TempFile::new("bad.yaml", "cni_collector:\n  poll_interval: soon\n");
    let out = run_to_end(Path::new(BIN), &config, &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cni_collector.poll_interval"), "{stderr}");
}

#[test]
fn the_environment_overrides_the_file() {
    // The file is valid; the override is not, and the error names the variable and the key:
    // proof that the variable was read and applied over the file.
    let config = config_file("env.yaml");
    let out = run_to_end(
        Path::new(BIN),
        &config,
        &[("TAPIO_CNI_RING_BUFFER_SIZE", "12345")],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ring_buffer_size"), "{stderr}");

    let out = run_to_end(
        Path::new(BIN),
        &config,
        &[("TAPIO_CNI_CONF_PATHS", "/etc/cni/net.d")],
    );
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
