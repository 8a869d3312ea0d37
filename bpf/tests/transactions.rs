//! The whole eBPF path: the probes loaded in the running kernel, the reference
//! bridge and host-local plugins run for real in a network namespace, and every
//! ring-buffer record handed to the core's `Collector::handle_bpf_record`,
//! which must assemble one exact event per plugin execution.
//!
//! Needs root, kernel BTF and the plugins; fails (never skips) without them.

mod common;

use common::live::{wall_now, Live};
use common::{serial, Sandbox, CONTAINER_ID};
use proto::bpf::layout::{data, env, exec, header, kind};
use proto::event::{Category, ChainEntry, Monitor, Operation, Route, Severity};
use proto::scenario::{Hex, Input};
use proto::UnifiedEvent;
use serde_json::Value;

const POD_UID: &str = "5c0ffee0-1b1a-4c3e-9a7e-5f2f7d1e9c11";
const CNI_ARGS: &str = "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0;\
K8S_POD_INFRA_CONTAINER_ID=tapio-test-container;K8S_POD_UID=5c0ffee0-1b1a-4c3e-9a7e-5f2f7d1e9c11";

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// The parts of an event every bridge run shares.
fn assert_common(e: &UnifiedEvent, sandbox: &Sandbox, pid: u32, op: Operation) {
    assert_eq!(e.source, "cni");
    assert_eq!(e.origin.monitor, Monitor::Ebpf);
    assert_eq!(e.confidence, 1.0);
    assert_eq!(e.raw, None);
    assert!(e.id.starts_with(&format!("cni_bridge_{op}_")), "{}", e.id);
    let cni = e.cni.as_ref().expect("cni block");
    assert_eq!(cni.operation, Some(op));
    assert_eq!(cni.plugin_type.as_deref(), Some("bridge"));
    assert_eq!(cni.network_name.as_deref(), Some("tapio-test"));
    assert_eq!(cni.cni_version.as_deref(), Some("1.0.0"));
    assert_eq!(
        cni.args.get("K8S_POD_NAME").map(String::as_str),
        Some("web-0")
    );
    assert_eq!(cni.args.get("IgnoreUnknown"), None);
    let k8s = e.kubernetes.as_ref().expect("kubernetes block");
    assert_eq!(k8s.pod_name.as_deref(), Some("web-0"));
    assert_eq!(k8s.namespace.as_deref(), Some("shop"));
    assert_eq!(k8s.pod_uid.as_deref(), Some(POD_UID));
    let sys = e.system.as_ref().expect("system block");
    assert_eq!(sys.network_ns, Some(sandbox.netns_path()));
    assert_eq!(sys.pid, Some(pid));
    assert_eq!(sys.ppid, Some(std::process::id()));
    assert_eq!(sys.comm.as_deref(), Some("bridge"));
    let latency = e.performance.as_ref().and_then(|p| p.latency_ms);
    assert!(
        latency.is_some_and(|l| l > 0.0 && l < 10_000.0),
        "{latency:?}"
    );
    // Dated by the exec, a moment ago.
    let age_ms = wall_now().millis_since(e.timestamp);
    assert!((0.0..60_000.0).contains(&age_ms), "{age_ms} ms old");
}

/// The host-local child of a run, with its own duration.
fn assert_ipam_child(e: &UnifiedEvent, op: Operation, exit_code: i32) {
    let chain = &e.cni.as_ref().expect("cni block").chain;
    let [ChainEntry {
        plugin_type,
        operation,
        duration_ms,
        exit_code: child_exit,
        children,
    }] = &chain[..]
    else {
        panic!("one delegated plugin expected: {chain:#?}")
    };
    assert_eq!(plugin_type, "host-local");
    assert_eq!(*operation, Some(op));
    assert_eq!(*child_exit, Some(exit_code));
    assert!(children.is_empty());
    let parent = e
        .performance
        .as_ref()
        .and_then(|p| p.latency_ms)
        .unwrap_or(0.0);
    assert!(
        duration_ms.is_some_and(|d| d > 0.0 && d < parent),
        "{duration_ms:?} within {parent}"
    );
}

