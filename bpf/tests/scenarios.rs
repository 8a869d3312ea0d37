//! Runtime scenarios at the event level: the probes loaded in the running kernel, the reference
//! plugins run for real as a container runtime runs them, every ring-buffer record handed to the
//! core's `Collector`, and the events it emits checked field by field: a conflist chain, the
//! plugins' own failures, many ADD/DEL pairs at once, and plugin runs amid a storm of unrelated
//! execs.
//!
//! Needs root, kernel BTF and the plugins; fails (never skips) without them. Other tests on the
//! host may run plugins while these run: every check is about this test's own processes.

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use common::live::{pid_of, Live};
use common::{run_plugin, serial, Sandbox, BRIDGE};
use proto::event::{Category, Monitor, Operation, Severity};
use proto::{Config, UnifiedEvent};
use serde_json::{json, Value};

const CNI_ARGS: &str = "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0";

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

fn cni_env<'a>(
    command: &'a str,
    container_id: &'a str,
    netns: &'a str,
    if_name: &'a str,
) -> [(&'a str, &'a str); 7] {
    [
        ("CNI_COMMAND", command),
        ("CNI_CONTAINERID", container_id),
        ("CNI_NETNS", netns),
        ("CNI_IFNAME", if_name),
        ("CNI_PATH", "/usr/lib/cni"),
        ("CNI_ARGS", CNI_ARGS),
        ("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
    ]
}

/// A network namespace of this test, deleted on drop (with every link and rule in it).
struct Netns(String);

impl Netns {
    fn new(role: &str) -> Netns {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("tapio-sc-{role}-{}-{n}", std::process::id());
        let status = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("running ip (apt-get install iproute2)");
        assert!(status.success(), "ip netns add {name}");
        Netns(name)
    }

    fn path(&self) -> String {
        format!("/var/run/netns/{}", self.0)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.0])
            .stderr(Stdio::null())
            .status();
    }
}

/// A directory of this test, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(role: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        TempDir(std::env::temp_dir().join(format!("tapio-sc-{role}-{}-{n}", std::process::id())))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `plugin` inside the network namespace `host`, as a runtime on that host would: its
/// bridge, veths and iptables rules stay in a namespace of this test. `ip netns exec` execs the
/// plugin in place, so the returned pid is the plugin's.
fn run_in(host: &Netns, plugin: &str, env: &[(&str, &str)], stdin: &[u8]) -> (u32, Output) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", &host.0, plugin])
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {plugin} in {}: {e}", host.0));
    let pid = child.id();
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin is piped"), stdin)
        .expect("writing the config to the plugin");
    (
        pid,
        child.wait_with_output().expect("waiting for the plugin"),
    )
}

/// The parts of every event of one container's plugin run.
fn assert_run(e: &UnifiedEvent, pid: u32, plugin: &str, op: Operation, container: &str) {
    assert_eq!(e.source, "cni");
    assert_eq!(e.origin.monitor, Monitor::Ebpf);
    assert!(e.id.starts_with(&format!("cni_{plugin}_{op}_")), "{}", e.id);
    let cni = e.cni.as_ref().expect("cni block");
    assert_eq!(cni.operation, Some(op), "{e:#?}");
    assert_eq!(cni.plugin_type.as_deref(), Some(plugin), "{e:#?}");
    assert_eq!(cni.container_id.as_deref(), Some(container));
    let sys = e.system.as_ref().expect("system block");
    assert_eq!(sys.pid, Some(pid));
    assert_eq!(sys.ppid, Some(std::process::id()));
    assert_eq!(sys.comm.as_deref(), Some(plugin));
    assert_eq!(
        e.attributes["plugin_path"],
        format!("/usr/lib/cni/{plugin}")
    );
    let k8s = e.kubernetes.as_ref().expect("kubernetes block");
    assert_eq!(k8s.pod_name.as_deref(), Some("web-0"));
    assert_eq!(k8s.namespace.as_deref(), Some("shop"));
}

