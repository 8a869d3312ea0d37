//! The collector over sequences of /proc snapshots, on virtual time.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::proc::{Process, Snapshot, Stat, PROC_CONFIDENCE};
use crate::{Collector, Config, Timestamp, UnifiedEvent};

const BOOT: i64 = 1_700_000_000_000_000_000;
const MS: i64 = 1_000_000;

/// `ms` milliseconds after boot.
fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_nanos(BOOT + ms * MS)
}

fn env(command: &str, container: &str) -> BTreeMap<String, String> {
    [
        ("CNI_COMMAND", command),
        ("CNI_CONTAINERID", container),
        ("CNI_NETNS", "/var/run/netns/test"),
        ("CNI_IFNAME", "eth0"),
        (
            "CNI_ARGS",
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0;SECRET=x",
        ),
        ("CNI_PATH", "/usr/lib/cni"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A running process started `start_ms` after boot (ticks of 10 ms).
fn process(pid: u32, ppid: u32, start_ms: u64, path: &str, command: &str) -> Process {
    let comm = path.rsplit('/').next().unwrap_or(path);
    Process {
        stat: Stat {
            pid,
            comm: comm.chars().take(15).collect(),
            state: 'S',
            ppid,
            flags: 0,
            utime_ticks: 0,
            stime_ticks: 0,
            start_ticks: start_ms / 10,
            exit_status: Some(0),
        },
        path: Some(path.to_owned()),
        env: Some(env(command, "c0ffee")),
        env_truncated: false,
        entered_netns_ino: Some(4_026_532_000),
    }
}

/// The same process, exited with `status` (a wait(2) status) and not yet reaped.
fn zombie(p: &Process, status: i32) -> Process {
    Process {
        stat: Stat {
            state: 'Z',
            exit_status: Some(status),
            ..p.stat.clone()
        },
        path: None,
        env: None,
        env_truncated: false,
        entered_netns_ino: None,
    }
}

fn snapshot(processes: &[&Process]) -> Snapshot {
    Snapshot {
        boot_time: Timestamp::from_unix_nanos(BOOT),
        ticks_per_sec: 100,
        processes: processes.iter().map(|p| (*p).clone()).collect(),
    }
}

fn drain(c: &mut Collector) -> Vec<UnifiedEvent> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn json(e: &UnifiedEvent) -> Value {
    serde_json::to_value(e).unwrap()
}

#[test]
fn a_plugin_and_its_delegate_become_one_event_when_they_vanish() {
    let mut c = Collector::new(Config::default());
    let bridge = process(100, 1, 1000, "/usr/lib/cni/bridge", "ADD");
    let host_local = process(101, 100, 1010, "/usr/lib/cni/host-local", "ADD");
    c.handle_proc_snapshot(at(1005), &snapshot(&[&bridge]));
    c.handle_proc_snapshot(at(1015), &snapshot(&[&bridge, &host_local]));
    c.handle_proc_snapshot(at(1020), &snapshot(&[&bridge, &zombie(&host_local, 0)]));
    c.handle_proc_snapshot(at(1025), &snapshot(&[&bridge]));
    assert!(drain(&mut c).is_empty(), "nothing ends while bridge runs");
    assert_eq!(c.open_transactions(), 1);
    c.handle_proc_snapshot(at(1030), &snapshot(&[]));

    let events = drain(&mut c);
    assert_eq!(events.len(), 1);
    let e = json(&events[0]);
    assert_eq!(e["origin"]["monitor"], "proc");
    assert_eq!(e["confidence"], PROC_CONFIDENCE);
    assert_eq!(e["category"], "network_setup");
    assert_eq!(e["timestamp"], at(1000).to_rfc3339());
    assert_eq!(e["cni"]["operation"], "ADD");
    assert_eq!(e["cni"]["plugin_type"], "bridge");
    assert_eq!(e["cni"]["container_id"], "c0ffee");
    assert_eq!(e["cni"]["if_name"], "eth0");
    assert_eq!(
        e["cni"]["args"],
        serde_json::json!({"K8S_POD_NAMESPACE": "shop", "K8S_POD_NAME": "web-0"})
    );
    assert_eq!(e["kubernetes"]["pod_name"], "web-0");
    assert_eq!(e["kubernetes"]["namespace"], "shop");
    assert_eq!(e["system"]["network_ns"], "/var/run/netns/test");
    assert_eq!(e["system"]["pid"], 100);
    assert_eq!(e["system"]["ppid"], 1);
    assert_eq!(e["system"]["comm"], "bridge");
    assert_eq!(e["attributes"]["plugin_path"], "/usr/lib/cni/bridge");
    assert_eq!(e["attributes"]["netns_inode"], "4026532000");
    // Its exit was not seen: no success, no exit code, no latency; only bounds.
    assert_eq!(e["cni"].get("exit_code"), None);
    assert_eq!(e["performance"].get("success"), None);
    assert_eq!(e["performance"].get("latency_ms"), None);
    assert_eq!(e["performance"]["metrics"]["seen_for_ms"], 20.0);
    assert_eq!(e["performance"]["metrics"]["lifetime_max_ms"], 30.0);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("exit status was not seen"),
        "{e:#}"
    );
    let chain = e["cni"]["chain"].as_array().unwrap();
    assert_eq!(chain.len(), 1);
    assert_eq!(chain[0]["plugin_type"], "host-local");
    assert_eq!(chain[0]["operation"], "ADD");
    assert_eq!(chain[0]["exit_code"], 0);
    assert!(chain[0]["duration_ms"].is_null(), "not measured");
    assert!(!e.to_string().contains("SECRET"));
    assert_eq!(c.stats().proc.executions, 1);
    assert_eq!(c.stats().proc.processes_tracked, 2);
    assert_eq!(c.open_transactions(), 0);
}

#[test]
fn an_exit_caught_before_the_reap_is_reported() {
    let mut c = Collector::new(Config::default());
    let bridge = process(100, 1, 1000, "/usr/lib/cni/bridge", "DEL");
    c.handle_proc_snapshot(at(1001), &snapshot(&[&bridge]));
    c.handle_proc_snapshot(at(1002), &snapshot(&[&zombie(&bridge, 1 << 8)]));
    c.handle_proc_snapshot(at(1003), &snapshot(&[]));
    let e = json(&drain(&mut c)[0]);
    assert_eq!(e["cni"]["exit_code"], 1);
    assert_eq!(e["performance"]["success"], false);
    assert_eq!(e["severity"], "error");
    assert_eq!(e["category"], "network_teardown");
    assert!(
        e["message"].as_str().unwrap().ends_with(": exit status 1"),
        "{e:#}"
    );
    // The environment read while it ran stays.
    assert_eq!(e["kubernetes"]["pod_name"], "web-0");

    let killed = process(200, 1, 2000, "/usr/lib/cni/bridge", "ADD");
    c.handle_proc_snapshot(at(2001), &snapshot(&[&killed]));
    c.handle_proc_snapshot(at(2002), &snapshot(&[&zombie(&killed, 9)]));
    c.handle_proc_snapshot(at(2003), &snapshot(&[]));
    let e = json(&drain(&mut c)[0]);
    assert_eq!(e["attributes"]["exit_signal"], "9");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .ends_with("killed by signal 9"));

    let ok = process(300, 1, 3000, "/usr/lib/cni/bridge", "CHECK");
    c.handle_proc_snapshot(at(3001), &snapshot(&[&ok]));
    c.handle_proc_snapshot(at(3002), &snapshot(&[&zombie(&ok, 0)]));
    c.handle_proc_snapshot(at(3003), &snapshot(&[]));
    let e = json(&drain(&mut c)[0]);
    assert_eq!(e["performance"]["success"], true);
    assert_eq!(e["category"], "network_check");
}

#[test]
fn a_reused_pid_is_another_execution() {
    let mut c = Collector::new(Config::default());
    let first = process(100, 1, 1000, "/usr/lib/cni/bridge", "ADD");
    let second = process(100, 1, 1100, "/usr/lib/cni/bridge", "DEL");
    c.handle_proc_snapshot(at(1050), &snapshot(&[&first]));
    c.handle_proc_snapshot(at(1150), &snapshot(&[&second]));
    let events = drain(&mut c);
    assert_eq!(events.len(), 1);
    assert_eq!(json(&events[0])["cni"]["operation"], "ADD");
    c.handle_proc_snapshot(at(1200), &snapshot(&[]));
    assert_eq!(json(&drain(&mut c)[0])["cni"]["operation"], "DEL");
}

#[test]
fn parent_and_child_gone_in_one_scan_still_chain() {
    let mut c = Collector::new(Config::default());
    let bridge = process(100, 1, 1000, "/usr/lib/cni/bridge", "ADD");
    let host_local = process(101, 100, 1000, "/usr/lib/cni/host-local", "ADD");
    let iptables = process(102, 101, 1000, "/usr/sbin/iptables", "ADD");
    // All three appear in one scan, listed children first.
    c.handle_proc_snapshot(at(1001), &snapshot(&[&iptables, &host_local, &bridge]));
    c.handle_proc_snapshot(at(1002), &snapshot(&[]));
    let events = drain(&mut c);
    assert_eq!(events.len(), 1, "{events:#?}");
    let e = json(&events[0]);
    assert_eq!(e["cni"]["chain"][0]["plugin_type"], "host-local");
    assert_eq!(
        e["cni"]["chain"][0]["children"][0]["plugin_type"],
        "iptables"
    );
}

#[test]
fn a_child_outliving_its_parent_is_reported_on_its_own() {
    let mut c = Collector::new(Config::default());
    let bridge = process(100, 1, 1000, "/usr/lib/cni/bridge", "ADD");
    let host_local = process(101, 100, 1000, "/usr/lib/cni/host-local", "ADD");
    c.handle_proc_snapshot(at(1001), &snapshot(&[&bridge, &host_local]));
    c.handle_proc_snapshot(at(1002), &snapshot(&[&host_local]));
    assert_eq!(json(&drain(&mut c)[0])["cni"]["plugin_type"], "bridge");
    c.handle_proc_snapshot(at(1003), &snapshot(&[]));
    assert_eq!(json(&drain(&mut c)[0])["cni"]["plugin_type"], "host-local");
}

#[test]
fn a_long_runner_is_reported_once_at_the_timeout() {
    let config = Config {
        transaction_timeout_ms: 1000,
        ..Config::default()
    };
    let mut c = Collector::new(config);
    let dhcp = process(100, 1, 1000, "/usr/lib/cni/dhcp", "ADD");
    c.handle_proc_snapshot(at(1500), &snapshot(&[&dhcp]));
    assert!(drain(&mut c).is_empty());
    c.handle_proc_snapshot(at(2000), &snapshot(&[&dhcp]));
    let events = drain(&mut c);
    assert_eq!(events.len(), 1);
    let e = json(&events[0]);
    assert_eq!(e["severity"], "warning");
    assert!(
        e["message"].as_str().unwrap().contains("still running 1 s"),
        "{e:#}"
    );
    assert_eq!(e["performance"]["metrics"].get("lifetime_max_ms"), None);
    c.handle_proc_snapshot(at(3000), &snapshot(&[&dhcp]));
    c.handle_proc_snapshot(at(4000), &snapshot(&[]));
    assert!(drain(&mut c).is_empty(), "reported once");
    assert_eq!(c.stats().proc.executions_expired, 1);
    assert_eq!(c.stats().proc.executions, 0);
}

#[test]
fn the_table_is_bounded() {
    let config = Config {
        max_open_transactions: 2,
        ..Config::default()
    };
    let mut c = Collector::new(config);
    let procs: Vec<Process> = (0..5)
        .map(|i| process(100 + i, 1, 1000, "/usr/lib/cni/bridge", "ADD"))
        .collect();
    let refs: Vec<&Process> = procs.iter().collect();
    c.handle_proc_snapshot(at(1001), &snapshot(&refs));
    assert_eq!(c.open_transactions(), 2);
    assert_eq!(c.stats().proc.processes_dropped, 3);
    c.handle_proc_snapshot(at(1002), &snapshot(&[]));
    assert_eq!(drain(&mut c).len(), 2);
}

#[test]
fn an_unreadable_environment_says_so() {
    let mut c = Collector::new(Config::default());
    let mut p = process(100, 1, 1000, "/usr/lib/cni/bridge", "ADD");
    p.env = None;
    c.handle_proc_snapshot(at(1001), &snapshot(&[&p]));
    c.handle_proc_snapshot(at(1002), &snapshot(&[]));
    let e = json(&drain(&mut c)[0]);
    assert_eq!(e["cni"]["plugin_type"], "bridge");
    assert_eq!(e["cni"].get("operation"), None);
    assert_eq!(
        e["attributes"]["capture_incomplete"],
        "environment not read"
    );
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    fn arbitrary_process() -> impl Strategy<Value = Process> {
        (
            0u32..12,
            0u32..12,
            0u64..4,
            prop::sample::select(vec!['S', 'R', 'Z', 'X', 'D']),
            prop::option::of(any::<i32>()),
            prop::option::of("[a-z/]{0,12}"),
            prop::option::of(prop::collection::btree_map(
                "CNI_[A-Z]{1,8}",
                ".{0,12}",
                0..4,
            )),
        )
            .prop_map(|(pid, ppid, start, state, exit, path, env)| Process {
                stat: Stat {
                    pid,
                    comm: "p".to_owned(),
                    state,
                    ppid,
                    flags: 0,
                    utime_ticks: 0,
                    stime_ticks: 0,
                    start_ticks: start,
                    exit_status: exit,
                },
                path,
                env,
                env_truncated: false,
                entered_netns_ino: None,
            })
    }

    proptest! {
        /// Whatever the scans say (parents that are their own children, pids reused, times
        /// going back), the collector neither panics nor holds more than its limits.
        #[test]
        fn any_snapshots_keep_the_collector_bounded(
            scans in prop::collection::vec(
                (0i64..10_000, prop::collection::vec(arbitrary_process(), 0..8)),
                0..12,
            )
        ) {
            let config = Config {
                max_open_transactions: 5,
                max_chain_entries: 2,
                transaction_timeout_ms: 3_000,
                ..Config::default()
            };
            let mut c = Collector::new(config);
            for (ms, processes) in &scans {
                let refs: Vec<&Process> = processes.iter().collect();
                c.handle_proc_snapshot(at(*ms), &snapshot(&refs));
                prop_assert!(c.open_transactions() <= 5);
                for event in drain(&mut c) {
                    prop_assert_eq!(event.origin.monitor, crate::event::Monitor::Proc);
                    let chain = event.cni.map(|cni| cni.chain.len()).unwrap_or(0);
                    prop_assert!(chain <= 2);
                }
            }
            let stats = &c.stats().proc;
            prop_assert!(stats.executions + stats.executions_expired <= stats.processes_tracked);
        }
    }
}