#[test]
fn bridge_add_check_del_become_exact_events() {
    let _serial = serial();
    let mut live = Live::new();
    let mut sandbox = Sandbox::new();
    sandbox.cni_args = CNI_ARGS.to_owned();
    let config = sandbox.config_with(serde_json::json!({"routes": [{"dst": "0.0.0.0/0"}]}));

    // ADD
    let (pid, output) = sandbox.run_with("ADD", CONTAINER_ID, "eth0", &config);
    assert!(output.status.success(), "bridge ADD: {output:?}");
    let result = json(&output.stdout);
    let e = live.event_of(pid);
    assert_common(&e, &sandbox, pid, Operation::Add);
    assert_ipam_child(&e, Operation::Add, 0);

    let address = result["ips"][0]["address"].as_str().expect("an address");
    let ip = address.split('/').next().expect("address/prefix");
    assert!(ip.starts_with("192.0.2."), "{address}");
    let pod_if = result["interfaces"]
        .as_array()
        .and_then(|l| l.iter().find(|i| i["sandbox"].is_string()))
        .expect("the pod's interface");
    let host_veth = result["interfaces"]
        .as_array()
        .and_then(|l| {
            l.iter()
                .find(|i| i["sandbox"].is_null() && i["name"] != sandbox.bridge.as_str())
        })
        .expect("the host end of the veth");

    assert_eq!(e.category, Category::NetworkSetup);
    assert_eq!(e.severity, Severity::Info);
    assert_eq!(
        e.message,
        format!("CNI ADD succeeded for pod shop/web-0 via bridge with IP {ip}")
    );
    let cni = e.cni.as_ref().expect("cni block");
    assert_eq!(cni.container_id.as_deref(), Some(CONTAINER_ID));
    assert_eq!(cni.if_name.as_deref(), Some("eth0"));
    assert_eq!(cni.exit_code, Some(0));
    assert_eq!(cni.error, None);
    let net = e.network.as_ref().expect("network block");
    assert_eq!(net.plugin_name.as_deref(), Some("bridge"));
    assert_eq!(net.interface_name.as_deref(), Some("eth0"));
    assert_eq!(net.ip_address.as_deref(), Some(ip));
    assert_eq!(net.subnet.as_deref(), Some("192.0.2.0/24"));
    assert_eq!(net.gateway.as_deref(), Some("192.0.2.1"));
    assert_eq!(net.mac.as_deref(), pod_if["mac"].as_str());
    assert_eq!(net.host_interface.as_deref(), host_veth["name"].as_str());
    assert_eq!(
        net.routes,
        [Route {
            destination: "0.0.0.0/0".to_owned(),
            gateway: None
        }]
    );
    assert_eq!(e.attributes.get("bridge"), Some(&sandbox.bridge));
    assert_eq!(e.attributes["ipam_type"], "host-local");
    assert_eq!(e.attributes["plugin_path"], "/usr/lib/cni/bridge");
    assert!(
        e.attributes.contains_key("netns_inode"),
        "{:?}",
        e.attributes
    );
    assert_eq!(e.performance.as_ref().and_then(|p| p.success), Some(true));

    // CHECK, with the ADD's result as prevResult, as libcni sends it.
    let mut check_config = json(&config);
    check_config["prevResult"] = result.clone();
    let check_config = check_config.to_string().into_bytes();
    let (pid, output) = sandbox.run_with("CHECK", CONTAINER_ID, "eth0", &check_config);
    assert!(output.status.success(), "bridge CHECK: {output:?}");
    let e = live.event_of(pid);
    assert_common(&e, &sandbox, pid, Operation::Check);
    assert_ipam_child(&e, Operation::Check, 0);
    assert_eq!(e.category, Category::NetworkCheck);
    assert_eq!(
        e.message,
        "CNI CHECK succeeded for pod shop/web-0 via bridge"
    );
    assert_eq!(e.performance.as_ref().and_then(|p| p.success), Some(true));

    // DEL
    let (pid, output) = sandbox.run_with("DEL", CONTAINER_ID, "eth0", &config);
    assert!(output.status.success(), "bridge DEL: {output:?}");
    let e = live.event_of(pid);
    assert_common(&e, &sandbox, pid, Operation::Del);
    assert_ipam_child(&e, Operation::Del, 0);
    assert_eq!(e.category, Category::NetworkTeardown);
    assert_eq!(e.message, "CNI DEL succeeded for pod shop/web-0 via bridge");
    assert_eq!(e.cni.as_ref().and_then(|c| c.exit_code), Some(0));
    assert_eq!(
        e.network.as_ref().and_then(|n| n.ip_address.as_deref()),
        None,
        "DEL prints no result"
    );

    let stats = &live.collector.stats().bpf;
    assert_eq!(stats.invalid_records, 0);
    assert_eq!(stats.stream_gaps, 0);
    assert_eq!(stats.env_incomplete, 0);
    assert_eq!(live.probes.dropped().expect("reading drops"), 0);
    assert_eq!(live.collector.open_transactions(), 0);
}