/// The most plugin executions of `events` that were running at the same instant.
fn most_at_once<'a>(events: impl Iterator<Item = &'a UnifiedEvent>) -> usize {
    let mut edges: Vec<(i64, i32)> = Vec::new();
    for e in events {
        let start = e.timestamp.unix_nanos();
        let latency = e.performance.as_ref().and_then(|p| p.latency_ms);
        let end = start + (latency.expect("a latency") * 1e6) as i64;
        edges.extend([(start, 1), (end, -1)]);
    }
    // Ends before starts at the same instant: touching runs did not overlap.
    edges.sort_unstable();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        most = most.max(now);
    }
    usize::try_from(most).unwrap_or(0)
}

fn success(e: &UnifiedEvent) -> Option<bool> {
    e.performance.as_ref().and_then(|p| p.success)
}

/// A conflist of bridge (+ host-local), tuning and portmap, run as libcni runs one: ADD in
/// order, each plugin given the previous one's result as `prevResult`, then DEL in reverse.
/// The "host" is a namespace of this test, so portmap's iptables rules stay out of the real
/// host.
#[test]
fn a_conflist_chain_is_one_event_per_plugin_execution() {
    let _serial = serial();
    let mut live = Live::new();
    let host = Netns::new("host");
    let pod = Netns::new("pod");
    let data_dir = TempDir::new("ipam");
    let container = "tapio-sc-chain";
    let network = json!({"cniVersion": "1.0.0", "name": "tapio-chain"});
    let with = |plugin: Value| {
        let mut conf = network.clone();
        conf.as_object_mut()
            .expect("an object")
            .extend(plugin.as_object().expect("an object").clone());
        conf
    };
    let plugins = [
        (
            "bridge",
            with(json!({
                "type": "bridge", "bridge": "tpchain0", "isGateway": true, "ipMasq": false,
                "ipam": {"type": "host-local", "subnet": "192.0.2.0/24", "dataDir": data_dir.0},
            })),
        ),
        (
            "tuning",
            with(json!({"type": "tuning", "sysctl": {"net.core.somaxconn": "512"}})),
        ),
        (
            "portmap",
            with(json!({
                "type": "portmap", "snat": false,
                "capabilities": {"portMappings": true},
                "runtimeConfig": {"portMappings": [
                    {"hostPort": 18080, "containerPort": 80, "protocol": "tcp"}
                ]},
            })),
        ),
    ];
    let pod_path = pod.path();
    let env = |op| cni_env(op, container, &pod_path, "eth0");

    let mut prev: Option<Value> = None;
    let mut adds = Vec::new();
    for (plugin, conf) in &plugins {
        let mut conf = conf.clone();
        if let Some(prev) = &prev {
            conf["prevResult"] = prev.clone();
        }
        let (pid, out) = run_in(
            &host,
            &format!("/usr/lib/cni/{plugin}"),
            &env("ADD"),
            conf.to_string().as_bytes(),
        );
        assert!(out.status.success(), "{plugin} ADD: {out:?}");
        prev = Some(json_of(&out.stdout));
        adds.push((pid, *plugin));
    }
    let result = prev.expect("the chain's result");
    let ip = result["ips"][0]["address"]
        .as_str()
        .and_then(|a| a.split('/').next())
        .expect("an address")
        .to_owned();
    let mut dels = Vec::new();
    for (plugin, conf) in plugins.iter().rev() {
        let (pid, out) = run_in(
            &host,
            &format!("/usr/lib/cni/{plugin}"),
            &env("DEL"),
            conf.to_string().as_bytes(),
        );
        assert!(out.status.success(), "{plugin} DEL: {out:?}");
        dels.push((pid, *plugin));
    }

    for (runs, op, category) in [
        (&adds, Operation::Add, Category::NetworkSetup),
        (&dels, Operation::Del, Category::NetworkTeardown),
    ] {
        for &(pid, plugin) in runs {
            let e = live.event_of(pid);
            assert_run(&e, pid, plugin, op, container);
            assert_eq!(e.category, category);
            assert_eq!(e.severity, Severity::Info);
            assert_eq!(success(&e), Some(true));
            let cni = e.cni.as_ref().expect("cni block");
            assert_eq!(cni.network_name.as_deref(), Some("tapio-chain"));
            assert_eq!(cni.cni_version.as_deref(), Some("1.0.0"));
            assert_eq!(cni.exit_code, Some(0));
            assert_eq!(
                e.system.as_ref().and_then(|s| s.network_ns.as_deref()),
                Some(pod_path.as_str())
            );
            let children: Vec<&str> = cni.chain.iter().map(|c| c.plugin_type.as_str()).collect();
            match plugin {
                "bridge" => {
                    assert_eq!(children, ["host-local"], "{e:#?}");
                    assert_eq!(cni.chain[0].operation, Some(op));
                    assert_eq!(cni.chain[0].exit_code, Some(0));
                }
                // go-iptables runs the iptables binary: the kernel sees portmap's children,
                // which inherit the request's environment but are no plugins.
                "portmap" => {
                    assert!(!children.is_empty(), "{e:#?}");
                    assert!(
                        children
                            .iter()
                            .all(|c| *c == "iptables" || *c == "ip6tables"),
                        "{children:?}"
                    );
                    for child in &cni.chain {
                        assert_eq!(child.operation, None);
                        assert!(child.exit_code.is_some() && child.duration_ms.is_some());
                    }
                }
                _ => assert!(children.is_empty(), "{e:#?}"),
            }
            // Every ADD after bridge passes the result on: each event carries the address.
            let event_ip = e.network.as_ref().and_then(|n| n.ip_address.clone());
            match op {
                Operation::Add => assert_eq!(event_ip.as_deref(), Some(ip.as_str()), "{e:#?}"),
                _ => assert_eq!(event_ip, None, "DEL prints no result"),
            }
        }
    }
    live.assert_nothing_lost();
}

