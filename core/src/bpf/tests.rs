//! Transactions assembled from synthetic records, through [`Collector::handle_bpf_record`].

use crate::bpf::record::{raw, Error, Kind};
use crate::bpf::MonoClock;
use crate::event::{Category, ChainEntry, Monitor, Operation, Route, Severity, UnifiedEvent};
use crate::{Collector, Config, TimeoutReason, Timestamp};

/// 2026-01-15T12:00:00Z.
pub(crate) const WALL: i64 = 1_768_478_400_000_000_000;
/// The monotonic time the tests start at: 1000 s after boot.
pub(crate) const MONO: u64 = 1_000_000_000_000;
pub(crate) const MS: u64 = 1_000_000;
pub(crate) const CLOCK: MonoClock = MonoClock {
    realtime_minus_monotonic_ns: WALL - MONO as i64,
};

const BRIDGE: &str = "/opt/cni/bin/bridge";
const HOST_LOCAL: &str = "/opt/cni/bin/host-local";
const CONTAINER: &str = "9f3b1c0d2e4a";
const CNI_ARGS: &str = "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-7d4b9;\
K8S_POD_INFRA_CONTAINER_ID=9f3b1c0d2e4a;K8S_POD_UID=0d7c6a2e-1b1a-4c3e-9a7e-5f2f7d1e9c11;\
CUSTOM_TOKEN=s3cr3t-arg";
const CONFIG: &str = r#"{"cniVersion":"1.0.0","name":"shop-net","type":"bridge","bridge":"cni0",
"isGateway":true,"password":"s3cr3t-config","ipam":{"type":"host-local","subnet":"10.22.0.0/16",
"token":"s3cr3t-ipam"}}"#;
const RESULT: &str = r#"{
    "cniVersion": "1.0.0",
    "interfaces": [
        {"name": "cni0", "mac": "aa:5e:1d:3c:00:01"},
        {"name": "veth1a2b3c4d", "mac": "6e:2f:00:11:22:33"},
        {"name": "eth0", "mac": "0a:58:0a:16:00:05", "sandbox": "/var/run/netns/cni-1234"}
    ],
    "ips": [{"interface": 2, "address": "10.22.0.5/16", "gateway": "10.22.0.1"}],
    "routes": [{"dst": "0.0.0.0/0", "gw": "10.22.0.1"}],
    "dns": {}
}"#;
const IPAM_RESULT: &str =
    r#"{"cniVersion":"1.0.0","ips":[{"address":"10.22.0.5/16","gateway":"10.22.0.1"}],"dns":{}}"#;

struct Run {
    c: Collector,
    now: Timestamp,
    events: Vec<UnifiedEvent>,
    fed: u64,
}

impl Run {
    fn new() -> Run {
        Run::with(Config::default())
    }