#[test]
fn an_add_with_no_address_left_fails_with_the_plugins_error() {
    let _serial = serial();
    let mut live = Live::new();
    let mut sandbox = Sandbox::new();
    sandbox.cni_args = CNI_ARGS.to_owned();
    // A range of one address: the first pod takes it.
    let config = sandbox.config_with(serde_json::json!({
        "rangeStart": "192.0.2.10",
        "rangeEnd": "192.0.2.10",
    }));
    let (first, output) = sandbox.run_with("ADD", CONTAINER_ID, "eth0", &config);
    assert!(output.status.success(), "first ADD: {output:?}");
    let e = live.event_of(first);
    assert_eq!(
        e.network.as_ref().and_then(|n| n.ip_address.as_deref()),
        Some("192.0.2.10")
    );

    let (pid, output) = sandbox.run_with("ADD", "tapio-test-second", "eth1", &config);
    assert!(
        !output.status.success(),
        "second ADD got an address: {output:?}"
    );
    let error = json(&output.stdout);
    let code = error["code"].as_i64().expect("error code");
    let msg = error["msg"].as_str().expect("error msg");
    assert!(msg.contains("no IP addresses available"), "{msg}");

    let e = live.event_of(pid);
    assert_eq!(e.category, Category::NetworkSetup);
    assert_eq!(e.severity, Severity::Error);
    assert_eq!(e.performance.as_ref().and_then(|p| p.success), Some(false));
    let cni = e.cni.as_ref().expect("cni block");
    assert_eq!(cni.container_id.as_deref(), Some("tapio-test-second"));
    assert_eq!(cni.if_name.as_deref(), Some("eth1"));
    assert_eq!(cni.exit_code, output.status.code());
    assert_ne!(cni.exit_code, Some(0));
    let err = cni.error.as_ref().expect("the plugin's error");
    assert_eq!(err.code, Some(code));
    assert_eq!(err.msg, msg);
    assert_eq!(
        err.details.as_deref(),
        error["details"].as_str().filter(|d| !d.is_empty())
    );
    assert_eq!(
        e.message,
        format!("CNI ADD failed for pod shop/web-0 via bridge: {msg}")
    );
    // host-local failed first and said so.
    let chain = &cni.chain;
    assert_eq!(chain.len(), 1, "{chain:#?}");
    assert_eq!(chain[0].plugin_type, "host-local");
    assert!(chain[0].exit_code.is_some_and(|c| c != 0));
    assert!(e.tags.iter().any(|t| t == "failed"));
}