/// Runs a failing bridge ADD, then the DEL a runtime sends after it; returns the ADD's event,
/// checked against what the plugin printed.
fn failed_add(live: &mut Live, container: &str, netns: &str, config: &[u8]) -> UnifiedEvent {
    let (pid, out) = run_plugin(BRIDGE, &cni_env("ADD", container, netns, "eth0"), config);
    assert!(!out.status.success(), "the ADD succeeded: {out:?}");
    let _ = run_plugin(BRIDGE, &cni_env("DEL", container, netns, "eth0"), config);
    let e = live.event_of(pid);
    assert_run(&e, pid, "bridge", Operation::Add, container);
    assert_eq!(e.category, Category::NetworkSetup);
    assert_eq!(e.severity, Severity::Error);
    assert_eq!(success(&e), Some(false));
    let cni = e.cni.as_ref().expect("cni block");
    assert_eq!(cni.exit_code, Some(1));
    // The event's error is the plugin's own, as it printed it.
    let printed = json_of(&out.stdout);
    let error = cni.error.as_ref().expect("the plugin's error");
    assert_eq!(error.code, printed["code"].as_i64());
    assert_eq!(Some(error.msg.as_str()), printed["msg"].as_str());
    assert_eq!(
        e.message,
        format!(
            "CNI ADD failed for pod shop/web-0 via bridge: {}",
            error.msg
        )
    );
    assert!(e.tags.iter().any(|t| t == "failed"), "{:?}", e.tags);
    e
}