    fn with(config: Config) -> Run {
        Run {
            c: Collector::new(config),
            now: Timestamp::from_unix_nanos(WALL),
            events: Vec::new(),
            fed: 0,
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.fed += 1;
        self.c
            .handle_bpf_record(self.now, CLOCK, bytes)
            .unwrap_or_else(|e| panic!("{e}"));
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(e) = self.c.poll_event() {
            self.events.push(e);
        }
    }

    /// EXEC and ENV records of a process started `at` ms after [`MONO`].
    #[allow(clippy::too_many_arguments)]
    fn exec(&mut self, pid: u32, ppid: u32, at: u64, flags: u32, path: &str, vars: &[&str]) {
        let comm = path.rsplit('/').next().unwrap_or(path);
        let mut block = Vec::new();
        for v in vars {
            block.extend_from_slice(v.as_bytes());
            block.push(0);
        }
        let ts = MONO + at * MS;
        let len = block.len() as u32;
        self.feed(&raw::exec(pid, ppid, ts, ts - 1, flags, len, comm, path));
        // Two chunks, as the kernel splits a larger block.
        let half = block.len() / 2;
        self.feed(&raw::env(pid, ts, len, 0, &block[..half]));
        self.feed(&raw::env(pid, ts, len, half as u32, &block[half..]));
    }

    /// `text` on `fd`, in pieces of at most `piece` bytes from stream offset 0.
    fn stream(&mut self, pid: u32, at: u64, fd: u32, text: &str, piece: usize) {
        for (i, chunk) in text.as_bytes().chunks(piece).enumerate() {
            let off = (i * piece) as u64;
            self.feed(&raw::data(pid, MONO + at * MS, fd, off, chunk));
        }
    }

    fn exit(&mut self, pid: u32, ppid: u32, at: u64, wait_status: i32) {
        self.feed(&raw::exit(pid, ppid, MONO + at * MS, wait_status));
    }

    fn only_event(&self) -> &UnifiedEvent {
        assert_eq!(self.events.len(), 1, "{:#?}", self.events);
        &self.events[0]
    }
}

fn request(command: &str) -> Vec<String> {
    vec![
        "PATH=/usr/sbin:/usr/bin".to_owned(),
        "AWS_SECRET_ACCESS_KEY=s3cr3t-env".to_owned(),
        format!("CNI_COMMAND={command}"),
        format!("CNI_CONTAINERID={CONTAINER}"),
        "CNI_NETNS=/var/run/netns/cni-1234".to_owned(),
        "CNI_IFNAME=eth0".to_owned(),
        format!("CNI_ARGS={CNI_ARGS}"),
        "CNI_PATH=/opt/cni/bin".to_owned(),
    ]
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// bridge ADD delegating to host-local, in the order the kernel reports it.
fn bridge_add(run: &mut Run, pid: u32, at: u64, result: &str) {
    let vars = request("ADD");
    run.exec(pid, 1, at, 2, BRIDGE, &refs(&vars));
    run.stream(pid, at + 1, 0, CONFIG, 64);
    run.exec(pid + 1, pid, at + 2, 3, HOST_LOCAL, &refs(&vars));
    run.stream(pid + 1, at + 3, 0, CONFIG, 4096);
    run.stream(pid + 1, at + 4, 1, IPAM_RESULT, 4096);
    run.exit(pid + 1, pid, at + 7, 0);
    run.feed(&raw::netns(
        pid,
        MONO + (at + 8) * MS,
        4026531840,
        4026532999,
    ));
    run.stream(pid, at + 20, 1, result, 100);
    run.exit(pid, 1, at + 25, 0);
}

#[test]
fn add_with_delegated_ipam_is_one_event() {
    let mut run = Run::new();
    bridge_add(&mut run, 100, 0, RESULT);
    let e = run.only_event();

    assert_eq!(e.timestamp, Timestamp::from_unix_nanos(WALL));
    assert_eq!(e.id, format!("cni_bridge_ADD_{WALL}_1"));
    assert_eq!(e.category, Category::NetworkSetup);
    assert_eq!(e.severity, Severity::Info);
    assert_eq!(e.confidence, 1.0);
    assert_eq!(e.origin.monitor, Monitor::Ebpf);
    assert_eq!(e.origin.format, None);
    assert_eq!(e.raw, None);
    assert_eq!(
        e.message,
        "CNI ADD succeeded for pod shop/web-7d4b9 via bridge with IP 10.22.0.5"
    );

    let cni = e.cni.as_ref().expect("cni block");
    assert_eq!(cni.operation, Some(Operation::Add));
    assert_eq!(cni.container_id.as_deref(), Some(CONTAINER));
    assert_eq!(cni.plugin_type.as_deref(), Some("bridge"));
    assert_eq!(cni.network_name.as_deref(), Some("shop-net"));
    assert_eq!(cni.cni_version.as_deref(), Some("1.0.0"));
    assert_eq!(cni.if_name.as_deref(), Some("eth0"));
    assert_eq!(
        cni.args.keys().collect::<Vec<_>>(),
        [
            "K8S_POD_INFRA_CONTAINER_ID",
            "K8S_POD_NAME",
            "K8S_POD_NAMESPACE",
            "K8S_POD_UID"
        ]
    );
    assert_eq!(cni.exit_code, Some(0));
    assert_eq!(cni.error, None);
    assert_eq!(
        cni.chain,
        [ChainEntry {
            plugin_type: "host-local".to_owned(),
            operation: Some(Operation::Add),
            duration_ms: Some(5.0),
            exit_code: Some(0),
            children: Vec::new(),
        }]
    );

    let net = e.network.as_ref().expect("network block");
    assert_eq!(net.plugin_name.as_deref(), Some("bridge"));
    assert_eq!(net.interface_name.as_deref(), Some("eth0"));
    assert_eq!(net.ip_address.as_deref(), Some("10.22.0.5"));
    assert_eq!(net.subnet.as_deref(), Some("10.22.0.0/16"));
    assert_eq!(net.gateway.as_deref(), Some("10.22.0.1"));
    assert_eq!(net.mac.as_deref(), Some("0a:58:0a:16:00:05"));
    assert_eq!(net.host_interface.as_deref(), Some("veth1a2b3c4d"));
    assert_eq!(
        net.routes,
        [Route {
            destination: "0.0.0.0/0".to_owned(),
            gateway: Some("10.22.0.1".to_owned())
        }]
    );
    assert_eq!(net.dns, None, "an empty dns object states nothing");

    let k8s = e.kubernetes.as_ref().expect("kubernetes block");
    assert_eq!(k8s.pod_name.as_deref(), Some("web-7d4b9"));
    assert_eq!(k8s.namespace.as_deref(), Some("shop"));
    assert_eq!(
        k8s.pod_uid.as_deref(),
        Some("0d7c6a2e-1b1a-4c3e-9a7e-5f2f7d1e9c11")
    );
    assert_eq!(k8s.container_id.as_deref(), Some(CONTAINER));

    let sys = e.system.as_ref().expect("system block");
    assert_eq!(sys.network_ns.as_deref(), Some("/var/run/netns/cni-1234"));
    assert_eq!((sys.pid, sys.ppid), (Some(100), Some(1)));
    assert_eq!(sys.comm.as_deref(), Some("bridge"));

    let perf = e.performance.as_ref().expect("performance block");
    assert_eq!(perf.latency_ms, Some(25.0));
    assert_eq!(perf.success, Some(true));

    assert_eq!(e.attributes["plugin_path"], BRIDGE);
    assert_eq!(e.attributes["ipam_type"], "host-local");
    assert_eq!(e.attributes["netns_inode"], "4026532999");
    assert!(!e.attributes.contains_key("capture_incomplete"));

    // Nothing but the CNI request and the config's names leaves.
    let json = serde_json::to_string(e).expect("serializable");
    for secret in [
        "s3cr3t",
        "AWS_SECRET",
        "PATH=",
        "IgnoreUnknown",
        "CUSTOM_TOKEN",
        "CNI_PATH",
    ] {
        assert!(!json.contains(secret), "{secret} leaked: {json}");
    }

    let stats = &run.c.stats().bpf;
    assert_eq!(stats.records, run.fed);
    assert_eq!((stats.transactions, stats.invalid_records), (1, 0));
    assert_eq!(stats.orphan_records, 0);
    assert_eq!(run.c.open_transactions(), 0);
    assert_eq!(run.c.poll_timeout(), None);
}

#[test]
fn del_check_version_and_others_get_their_categories() {
    for (command, category, stdout) in [
        ("DEL", Category::NetworkTeardown, ""),
        ("CHECK", Category::NetworkCheck, ""),
        ("STATUS", Category::HealthCheck, ""),
        (
            "VERSION",
            Category::HealthCheck,
            r#"{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}"#,
        ),
        ("GC", Category::PluginLog, ""),
    ] {
        let mut run = Run::new();
        run.exec(7, 1, 0, 2, BRIDGE, &refs(&request(command)));
        run.stream(7, 1, 1, stdout, 4096);
        run.exit(7, 1, 3, 0);
        let e = run.only_event();
        assert_eq!(e.category, category, "{command}");
        assert_eq!(
            e.cni.as_ref().and_then(|c| c.operation).map(|o| o.as_str()),
            Some(command)
        );
        assert_eq!(
            e.performance.as_ref().and_then(|p| p.success),
            Some(true),
            "{command}"
        );
        if command == "VERSION" {
            assert_eq!(
                e.message,
                "CNI VERSION via bridge: supports CNI versions 0.4.0, 1.0.0"
            );
        }
        if command == "DEL" {
            assert_eq!(
                e.message,
                "CNI DEL succeeded for pod shop/web-7d4b9 via bridge"
            );
        }
    }
}

#[test]
fn an_unknown_command_is_kept_as_an_attribute() {
    let mut run = Run::new();
    run.exec(7, 1, 0, 2, BRIDGE, &refs(&request("FROB")));
    run.stream(
        7,
        1,
        1,
        r#"{"code":4,"msg":"unknown CNI_COMMAND: FROB"}"#,
        4096,
    );
    run.exit(7, 1, 3, 256);
    let e = run.only_event();
    assert_eq!(e.cni.as_ref().and_then(|c| c.operation), None);
    assert_eq!(e.attributes["cni_command"], "FROB");
    assert_eq!(
        e.message,
        "bridge (pod shop/web-7d4b9): unknown CNI_COMMAND: FROB"
    );
    // A known command is the operation, not an attribute.
    let mut run = Run::new();
    run.exec(7, 1, 0, 2, BRIDGE, &refs(&request("DEL")));
    run.exit(7, 1, 3, 0);
    assert_eq!(run.only_event().attributes.get("cni_command"), None);
}

#[test]
fn a_failure_carries_the_plugins_error_and_exit_status() {
    let mut run = Run::new();
    let vars = request("ADD");
    run.exec(40, 1, 0, 2, BRIDGE, &refs(&vars));
    run.stream(40, 1, 0, CONFIG, 4096);
    run.exec(41, 40, 2, 3, HOST_LOCAL, &refs(&vars));
    let ipam_error = r#"{"code":999,"msg":"failed to allocate for range 0: no IP addresses available in range set: 10.22.0.5-10.22.0.5"}"#;
    run.stream(41, 3, 1, ipam_error, 4096);
    run.exit(41, 40, 4, 1 << 8);
    let error = r#"{
    "cniVersion": "1.0.0",
    "code": 999,
    "msg": "failed to allocate for range 0: no IP addresses available in range set: 10.22.0.5-10.22.0.5",
    "details": ""
}"#;
    run.stream(40, 5, 1, error, 4096);
    run.exit(40, 1, 6, 1 << 8);

    let e = run.only_event();
    assert_eq!(e.severity, Severity::Error);
    assert_eq!(e.category, Category::NetworkSetup);
    assert_eq!(
        e.message,
        "CNI ADD failed for pod shop/web-7d4b9 via bridge: failed to allocate for range 0: \
         no IP addresses available in range set: 10.22.0.5-10.22.0.5"
    );
    let cni = e.cni.as_ref().expect("cni");
    assert_eq!(cni.exit_code, Some(1));
    let err = cni.error.as_ref().expect("error");
    assert_eq!(err.code, Some(999));
    assert!(err.msg.starts_with("failed to allocate for range 0"));
    assert_eq!(err.details, None, "empty details state nothing");
    assert_eq!(cni.chain.len(), 1);
    assert_eq!(cni.chain[0].exit_code, Some(1));
    assert_eq!(e.performance.as_ref().and_then(|p| p.success), Some(false));
    assert!(e.tags.iter().any(|t| t == "failed"));
}

#[test]
fn an_error_json_with_exit_zero_is_a_failure() {
    let mut run = Run::new();
    run.exec(5, 1, 0, 2, BRIDGE, &refs(&request("ADD")));
    run.stream(
        5,
        1,
        1,
        r#"{"code":7,"msg":"invalid network config","details":"bad mtu"}"#,
        4096,
    );
    run.exit(5, 1, 2, 0);
    let e = run.only_event();
    assert_eq!(e.performance.as_ref().and_then(|p| p.success), Some(false));
    let cni = e.cni.as_ref().expect("cni");
    assert_eq!(cni.exit_code, Some(0));
    assert_eq!(
        cni.error.as_ref().and_then(|e| e.details.as_deref()),
        Some("bad mtu")
    );
}

#[test]
fn exit_status_and_signal_deaths_are_told_apart() {
    let mut run = Run::new();
    run.exec(5, 1, 0, 2, BRIDGE, &refs(&request("DEL")));
    run.exit(5, 1, 2, 2 << 8);
    run.exec(6, 1, 0, 2, BRIDGE, &refs(&request("DEL")));
    run.exit(6, 1, 2, 9);
    let [exited, killed] = &run.events[..] else {
        panic!("{:#?}", run.events)
    };
    assert_eq!(
        exited.message,
        "CNI DEL failed for pod shop/web-7d4b9 via bridge: exit status 2"
    );
    assert_eq!(exited.cni.as_ref().and_then(|c| c.exit_code), Some(2));
    assert_eq!(
        killed.message,
        "CNI DEL failed for pod shop/web-7d4b9 via bridge: killed by signal 9"
    );
    assert_eq!(killed.cni.as_ref().and_then(|c| c.exit_code), None);
    assert_eq!(killed.attributes["exit_signal"], "9");
    assert_eq!(killed.severity, Severity::Error);
}

#[test]
fn a_missing_exit_is_closed_by_the_timeout() {
    let mut run = Run::with(Config {
        transaction_timeout_ms: 60_000,
        ..Config::default()
    });
    run.exec(9, 1, 0, 2, BRIDGE, &refs(&request("ADD")));
    run.exec(10, 9, 1, 3, HOST_LOCAL, &refs(&request("ADD")));
    run.stream(9, 1, 0, CONFIG, 4096);
    let deadline = run.now.add_nanos(60_000 * MS as i64);
    assert_eq!(
        run.c.poll_timeout(),
        Some((deadline, TimeoutReason::TransactionExpired))
    );
    run.c.handle_timeout(deadline.add_nanos(-1));
    run.drain();
    assert!(run.events.is_empty());
    run.c.handle_timeout(deadline);
    run.drain();

    let e = run.only_event();
    assert_eq!(e.severity, Severity::Warning);
    assert_eq!(e.category, Category::NetworkSetup);
    assert_eq!(e.performance, None, "success and latency are unknown");
    assert_eq!(
        e.message,
        "CNI ADD for pod shop/web-7d4b9 via bridge: exit not seen within 60 s, \
         the process vanished or its records were lost"
    );
    let cni = e.cni.as_ref().expect("cni");
    assert_eq!(cni.exit_code, None);
    assert_eq!(cni.network_name.as_deref(), Some("shop-net"));
    assert_eq!(
        cni.chain,
        [ChainEntry {
            plugin_type: "host-local".to_owned(),
            operation: Some(Operation::Add),
            duration_ms: None,
            exit_code: None,
            children: Vec::new(),
        }]
    );
    assert_eq!(run.c.stats().bpf.transactions_expired, 1);
    assert_eq!(run.c.open_transactions(), 0);
    assert_eq!(run.c.poll_timeout(), None);
    // Records of the vanished processes that still arrive are counted, not fatal.
    run.exit(10, 9, 70_000, 0);
    assert_eq!(run.c.stats().bpf.orphan_records, 1);
}

#[test]
fn interleaved_transactions_stay_separate() {
    let mut run = Run::new();
    let (a, b) = (request("ADD"), request("DEL"));
    let result_b = RESULT.replace("10.22.0.5", "10.22.0.9");
    // Two plugins, each with a child, record by record in turn.
    run.exec(200, 1, 0, 2, BRIDGE, &refs(&a));
    run.exec(300, 1, 0, 2, BRIDGE, &refs(&b));
    run.exec(201, 200, 1, 3, HOST_LOCAL, &refs(&a));
    run.stream(300, 1, 0, CONFIG, 4096);
    run.exec(301, 300, 2, 3, HOST_LOCAL, &refs(&b));
    run.stream(200, 2, 0, CONFIG, 4096);
    run.exit(301, 300, 4, 0);
    run.stream(200, 3, 1, RESULT, 50);
    run.exit(201, 200, 3, 0);
    run.stream(300, 5, 1, &result_b, 70);
    run.exit(300, 1, 6, 0);
    run.exit(200, 1, 9, 0);

    let [first, second] = &run.events[..] else {
        panic!("{:#?}", run.events)
    };
    assert_eq!(first.system.as_ref().and_then(|s| s.pid), Some(300));
    assert_eq!(first.category, Category::NetworkTeardown);
    assert_eq!(
        first.network.as_ref().and_then(|n| n.ip_address.as_deref()),
        Some("10.22.0.9")
    );
    assert_eq!(first.cni.as_ref().map(|c| c.chain.len()), Some(1));
    assert_eq!(
        first.cni.as_ref().map(|c| c.chain[0].operation),
        Some(Some(Operation::Del))
    );
    assert_eq!(second.system.as_ref().and_then(|s| s.pid), Some(200));
    assert_eq!(
        second
            .network
            .as_ref()
            .and_then(|n| n.ip_address.as_deref()),
        Some("10.22.0.5")
    );
    assert_eq!(
        second.performance.as_ref().and_then(|p| p.latency_ms),
        Some(9.0)
    );
    assert_eq!(
        second.cni.as_ref().map(|c| c.chain[0].duration_ms),
        Some(Some(2.0))
    );
    assert_ne!(first.id, second.id);
}

#[test]
fn a_reused_pid_starts_a_new_transaction() {
    let mut run = Run::new();
    // Exited, then reused: two complete transactions.
    run.exec(50, 1, 0, 2, BRIDGE, &refs(&request("ADD")));
    run.exit(50, 1, 1, 0);
    run.exec(50, 1, 10, 2, BRIDGE, &refs(&request("DEL")));
    run.exit(50, 1, 12, 0);
    // Its EXIT lost, then reused by another process (another start time): the first is closed
    // as not seen exiting.
    run.exec(50, 1, 20, 2, BRIDGE, &refs(&request("ADD")));
    run.exec(50, 1, 30, 2, BRIDGE, &refs(&request("CHECK")));
    run.exit(50, 1, 31, 0);
    let ops: Vec<_> = run
        .events
        .iter()
        .map(|e| (e.cni.as_ref().and_then(|c| c.operation), e.severity))
        .collect();
    assert_eq!(
        ops,
        [
            (Some(Operation::Add), Severity::Info),
            (Some(Operation::Del), Severity::Info),
            (Some(Operation::Add), Severity::Warning),
            (Some(Operation::Check), Severity::Info),
        ]
    );
    assert_eq!(run.c.stats().bpf.transactions_expired, 1);
}

#[test]
fn a_re_exec_of_the_same_process_is_one_transaction() {
    let mut run = Run::new();
    let vars = request("ADD");
    let ts = MONO;
    // A wrapper script that execs the real plugin: same pid, same start time.
    run.feed(&raw::exec(
        60,
        1,
        ts,
        ts - 1,
        2,
        0,
        "sh",
        "/opt/cni/bin/wrapper",
    ));
    run.stream(60, 1, 0, &CONFIG[..10], 4096);
    let mut block = Vec::new();
    for v in &vars {
        block.extend_from_slice(v.as_bytes());
        block.push(0);
    }
    run.feed(&raw::exec(
        60,
        1,
        ts + 2 * MS,
        ts - 1,
        2,
        block.len() as u32,
        "real",
        "/opt/cni/lib/real",
    ));
    run.feed(&raw::env(60, ts + 2 * MS, block.len() as u32, 0, &block));
    // Stream offsets start again at 0 after an exec.
    run.stream(60, 3, 0, &CONFIG[10..], 4096);
    run.exit(60, 1, 4, 0);
    let e = run.only_event();
    assert_eq!(
        e.cni.as_ref().and_then(|c| c.plugin_type.as_deref()),
        Some("wrapper")
    );
    assert_eq!(
        e.cni.as_ref().and_then(|c| c.operation),
        Some(Operation::Add)
    );
    assert_eq!(
        e.cni.as_ref().and_then(|c| c.network_name.as_deref()),
        Some("shop-net")
    );
    assert_eq!(e.performance.as_ref().and_then(|p| p.latency_ms), Some(4.0));
    assert_eq!(run.c.stats().bpf.stream_gaps, 0);
}

#[test]
fn malformed_records_are_counted_and_skipped() {
    let mut run = Run::new();
    let now = run.now;
    assert_eq!(
        run.c.handle_bpf_record(now, CLOCK, &[0; 10]),
        Err(Error::Short { len: 10 })
    );
    let mut exit = raw::exit(1, 0, 0, 0);
    exit.truncate(30);
    assert_eq!(
        run.c.handle_bpf_record(now, CLOCK, &exit),
        Err(Error::Size {
            kind: Kind::Exit,
            len: 30,
            expected: 40
        })
    );
    let mut bad = raw::exit(1, 0, 0, 0);
    bad[..4].copy_from_slice(&42u32.to_ne_bytes());
    assert_eq!(
        run.c.handle_bpf_record(now, CLOCK, &bad),
        Err(Error::UnknownKind { kind: 42 })
    );
    // Valid records of processes never seen exec'ing.
    run.feed(&raw::data(77, MONO, 1, 0, b"{}"));
    run.feed(&raw::exit(77, 1, MONO, 0));
    run.drain();
    assert!(run.events.is_empty());
    let stats = &run.c.stats().bpf;
    assert_eq!(
        (stats.records, stats.invalid_records, stats.orphan_records),
        (5, 3, 2)
    );
}

#[test]
fn streams_and_the_table_are_bounded() {
    let mut run = Run::with(Config {
        max_stream_bytes: 100,
        max_open_transactions: 2,
        max_chain_entries: 1,
        ..Config::default()
    });
    let vars = request("ADD");
    run.exec(1, 0, 0, 2, BRIDGE, &refs(&vars));
    run.stream(1, 1, 0, CONFIG, 64);
    // Two children: the table holds two processes, so the second is not tracked.
    run.exec(2, 1, 1, 3, HOST_LOCAL, &refs(&vars));
    run.exec(3, 1, 1, 3, HOST_LOCAL, &refs(&vars));
    run.exit(3, 1, 2, 0);
    run.exit(2, 1, 2, 0);
    // A third child once there is room: beyond the chain's limit.
    run.exec(4, 1, 3, 3, HOST_LOCAL, &refs(&vars));
    run.exit(4, 1, 3, 0);
    // stdout: one piece lost between offsets 0..10 and 20..
    run.feed(&raw::data(1, MONO, 1, 0, b"0123456789"));
    run.feed(&raw::data(1, MONO, 1, 20, b"abcdefghij"));
    run.exit(1, 0, 5, 0);

    let e = run.only_event();
    assert_eq!(
        e.attributes["capture_incomplete"],
        "stdin cut, stdout missing 1 piece(s)"
    );
    assert_eq!(e.cni.as_ref().map(|c| c.chain.len()), Some(1));
    assert_eq!(
        e.cni.as_ref().and_then(|c| c.network_name.as_deref()),
        None,
        "cut config"
    );
    let stats = &run.c.stats().bpf;
    assert_eq!(stats.stream_bytes_cut, CONFIG.len() as u64 - 100);
    assert_eq!(stats.stream_gaps, 1);
    assert_eq!(stats.transactions_dropped, 1);
    assert_eq!(stats.chain_entries_cut, 1);
    // The refused child's records: 2 ENV and its EXIT.
    assert_eq!(stats.orphan_records, 3);
}

#[test]
fn a_child_still_running_when_its_parent_exits_ends_with_it() {
    let mut run = Run::new();
    let vars = request("ADD");
    run.exec(1, 0, 0, 2, BRIDGE, &refs(&vars));
    run.exec(2, 1, 1, 3, HOST_LOCAL, &refs(&vars));
    run.exec(3, 2, 2, 1, "/usr/sbin/iptables", &[]);
    run.exit(1, 0, 5, 0);
    let e = run.only_event();
    let chain = &e.cni.as_ref().expect("cni").chain;
    assert_eq!(
        chain,
        &[ChainEntry {
            plugin_type: "host-local".to_owned(),
            operation: Some(Operation::Add),
            duration_ms: None,
            exit_code: None,
            children: vec![ChainEntry {
                plugin_type: "iptables".to_owned(),
                operation: None,
                duration_ms: None,
                exit_code: None,
                children: Vec::new(),
            }],
        }]
    );
    assert_eq!(run.c.open_transactions(), 0);
}

#[test]
fn a_tool_a_plugin_runs_has_no_operation_of_its_own() {
    let mut run = Run::new();
    let vars = request("ADD");
    run.exec(1, 0, 0, 2, "/opt/cni/bin/portmap", &refs(&vars));
    // iptables inherits the request's environment, CNI_COMMAND included; it is no plugin.
    run.exec(2, 1, 1, 1, "/usr/sbin/iptables", &refs(&vars));
    run.exit(2, 1, 2, 0);
    run.exit(1, 0, 3, 0);
    let chain = &run.only_event().cni.as_ref().expect("cni").chain;
    assert_eq!(
        chain,
        &[ChainEntry {
            plugin_type: "iptables".to_owned(),
            operation: None,
            duration_ms: Some(1.0),
            exit_code: Some(0),
            children: Vec::new(),
        }]
    );
}

#[test]
fn an_environment_cut_by_the_kernel_is_reported() {
    let mut run = Run::new();
    let vars = request("ADD");
    let mut block = Vec::new();
    for v in &vars {
        block.extend_from_slice(v.as_bytes());
        block.push(0);
    }
    // The EXEC states a larger block than the chunks carry.
    run.feed(&raw::exec(1, 0, MONO, MONO, 2, 40_000, "bridge", BRIDGE));
    run.feed(&raw::env(1, MONO, 40_000, 0, &block));
    run.exit(1, 0, 1, 0);
    let e = run.only_event();
    assert_eq!(e.attributes["capture_incomplete"], "environment incomplete");
    assert_eq!(
        e.cni.as_ref().and_then(|c| c.operation),
        Some(Operation::Add)
    );
    assert_eq!(run.c.stats().bpf.env_incomplete, 1);
}

#[test]
fn a_shutdown_closes_open_transactions_with_their_exit_unknown() {
    let mut run = Run::new();
    // One ADD done, one still running with a child, when the collector stops.
    bridge_add(&mut run, 100, 0, RESULT);
    run.exec(300, 1, 40, 2, BRIDGE, &refs(&request("DEL")));
    run.stream(300, 41, 0, CONFIG, 4096);
    run.exec(301, 300, 42, 3, HOST_LOCAL, &refs(&request("DEL")));
    assert_eq!(run.events.len(), 1);
    assert_eq!(run.c.open_transactions(), 2);

    run.c.handle_shutdown(run.now);
    run.drain();
    assert_eq!(run.events.len(), 2, "{:#?}", run.events);
    let e = &run.events[1];
    assert_eq!(e.category, Category::NetworkTeardown);
    assert_eq!(e.severity, Severity::Warning);
    assert_eq!(
        e.message,
        "CNI DEL for pod shop/web-7d4b9 via bridge: still running when the collector stopped, \
         exit unknown"
    );
    assert_eq!(e.performance, None, "success and latency are unknown");
    let cni = e.cni.as_ref().expect("cni");
    assert_eq!(cni.exit_code, None);
    assert_eq!(cni.network_name.as_deref(), Some("shop-net"));
    assert_eq!(
        cni.chain,
        [ChainEntry {
            plugin_type: "host-local".to_owned(),
            operation: Some(Operation::Del),
            duration_ms: None,
            exit_code: None,
            children: Vec::new(),
        }]
    );
    let stats = &run.c.stats().bpf;
    assert_eq!((stats.transactions, stats.transactions_stopped), (1, 1));
    assert_eq!(stats.transactions_expired, 0);
    assert_eq!(run.c.open_transactions(), 0);
    assert_eq!(run.c.buffered_bytes(), 0);
    assert_eq!(run.c.poll_timeout(), None);
}

#[test]
fn a_shutdown_first_expires_what_is_due() {
    let mut run = Run::with(Config {
        transaction_timeout_ms: 1000,
        ..Config::default()
    });
    run.exec(9, 1, 0, 2, BRIDGE, &refs(&request("ADD")));
    run.c.handle_shutdown(run.now.add_nanos(2000 * MS as i64));
    run.drain();
    let e = run.only_event();
    assert!(
        e.message
            .ends_with("exit not seen within 1 s, the process vanished or its records were lost"),
        "{}",
        e.message
    );
    assert_eq!(run.c.stats().bpf.transactions_expired, 1);
    assert_eq!(run.c.stats().bpf.transactions_stopped, 0);
}

#[test]
fn a_shutdown_flushes_a_pending_multi_line_log_record() {
    let mut c = Collector::new(Config::default());
    let now = Timestamp::from_unix_nanos(WALL);
    let lines = [
        r#"E0418 11:04:30.300000    4258 remote_runtime.go:193] "RunPodSandbox from runtime service failed" err=<"#,
        "\trpc error: code = Unknown desc = failed to setup network for sandbox \"5db402ddcda9\": \
         plugin type=\"bridge\" name=\"mynet\" failed (add): failed to allocate for range 0: \
         no IP addresses available in range set: 10.22.0.1-10.22.0.254",
    ];
    let mut offset = 0;
    for (i, text) in lines.iter().enumerate() {
        c.handle_log_line(
            now,
            crate::LogLine {
                source: "/var/log/kubelet.log",
                line_no: i as u64 + 1,
                offset,
                bytes: text.as_bytes(),
                format: None,
            },
        );
        offset += text.len() as u64 + 1;
    }
    assert!(c.poll_event().is_none(), "the klog value is still open");
    while c.poll_request().is_some() {}

    c.handle_shutdown(now);
    let e = c.poll_event().expect("the pending record, flushed");
    assert_eq!(e.origin.line, Some(1));
    assert!(
        e.message.contains("no IP addresses available"),
        "{}",
        e.message
    );
    assert!(c.poll_event().is_none());
    assert_eq!(
        c.poll_request(),
        Some(crate::Request::Checkpoint {
            source: "/var/log/kubelet.log".into(),
            offset,
        })
    );
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn open_transactions_share_one_byte_budget() {
    let mut run = Run::with(Config {
        max_buffered_bytes: 1000,
        ..Config::default()
    });
    let big = "x".repeat(700);
    // Two plugins running at once, each writing 700 bytes: the second gets what is left.
    run.exec(1, 0, 0, 2, BRIDGE, &[]);
    run.exec(2, 0, 0, 2, BRIDGE, &[]);
    run.stream(1, 1, 1, &big, 100);
    assert_eq!(run.c.buffered_bytes(), 700);
    run.stream(2, 1, 1, &big, 100);
    assert_eq!(run.c.buffered_bytes(), 1000);
    assert_eq!(run.c.stats().bpf.budget_bytes_cut, 400);
    run.exit(2, 0, 2, 0);
    assert_eq!(
        run.c.buffered_bytes(),
        700,
        "the second's bytes are given back"
    );
    // Once given back, the budget serves again.
    run.exec(3, 0, 3, 2, BRIDGE, &[]);
    run.stream(3, 4, 1, "y".repeat(300).as_str(), 300);
    assert_eq!(run.c.stats().bpf.budget_bytes_cut, 400);
    run.exit(1, 0, 5, 0);
    run.exit(3, 0, 5, 0);
    assert_eq!(run.c.buffered_bytes(), 0);

    let [first, second, third] = &run.events[..] else {
        panic!("three events: {:#?}", run.events)
    };
    assert_eq!(first.system.as_ref().and_then(|s| s.pid), Some(2));
    assert_eq!(
        first.attributes["capture_incomplete"],
        "stdout cut, memory budget full"
    );
    assert_eq!(second.system.as_ref().and_then(|s| s.pid), Some(1));
    assert_eq!(third.system.as_ref().and_then(|s| s.pid), Some(3));
    for e in [second, third] {
        assert_eq!(e.attributes.get("capture_incomplete"), None, "{e:#?}");
    }
}

#[test]
fn the_environment_counts_against_the_budget() {
    let mut run = Run::with(Config {
        max_buffered_bytes: 64,
        ..Config::default()
    });
    let vars = request("ADD");
    let block: usize = vars.iter().map(|v| v.len() + 1).sum();
    assert!(block > 64);
    run.exec(1, 0, 0, 2, BRIDGE, &refs(&vars));
    assert_eq!(run.c.buffered_bytes(), 64);
    assert_eq!(run.c.stats().bpf.budget_bytes_cut, (block - 64) as u64);
    run.exit(1, 0, 1, 0);
    assert_eq!(run.c.buffered_bytes(), 0);
    let e = run.only_event();
    assert_eq!(
        e.attributes["capture_incomplete"],
        "environment incomplete, memory budget full"
    );
    assert_eq!(run.c.stats().bpf.env_incomplete, 1);
}

mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::bpf::record::Record;

    #[derive(Debug, Clone)]
    enum Step {
        Exec {
            pid: u32,
            ppid: u32,
            start: u64,
        },
        Env {
            pid: u32,
            offset: u32,
            vars: Vec<u8>,
        },
        Data {
            pid: u32,
            fd: u32,
            off: u64,
            bytes: Vec<u8>,
        },
        Netns {
            pid: u32,
        },
        Exit {
            pid: u32,
            status: i32,
        },
        Advance {
            ms: u64,
        },
        Garbage(Vec<u8>),
    }

    fn step() -> impl Strategy<Value = Step> {
        let pid = 1u32..8;
        prop_oneof![
            (pid.clone(), 0u32..8, 0u64..3).prop_map(|(pid, ppid, start)| Step::Exec {
                pid,
                ppid,
                start
            }),
            (
                pid.clone(),
                0u32..64,
                prop::collection::vec(any::<u8>(), 0..64)
            )
                .prop_map(|(pid, offset, vars)| Step::Env { pid, offset, vars }),
            (
                pid.clone(),
                0u32..4,
                0u64..128,
                prop::collection::vec(any::<u8>(), 0..96)
            )
                .prop_map(|(pid, fd, off, bytes)| Step::Data {
                    pid,
                    fd,
                    off,
                    bytes
                }),
            pid.clone().prop_map(|pid| Step::Netns { pid }),
            (pid, any::<i32>()).prop_map(|(pid, status)| Step::Exit { pid, status }),
            (0u64..200_000).prop_map(|ms| Step::Advance { ms }),
            prop::collection::vec(any::<u8>(), 0..64).prop_map(Step::Garbage),
        ]
    }

    proptest! {
        /// Whatever the records, in whatever order: no panic, the table stays within its
        /// limit, every record is counted, and the timeout closes everything left open.
        #[test]
        fn any_record_sequence_is_handled(
            steps in prop::collection::vec(step(), 0..80),
            shutdown in any::<bool>(),
        ) {
            let config = Config {
                max_open_transactions: 4,
                max_stream_bytes: 64,
                max_env_bytes: 32,
                max_chain_entries: 2,
                transaction_timeout_ms: 100_000,
                // Below what four processes may hold each (3 * 64 + 32).
                max_buffered_bytes: 300,
                ..Config::default()
            };
            let mut c = Collector::new(config);
            let mut now = Timestamp::from_unix_nanos(WALL);
            let mut ts = MONO;
            let mut fed = 0;
            for s in steps {
                ts += MS;
                let bytes = match s {
                    Step::Exec { pid, ppid, start } => {
                        raw::exec(pid, ppid, ts, start, 2, 64, "p", "/opt/cni/bin/p")
                    }
                    Step::Env { pid, offset, vars } => raw::env(pid, ts, 64, offset, &vars),
                    Step::Data { pid, fd, off, bytes } => raw::data(pid, ts, fd, off, &bytes),
                    Step::Netns { pid } => raw::netns(pid, ts, 1, 2),
                    Step::Exit { pid, status } => raw::exit(pid, 0, ts, status),
                    Step::Advance { ms } => {
                        now = now.add_nanos(ms as i64 * MS as i64);
                        c.handle_timeout(now);
                        while c.poll_event().is_some() {}
                        continue;
                    }
                    Step::Garbage(bytes) => bytes,
                };
                fed += 1;
                let valid = Record::parse(&bytes).is_ok();
                prop_assert_eq!(c.handle_bpf_record(now, CLOCK, &bytes).is_ok(), valid);
                while c.poll_event().is_some() {}
                prop_assert!(c.open_transactions() <= 4);
                prop_assert!(c.buffered_bytes() <= 300);
            }
            prop_assert_eq!(c.stats().bpf.records, fed);
            if shutdown {
                c.handle_shutdown(now);
            }
            while let Some((deadline, why)) = c.poll_timeout() {
                prop_assert!(!shutdown, "nothing left to wait for after a shutdown");
                prop_assert_eq!(why, TimeoutReason::TransactionExpired);
                c.handle_timeout(deadline);
            }
            while c.poll_event().is_some() {}
            prop_assert_eq!(c.open_transactions(), 0);
            prop_assert_eq!(c.buffered_bytes(), 0, "every byte given back to the budget");
            let bpf = &c.stats().bpf;
            prop_assert_eq!(
                bpf.transactions + bpf.transactions_expired + bpf.transactions_stopped,
                c.stats().events
            );
        }

        #[test]
        fn any_bytes_parse_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..5000)) {
            let _ = Record::parse(&bytes);
        }
    }
}