/// Records one bridge + host-local ADD and DEL and writes them as a replay
/// scenario (`fixtures/scenarios/bridge-add-del.jsonl`) to the file named by
/// `TAPIO_SCENARIO_OUT`, or to stdout. Run on purpose:
/// `cargo test -p tapio-cni-bpf --test transactions -- --ignored --nocapture`.
#[test]
#[ignore = "writes a scenario fixture; run by hand to record one"]
fn capture_bridge_add_del_scenario() {
    let _serial = serial();
    let mut live = Live::new();
    let mut sandbox = Sandbox::new();
    sandbox.cni_args = CNI_ARGS.to_owned();
    let config = sandbox.config_with(serde_json::json!({"routes": [{"dst": "0.0.0.0/0"}]}));
    let (add, output) = sandbox.run_with("ADD", CONTAINER_ID, "eth0", &config);
    assert!(output.status.success(), "bridge ADD: {output:?}");
    live.event_of(add);
    let (del, output) = sandbox.run_with("DEL", CONTAINER_ID, "eth0", &config);
    assert!(output.status.success(), "bridge DEL: {output:?}");
    live.event_of(del);

    // The two runs and whatever they exec'd, nothing else the host did.
    let u32_at = |b: &[u8], at: usize| u32::from_ne_bytes(b[at..at + 4].try_into().unwrap());
    let u64_at = |b: &[u8], at: usize| u64::from_ne_bytes(b[at..at + 8].try_into().unwrap());
    let mut pids = vec![add, del];
    let mut records = Vec::new();
    for r in &live.records {
        let (pid, ppid) = (u32_at(r, header::PID), u32_at(r, header::PPID));
        if u32_at(r, header::KIND) == kind::EXEC && pids.contains(&ppid) && !pids.contains(&pid) {
            pids.push(pid);
        }
        if pids.contains(&pid) {
            records.push(unused_tail_zeroed(r.clone()));
        }
    }
    let first_ts = u64_at(&records[0], header::TS_NS);
    let start = live.clock.to_wall(first_ts);
    let mut lines = vec![serde_json::json!({ "start": start }).to_string()];
    lines.push(
        serde_json::to_string(&Input::BpfClock {
            at_ms: 0,
            realtime_minus_monotonic_ns: live.clock.realtime_minus_monotonic_ns,
        })
        .expect("serializable"),
    );
    for r in &records {
        let at_ms = (u64_at(r, header::TS_NS) - first_ts) / 1_000_000;
        let (hex, size) = Hex::trimmed(r);
        let input = Input::BpfRecord {
            at_ms,
            size: Some(size),
            hex,
        };
        lines.push(serde_json::to_string(&input).expect("serializable"));
    }
    let text = lines.join("\n") + "\n";
    match std::env::var_os("TAPIO_SCENARIO_OUT") {
        Some(path) => std::fs::write(&path, text).expect("writing the scenario"),
        None => print!("{text}"),
    }
}

/// The record with the bytes past its strings and payload set to zero: they
/// are left over in the ring buffer, mean nothing, and would only bloat the
/// fixture.
fn unused_tail_zeroed(mut r: Vec<u8>) -> Vec<u8> {
    let len_at =
        |r: &[u8], at: usize| u32::from_ne_bytes(r[at..at + 4].try_into().unwrap()) as usize;
    let zero_from = |r: &mut Vec<u8>, from: usize, to: usize| r[from.min(to)..to].fill(0);
    match u32::from_ne_bytes(r[..4].try_into().unwrap()) {
        kind::EXEC => {
            let comm = &r[exec::COMM..exec::PATH];
            let comm_end = exec::COMM + comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
            zero_from(&mut r, comm_end, exec::PATH);
            let path_end = exec::PATH + len_at(&r, exec::PATH_LEN);
            zero_from(&mut r, path_end, exec::SIZE);
        }
        kind::ENV => {
            let end = env::DATA + len_at(&r, env::LEN);
            zero_from(&mut r, end, env::SIZE);
        }
        kind::DATA => {
            let end = data::DATA + len_at(&r, data::LEN);
            zero_from(&mut r, end, data::SIZE);
        }
        _ => {}
    }
    r
}