#[test]
fn failures_carry_the_plugins_own_error() {
    let _serial = serial();
    let mut live = Live::new();
    let sandbox = Sandbox::new();
    let netns = sandbox.netns_path();

    // A network namespace that does not exist.
    let gone = format!("/var/run/netns/tapio-sc-gone-{}", std::process::id());
    let e = failed_add(&mut live, "tapio-sc-nons", &gone, &sandbox.config());
    let cni = e.cni.as_ref().expect("cni block");
    let error = cni.error.as_ref().expect("error");
    assert_eq!(error.code, Some(999));
    assert_eq!(
        error.msg,
        format!("failed to open netns \"{gone}\": failed to Statfs \"{gone}\": no such file or directory")
    );
    assert!(cni.chain.is_empty(), "no IPAM before the netns: {e:#?}");
    assert_eq!(cni.network_name.as_deref(), Some("tapio-test"));

    // An IPAM plugin that is not in CNI_PATH.
    let config = sandbox.config_with(json!({"type": "tapio-no-such-ipam"}));
    let e = failed_add(&mut live, "tapio-sc-noipam", &netns, &config);
    let error = e
        .cni
        .as_ref()
        .and_then(|c| c.error.as_ref())
        .expect("error");
    assert_eq!(error.code, Some(999));
    assert_eq!(
        error.msg,
        "failed to find plugin \"tapio-no-such-ipam\" in path [/usr/lib/cni]"
    );
    assert_eq!(e.attributes["ipam_type"], "tapio-no-such-ipam");

    // A config that is not JSON: nothing of it is known but the binary.
    let config = br#"{"cniVersion": "1.0.0", "name": "tapio-test", "type": "bridge","#;
    let e = failed_add(&mut live, "tapio-sc-badjson", &netns, config);
    let cni = e.cni.as_ref().expect("cni block");
    let error = cni.error.as_ref().expect("error");
    assert_eq!(error.code, Some(6));
    assert_eq!(
        error.msg,
        "error unmarshall network config: unexpected end of JSON input"
    );
    assert_eq!(cni.network_name, None);
    assert_eq!(cni.cni_version, None);

    // A command no plugin knows.
    let (pid, out) = run_plugin(
        BRIDGE,
        &cni_env("FROB", "tapio-sc-frob", &netns, "eth0"),
        &sandbox.config(),
    );
    assert!(!out.status.success(), "{out:?}");
    let e = live.event_of(pid);
    assert_eq!(success(&e), Some(false));
    assert_eq!(e.severity, Severity::Error);
    let cni = e.cni.as_ref().expect("cni block");
    assert_eq!(cni.operation, None);
    assert_eq!(cni.plugin_type.as_deref(), Some("bridge"));
    assert_eq!(cni.container_id.as_deref(), Some("tapio-sc-frob"));
    assert_eq!(cni.exit_code, Some(1));
    let error = cni.error.as_ref().expect("error");
    assert_eq!(error.code, Some(4));
    assert_eq!(error.msg, "unknown CNI_COMMAND: FROB");
    assert_eq!(e.attributes["cni_command"], "FROB");

    live.assert_nothing_lost();
}

/// One container's ADD and DEL, as a runtime runs them.
struct Pair {
    container: String,
    pod: String,
    netns: String,
    add: (u32, Output),
    del: (u32, Output),
}

/// A pod's ADD then DEL on `host`, with its own pod name in `CNI_ARGS`.
fn add_then_del(host: &Netns, pod_ns: &Netns, config: &[u8], container: String) -> Pair {
    let pod = format!("pod-{container}");
    let cni_args = format!("IgnoreUnknown=1;K8S_POD_NAMESPACE=load;K8S_POD_NAME={pod}");
    let netns = pod_ns.path();
    let run = |op| {
        let mut env = cni_env(op, &container, &netns, "eth0");
        env[5] = ("CNI_ARGS", &cni_args);
        run_in(host, BRIDGE, &env, config)
    };
    let add = run("ADD");
    let del = run("DEL");
    Pair {
        container,
        pod,
        netns,
        add,
        del,
    }
}

#[test]
fn many_add_del_pairs_at_once_are_all_captured_and_kept_apart() {
    const HOSTS: usize = 8;
    const PODS: usize = 8;
    let _serial = serial();
    let mut live = Live::new();
    // Eight "nodes", each a namespace of this test with its own bridge and IPAM store, and eight
    // pods each: 64 ADD/DEL pairs, all started at once.
    let hosts: Vec<(Netns, TempDir)> = (0..HOSTS)
        .map(|_| (Netns::new("node"), TempDir::new("ipam")))
        .collect();
    let pods: Vec<Vec<Netns>> = (0..HOSTS)
        .map(|_| (0..PODS).map(|_| Netns::new("pod")).collect())
        .collect();
    let configs: Vec<Vec<u8>> = hosts
        .iter()
        .map(|(_, data_dir)| {
            json!({
                "cniVersion": "1.0.0", "name": "tapio-load", "type": "bridge",
                "bridge": "tpload0", "isGateway": true, "ipMasq": false,
                "ipam": {"type": "host-local", "subnet": "192.0.2.0/24", "dataDir": data_dir.0},
            })
            .to_string()
            .into_bytes()
        })
        .collect();
    let start = Barrier::new(HOSTS * PODS);
    let pairs: Vec<Pair> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..HOSTS)
            .flat_map(|h| (0..PODS).map(move |p| (h, p)))
            .map(|(h, p)| {
                let (host, pod_ns, config, start) = (&hosts[h].0, &pods[h][p], &configs[h], &start);
                scope.spawn(move || {
                    start.wait();
                    add_then_del(host, pod_ns, config, format!("tapio-sc-{h}-{p}"))
                })
            })
            .collect();
        // Meanwhile, as a runtime's poller does, keep the ring buffer drained.
        while !workers.iter().all(|w| w.is_finished()) {
            live.poll(Duration::from_millis(20));
        }
        workers
            .into_iter()
            .map(|w| w.join().expect("a worker panicked"))
            .collect()
    });

    let pids: Vec<u32> = pairs.iter().flat_map(|p| [p.add.0, p.del.0]).collect();
    let mut events = live.events_of(&pids);
    assert!(
        most_at_once(events.values()) >= 8,
        "the runs hardly overlapped: the test proves nothing about interleaving"
    );
    for pair in &pairs {
        let (add_pid, add_out) = &pair.add;
        let (del_pid, del_out) = &pair.del;
        assert!(
            add_out.status.success(),
            "{} ADD: {add_out:?}",
            pair.container
        );
        assert!(
            del_out.status.success(),
            "{} DEL: {del_out:?}",
            pair.container
        );
        let result = json_of(&add_out.stdout);
        let ip = result["ips"][0]["address"]
            .as_str()
            .and_then(|a| a.split('/').next())
            .expect("an address");
        for (pid, op) in [(*add_pid, Operation::Add), (*del_pid, Operation::Del)] {
            let e = events.remove(&pid).expect("one event per pid");
            let cni = e.cni.as_ref().expect("cni block");
            assert_eq!(cni.operation, Some(op), "{e:#?}");
            assert_eq!(cni.container_id.as_deref(), Some(pair.container.as_str()));
            assert_eq!(cni.exit_code, Some(0));
            let [child] = &cni.chain[..] else {
                panic!("one delegated host-local: {e:#?}")
            };
            assert_eq!(child.plugin_type, "host-local");
            assert_eq!(child.operation, Some(op));
            assert_eq!(child.exit_code, Some(0));
            let k8s = e.kubernetes.as_ref().expect("kubernetes block");
            assert_eq!(k8s.pod_name.as_deref(), Some(pair.pod.as_str()));
            let sys = e.system.as_ref().expect("system block");
            assert_eq!(sys.network_ns.as_deref(), Some(pair.netns.as_str()));
            let event_ip = e.network.as_ref().and_then(|n| n.ip_address.as_deref());
            match op {
                Operation::Add => assert_eq!(event_ip, Some(ip), "{e:#?}"),
                _ => assert_eq!(event_ip, None),
            }
        }
    }
    assert!(events.is_empty());
    // Nothing else about these containers: no event merged, split or repeated.
    let ours: HashSet<&str> = pairs.iter().map(|p| p.container.as_str()).collect();
    live.poll(Duration::from_millis(200));
    let extra: Vec<_> = live
        .events
        .iter()
        .filter(|e| {
            e.cni
                .as_ref()
                .and_then(|c| c.container_id.as_deref())
                .is_some_and(|c| ours.contains(c))
        })
        .collect();
    assert!(extra.is_empty(), "{extra:#?}");
    live.assert_nothing_lost();
}

#[test]
fn plugin_runs_amid_thousands_of_unrelated_execs_are_the_only_events() {
    const STORM_THREADS: usize = 3;
    const EXECS_PER_THREAD: usize = 1000;
    let _serial = serial();
    let mut live = Live::new();
    let host = Netns::new("node");
    let pod = Netns::new("pod");
    let data_dir = TempDir::new("ipam");
    let config = json!({
        "cniVersion": "1.0.0", "name": "tapio-noise", "type": "bridge",
        "bridge": "tpnoise0", "isGateway": true, "ipMasq": false,
        "ipam": {"type": "host-local", "subnet": "192.0.2.0/24", "dataDir": data_dir.0},
    })
    .to_string()
    .into_bytes();

    // The storm lasts until the plugin runs are done (and has at least EXECS_PER_THREAD execs a
    // thread), so the runs happen amid it however loaded the machine is.
    let plugins_finished = AtomicBool::new(false);
    let (storm, execs, plugin_runs) = std::thread::scope(|scope| {
        let storms: Vec<_> = (0..STORM_THREADS)
            .map(|_| {
                scope.spawn(|| {
                    let mut pids = Vec::new();
                    while pids.len() < EXECS_PER_THREAD || !plugins_finished.load(Ordering::SeqCst)
                    {
                        let mut child = Command::new("/bin/true")
                            .spawn()
                            .expect("spawning /bin/true");
                        pids.push(child.id());
                        assert!(child.wait().expect("waiting for /bin/true").success());
                    }
                    (pids, Instant::now())
                })
            })
            .collect();
        // A few plugin runs while the storm goes on: ADD/DEL pairs and VERSION queries.
        let plugins = scope.spawn(|| {
            let mut runs = Vec::new();
            for i in 0..3 {
                std::thread::sleep(Duration::from_millis(50));
                let pair = add_then_del(&host, &pod, &config, format!("tapio-sc-noise-{i}"));
                assert!(pair.add.1.status.success(), "ADD: {:?}", pair.add.1);
                assert!(pair.del.1.status.success(), "DEL: {:?}", pair.del.1);
                runs.push((pair.add.0, Operation::Add));
                runs.push((pair.del.0, Operation::Del));
                let (pid, out) = run_plugin(
                    BRIDGE,
                    &cni_env("VERSION", "", "", ""),
                    br#"{"cniVersion":"1.0.0"}"#,
                );
                assert!(out.status.success(), "VERSION: {out:?}");
                runs.push((pid, Operation::Version));
            }
            let done = Instant::now();
            plugins_finished.store(true, Ordering::SeqCst);
            (runs, done)
        });
        let all = || storms.iter().all(|s| s.is_finished()) && plugins.is_finished();
        while !all() {
            live.poll(Duration::from_millis(20));
        }
        let (runs, plugins_done) = plugins.join().expect("the plugin thread panicked");
        let mut storm = HashSet::new();
        let mut execs = 0;
        for s in storms {
            let (pids, done) = s.join().expect("a storm thread panicked");
            assert!(
                plugins_done < done,
                "the plugins ran after the storm: the test proves nothing"
            );
            execs += pids.len();
            storm.extend(pids);
        }
        (storm, execs, runs)
    });
    assert!(execs >= STORM_THREADS * EXECS_PER_THREAD, "{execs} execs");
    assert_eq!(storm.len(), execs, "pids reused");

    let pids: Vec<u32> = plugin_runs.iter().map(|&(pid, _)| pid).collect();
    let events = live.events_of(&pids);
    for (pid, op) in &plugin_runs {
        let e = &events[pid];
        assert_eq!(
            e.cni.as_ref().and_then(|c| c.operation),
            Some(*op),
            "{e:#?}"
        );
        assert_eq!(success(e), Some(true), "{e:#?}");
        if *op == Operation::Version {
            assert_eq!(e.category, Category::HealthCheck);
            assert!(
                e.message
                    .starts_with("CNI VERSION via bridge: supports CNI versions 0.1.0"),
                "{}",
                e.message
            );
        }
    }
    live.poll(Duration::from_millis(200));
    let unrelated: Vec<_> = live
        .events
        .iter()
        .filter(|e| {
            pid_of(e).is_some_and(|p| storm.contains(&p))
                || e.system.as_ref().and_then(|s| s.comm.as_deref()) == Some("true")
        })
        .collect();
    assert!(
        unrelated.is_empty(),
        "events of unrelated execs: {unrelated:#?}"
    );
    live.assert_nothing_lost();
}

/// A config of `size` bytes: the sandbox's, padded with a member the plugins ignore.
fn padded_config(sandbox: &Sandbox, size: usize) -> Vec<u8> {
    let mut config = json_of(&sandbox.config());
    config["tapioPadding"] = json!("");
    let base = config.to_string().len();
    config["tapioPadding"] = json!("x".repeat(size - base));
    let bytes = config.to_string().into_bytes();
    assert_eq!(bytes.len(), size);
    bytes
}

#[test]
fn a_config_of_many_chunks_arrives_whole_and_one_beyond_the_limit_is_cut() {
    let _serial = serial();
    let mut live = Live::new();
    let sandbox = Sandbox::new();
    let netns = sandbox.netns_path();
    let limit = Config::default().max_stream_bytes;

    // Ten 4 KiB chunks, read by bridge and again by host-local.
    let config = padded_config(&sandbox, 40_000);
    let (pid, out) = run_plugin(
        BRIDGE,
        &cni_env("DEL", "tapio-sc-big", &netns, "eth0"),
        &config,
    );
    assert!(out.status.success(), "{out:?}");
    let e = live.event_of(pid);
    assert_eq!(success(&e), Some(true));
    let cni = e.cni.as_ref().expect("cni block");
    assert_eq!(cni.network_name.as_deref(), Some("tapio-test"), "{e:#?}");
    assert_eq!(cni.chain.len(), 1);
    assert_eq!(e.attributes.get("capture_incomplete"), None);
    live.assert_nothing_lost();

    // Beyond the limit: kept up to it, the rest counted, and the event says so.
    let size = limit + 10_000;
    let config = padded_config(&sandbox, size);
    let (pid, out) = run_plugin(
        BRIDGE,
        &cni_env("DEL", "tapio-sc-huge", &netns, "eth0"),
        &config,
    );
    assert!(out.status.success(), "{out:?}");
    let e = live.event_of(pid);
    assert_eq!(success(&e), Some(true));
    assert_eq!(e.attributes["capture_incomplete"], "stdin cut", "{e:#?}");
    let cni = e.cni.as_ref().expect("cni block");
    assert_eq!(cni.network_name, None, "a cut config is not read");
    assert_eq!(cni.chain.len(), 1);
    let stats = &live.collector.stats().bpf;
    // Cut twice: host-local read the same config.
    assert_eq!(stats.stream_bytes_cut, 2 * (size - limit) as u64);
    assert_eq!(stats.stream_gaps, 0);
    assert_eq!(live.probes.dropped().expect("reading drops"), 0);
}

#[test]
fn a_plugin_the_runtime_kills_is_a_failure_by_signal() {
    let _serial = serial();
    let mut live = Live::new();
    // bridge waits for its config; a runtime that gives up on it kills it.
    let mut child = Command::new(BRIDGE)
        .env_clear()
        .envs(cni_env(
            "ADD",
            "tapio-sc-killed",
            "/var/run/netns/tapio-sc-none",
            "eth0",
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning bridge");
    let pid = child.id();
    std::thread::sleep(Duration::from_millis(100));
    child.kill().expect("killing bridge");
    let status = child.wait().expect("waiting for bridge");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );

    let e = live.event_of(pid);
    assert_run(&e, pid, "bridge", Operation::Add, "tapio-sc-killed");
    assert_eq!(success(&e), Some(false));
    assert_eq!(e.severity, Severity::Error);
    assert_eq!(e.attributes["exit_signal"], "9");
    let cni = e.cni.as_ref().expect("cni block");
    assert_eq!(cni.exit_code, None);
    assert_eq!(cni.error, None);
    assert_eq!(
        e.message,
        "CNI ADD failed for pod shop/web-0 via bridge: killed by signal 9"
    );
    let latency = e.performance.as_ref().and_then(|p| p.latency_ms);
    assert!(latency.is_some_and(|l| l >= 100.0), "{latency:?}");
}
