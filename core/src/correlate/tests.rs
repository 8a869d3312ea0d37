//! Log lines joined to transactions assembled from synthetic ring-buffer records.

use proptest::prelude::*;

use super::{span_id, trace_id};
use crate::bpf::record::raw;
use crate::bpf::tests::{CLOCK, MONO, MS, WALL};
use crate::event::{Category, Monitor, Operation, UnifiedEvent};
use crate::{Collector, Config, LogLine, Request, TimeoutReason, Timestamp};

const CONTAINER: &str = "3a0b9ebe70d0932d6d1d4e6841ba2ec9a7f9d001f531be6261392dcd6e2ffd1b";
/// Shares its first 12 digits with [`CONTAINER`].
const TWIN: &str = "3a0b9ebe70d0ffff6d1d4e6841ba2ec9a7f9d001f531be6261392dcd6e2ffd1b";
const OTHER: &str = "68d4fc9c6eb689c15ac2f06dc1c1828dfea222dc0e26fce772cf477943c09ec8";
const CILIUM_LOG: &str = "/var/run/cilium/cilium-cni.log";
const CALICO_LOG: &str = "/var/log/calico/cni/cni.log";

fn at(ms: u64) -> Timestamp {
    Timestamp::from_unix_nanos(WALL + (ms * MS) as i64)
}

/// A Calico line dated `ms` after [`WALL`].
fn calico(ms: u64, text: &str) -> String {
    let (s, milli) = (ms / 1000, ms % 1000);
    format!("2026-01-15 12:00:{s:02}.{milli:03} [INFO][8501] {text}")
}

fn cilium_created(cid: &str) -> String {
    format!(
        r#"level=info msg="Created endpoint" containerID={cid} endpointID=5436 subsys=cilium-cni"#
    )
}

struct Run {
    c: Collector,
    events: Vec<UnifiedEvent>,
    checkpoints: Vec<(String, u64)>,
    offsets: std::collections::HashMap<String, (u64, u64)>,
}

impl Run {
    fn new() -> Run {
        Run::with(Config::default())
    }

    fn with(config: Config) -> Run {
        Run {
            c: Collector::new(config),
            events: Vec::new(),
            checkpoints: Vec::new(),
            offsets: Default::default(),
        }
    }

    /// Fires every deadline up to `ms`, as a runtime does while it waits.
    fn tick(&mut self, ms: u64) {
        while let Some((deadline, _)) = self.c.poll_timeout() {
            if deadline > at(ms) {
                break;
            }
            self.c.handle_timeout(deadline);
            self.drain();
        }
    }

    fn drain(&mut self) {
        while let Some(e) = self.c.poll_event() {
            self.events.push(e);
        }
        while let Some(Request::Checkpoint { source, offset }) = self.c.poll_request() {
            self.checkpoints.push((source.to_string(), offset));
        }
    }

    fn line(&mut self, ms: u64, source: &str, text: &str) {
        self.tick(ms);
        let pos = self.offsets.entry(source.to_owned()).or_insert((0, 0));
        pos.0 += 1;
        let line = LogLine {
            source,
            line_no: pos.0,
            offset: pos.1,
            bytes: text.as_bytes(),
            format: None,
        };
        pos.1 += text.len() as u64 + 1;
        self.c.handle_log_line(at(ms), line);
        self.drain();
    }

    fn record(&mut self, ms: u64, bytes: &[u8]) {
        self.tick(ms);
        self.c
            .handle_bpf_record(at(ms), CLOCK, bytes)
            .unwrap_or_else(|e| panic!("{e}"));
        self.drain();
    }

    /// A top-level plugin run of `command` for `cid` from `start` to `end` ms, exiting `code`.
    fn plugin(&mut self, pid: u32, cid: &str, command: &str, start: u64, end: u64, code: i32) {
        let vars = [
            format!("CNI_COMMAND={command}"),
            format!("CNI_CONTAINERID={cid}"),
            "CNI_NETNS=/var/run/netns/cni-1234".to_owned(),
            "CNI_IFNAME=eth0".to_owned(),
            "CNI_ARGS=K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0".to_owned(),
            "CNI_PATH=/opt/cni/bin".to_owned(),
        ];
        let mut block = Vec::new();
        for v in &vars {
            block.extend_from_slice(v.as_bytes());
            block.push(0);
        }
        let ts = MONO + start * MS;
        let len = block.len() as u32;
        let path = "/opt/cni/bin/bridge";
        self.record(
            start,
            &raw::exec(pid, 1, ts, ts - 1, 2, len, "bridge", path),
        );
        self.record(start, &raw::env(pid, ts, len, 0, &block));
        self.record(end, &raw::exit(pid, 1, MONO + end * MS, code << 8));
    }

    /// A log source is read from now on (an empty line, which gives no event).
    fn reading_logs(&mut self) {
        self.line(0, "/var/log/other.log", "");
    }

    fn of(&self, monitor: Monitor) -> Vec<&UnifiedEvent> {
        self.events
            .iter()
            .filter(|e| e.origin.monitor == monitor)
            .collect()
    }

    fn transaction(&self) -> &UnifiedEvent {
        let txns = self.of(Monitor::Ebpf);
        assert_eq!(txns.len(), 1, "{:#?}", self.events);
        txns[0]
    }

    fn trace(e: &UnifiedEvent) -> Option<&str> {
        e.trace_context.as_ref().map(|t| t.trace_id.as_str())
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && s.bytes().any(|b| b != b'0')
}

#[test]
fn the_transaction_and_its_log_lines_share_one_trace_id() {
    let mut run = Run::new();
    run.reading_logs();
    // The plugin logs while it runs, before its event exists (that needs its exit).
    run.record(10, &raw::exec(7, 1, MONO + 10 * MS, MONO, 2, 0, "x", "/x"));
    // Read while the plugin runs: held for its transaction.
    run.line(20, CILIUM_LOG, &cilium_created(CONTAINER));
    assert!(run.events.is_empty(), "{:#?}", run.events);
    run.plugin(100, CONTAINER, "ADD", 15, 40, 0);
    // Read after the exit, within the hold.
    let ipam = calico(
        60,
        "ipam/ipam.go 838: Successfully claimed IPs: [10.22.0.9/26] block=10.22.0.0/26 \
         handle=\"k8s-pod-network.3a0b9ebe70d0932d6d1d4e6841ba2ec9a7f9d001f531be6261392dcd6e2ffd1b\"",
    );
    run.line(60, CALICO_LOG, &ipam);
    assert!(run.of(Monitor::Ebpf).is_empty(), "held: {:#?}", run.events);
    run.tick(2000);

    let txn = run.transaction();
    let trace = Run::trace(txn).expect("a trace id");
    assert_eq!(trace, trace_id(CONTAINER, Some(Operation::Add), at(15)));
    assert!(is_hex(trace, 32), "{trace}");
    let spans: Vec<&str> = run
        .events
        .iter()
        .filter_map(|e| e.trace_context.as_ref())
        .map(|t| t.span_id.as_str())
        .collect();
    assert_eq!(spans.len(), 3, "{:#?}", run.events);
    assert!(spans.iter().all(|s| is_hex(s, 16)), "{spans:?}");
    assert!(spans[0] != spans[1] && spans[1] != spans[2] && spans[0] != spans[2]);

    let lines = run.of(Monitor::Log);
    let joined: Vec<&&UnifiedEvent> = lines.iter().filter(|e| Run::trace(e).is_some()).collect();
    assert_eq!(joined.len(), 2, "{lines:#?}");
    for line in &joined {
        assert_eq!(Run::trace(line), Some(trace));
        assert_eq!(line.category, Category::PluginLog);
        assert_eq!(line.attributes["transaction_event_id"], txn.id);
    }
    assert_eq!(joined[0].attributes["parsed_category"], "plugin_log");
    assert_eq!(joined[1].attributes["parsed_category"], "ip_allocation");
    assert_eq!(
        joined[1].cni.as_ref().unwrap().operation,
        Some(Operation::Add)
    );

    // Both lines were read within the hold: their facts are the transaction's.
    assert_eq!(txn.attributes["endpoint_id"], "5436");
    assert_eq!(txn.attributes["ipam_block"], "10.22.0.0/26");
    assert!(
        !txn.attributes.contains_key("subsys"),
        "{:?}",
        txn.attributes
    );
    assert!(
        !txn.attributes.contains_key("caller"),
        "{:?}",
        txn.attributes
    );
    let net = txn.network.as_ref().expect("network block");
    assert_eq!(net.ip_address.as_deref(), Some("10.22.0.9"));
    // The eBPF event stays the one setup of the transaction.
    assert_eq!(txn.category, Category::NetworkSetup);
    let stats = &run.c.stats().correlation;
    assert_eq!((stats.correlated_lines, stats.enriching_lines), (2, 2));
}

#[test]
fn a_truncated_prefix_of_twelve_digits_joins_and_a_shorter_one_does_not() {
    let mut run = Run::new();
    run.reading_logs();
    run.plugin(100, CONTAINER, "ADD", 0, 30, 0);
    let line = |cid: &str| {
        calico(
            50,
            &format!(
                "cni-plugin/k8s.go 73: Extracted identifiers for CmdAddK8s ContainerID=\"{cid}\" \
                 Namespace=\"shop\" Pod=\"web-0\" WorkloadEndpoint=\"node1-k8s-web--0-eth0\""
            ),
        )
    };
    run.line(50, CALICO_LOG, &line(&CONTAINER[..12]));
    run.line(51, CALICO_LOG, &line(&CONTAINER[..11]));
    run.c.release_held();
    run.drain();
    let txn = run.transaction();
    let lines = run.of(Monitor::Log);
    assert_eq!(lines.len(), 2);
    assert_eq!(Run::trace(lines[0]), Run::trace(txn));
    assert_eq!(lines[0].category, Category::PluginLog);
    assert_eq!(Run::trace(lines[1]), None);
    assert_eq!(lines[1].category, Category::NetworkSetup);
    assert_eq!(txn.attributes["workload_endpoint"], "node1-k8s-web--0-eth0");
}

#[test]
fn a_line_about_another_container_is_not_joined() {
    let mut run = Run::new();
    run.line(0, CILIUM_LOG, &cilium_created(OTHER));
    run.plugin(100, CONTAINER, "ADD", 10, 30, 0);
    run.line(40, CILIUM_LOG, &cilium_created(OTHER));
    run.tick(5000);
    let txn = run.transaction();
    assert!(!txn.attributes.contains_key("endpoint_id"));
    for line in run.of(Monitor::Log) {
        assert_eq!(Run::trace(line), None, "{line:#?}");
        assert!(!line.attributes.contains_key("transaction_event_id"));
    }
    assert_eq!(run.c.stats().correlation.correlated_lines, 0);
}

#[test]
fn an_add_line_does_not_join_a_del_and_a_line_without_operation_does() {
    let mut run = Run::new();
    run.plugin(100, CONTAINER, "DEL", 0, 30, 0);
    let add = calico(
        40,
        &format!(
            "cni-plugin/k8s.go 73: Extracted identifiers for CmdAddK8s ContainerID=\"{CONTAINER}\""
        ),
    );
    run.line(40, CALICO_LOG, &add);
    run.line(41, CILIUM_LOG, &cilium_created(CONTAINER));
    run.tick(2000);
    let txn = run.transaction();
    assert_eq!(txn.cni.as_ref().unwrap().operation, Some(Operation::Del));
    let lines = run.of(Monitor::Log);
    let (calico, cilium) = match lines[0].origin.file.as_deref() {
        Some(CALICO_LOG) => (lines[0], lines[1]),
        _ => (lines[1], lines[0]),
    };
    assert_eq!(calico.cni.as_ref().unwrap().operation, Some(Operation::Add));
    assert_eq!(Run::trace(calico), None);
    assert_eq!(Run::trace(cilium), Run::trace(txn));
}

#[test]
fn after_the_hold_a_line_gets_the_trace_id_but_adds_nothing() {
    let mut run = Run::new();
    run.reading_logs();
    run.plugin(100, CONTAINER, "ADD", 10, 30, 0);
    assert!(run.of(Monitor::Ebpf).is_empty());
    let (deadline, why) = run.c.poll_timeout().expect("a deadline");
    assert_eq!(why, TimeoutReason::CorrelationWindow);
    assert_eq!(deadline, at(1030));
    run.tick(1030);
    assert_eq!(run.of(Monitor::Ebpf).len(), 1);
    run.line(5000, CILIUM_LOG, &cilium_created(CONTAINER));
    let txn = run.transaction();
    assert!(!txn.attributes.contains_key("endpoint_id"));
    let late = run.events.last().expect("the line");
    assert_eq!(Run::trace(late), Run::trace(txn));
    assert_eq!(late.attributes["transaction_event_id"], txn.id);
    let stats = &run.c.stats().correlation;
    assert_eq!((stats.correlated_lines, stats.enriching_lines), (1, 0));
}

#[test]
fn beyond_the_timeout_a_line_is_not_joined_and_the_transaction_expires() {
    let mut run = Run::new();
    run.plugin(100, CONTAINER, "ADD", 0, 30, 0);
    run.line(30_031, CILIUM_LOG, &cilium_created(CONTAINER));
    run.c.release_held();
    run.drain();
    let lines = run.of(Monitor::Log);
    assert_eq!(lines.len(), 1);
    assert_eq!(Run::trace(lines[0]), None);
    assert_eq!(run.c.stats().correlation.expired, 1);
}

#[test]
fn a_line_two_transactions_could_own_is_ambiguous() {
    let mut run = Run::new();
    run.plugin(100, CONTAINER, "ADD", 0, 30, 0);
    run.plugin(200, TWIN, "ADD", 0, 30, 0);
    let line = calico(
        20,
        &format!(
            "cni-plugin/k8s.go 73: Extracted identifiers ContainerID=\"{}\"",
            &CONTAINER[..12]
        ),
    );
    run.line(35, CALICO_LOG, &line);
    // The full id tells them apart.
    run.line(36, CILIUM_LOG, &cilium_created(TWIN));
    run.tick(2000);
    let lines = run.of(Monitor::Log);
    assert_eq!(Run::trace(lines[0]), None);
    let twin = run
        .of(Monitor::Ebpf)
        .into_iter()
        .find(|e| e.cni.as_ref().unwrap().container_id.as_deref() == Some(TWIN))
        .expect("the twin's event");
    assert_eq!(Run::trace(lines[1]), Run::trace(twin));
    let stats = &run.c.stats().correlation;
    assert_eq!((stats.ambiguous_lines, stats.correlated_lines), (1, 1));
}

#[test]
fn two_runs_equally_close_are_ambiguous_and_the_closer_one_wins() {
    let mut run = Run::new();
    run.plugin(100, CONTAINER, "ADD", 0, 10, 1);
    run.plugin(200, CONTAINER, "ADD", 30, 40, 0);
    // 10 ms from either run.
    run.line(20, CILIUM_LOG, &cilium_created(CONTAINER));
    // Inside the second run.
    run.line(35, CILIUM_LOG, &cilium_created(CONTAINER));
    run.tick(2000);
    let second = run.of(Monitor::Ebpf)[1].clone();
    let lines = run.of(Monitor::Log);
    assert_eq!(Run::trace(lines[0]), None);
    assert_eq!(Run::trace(lines[1]), Run::trace(&second));
    assert_eq!(run.c.stats().correlation.ambiguous_lines, 1);
}

#[test]
fn a_failed_run_takes_the_plugins_own_error_from_its_log() {
    let mut run = Run::new();
    run.reading_logs();
    run.plugin(100, CONTAINER, "ADD", 10, 30, 1);
    let line = format!(
        r#"level=warning msg="Unable to create endpoint" containerID={CONTAINER} endpointID=5436 error="context deadline exceeded" subsys=cilium-cni"#
    );
    run.line(40, CILIUM_LOG, &line);
    run.tick(2000);
    let txn = run.transaction();
    let error = txn.cni.as_ref().unwrap().error.as_ref().expect("an error");
    assert_eq!(error.msg, "context deadline exceeded");
    assert_eq!(txn.performance.as_ref().unwrap().success, Some(false));
}

#[test]
fn disabled_correlation_changes_nothing() {
    let config = Config {
        enable_trace_correlation: false,
        ..Config::default()
    };
    let mut run = Run::with(config);
    run.reading_logs();
    run.line(5, CILIUM_LOG, &cilium_created(CONTAINER));
    run.plugin(100, CONTAINER, "ADD", 10, 30, 0);
    // Out at once: nothing is held.
    assert_eq!(run.events.len(), 2, "{:#?}", run.events);
    assert_eq!(run.c.poll_timeout(), None);
    run.line(40, CILIUM_LOG, &cilium_created(CONTAINER));
    for e in &run.events {
        assert_eq!(e.trace_context, None);
        assert!(!e.attributes.contains_key("transaction_event_id"));
    }
    assert!(!run.transaction().attributes.contains_key("endpoint_id"));
    assert_eq!(run.c.stats().correlation, Default::default());
}

#[test]
fn without_log_input_nothing_is_held_and_without_ebpf_input_no_line_is() {
    let mut run = Run::new();
    run.plugin(100, CONTAINER, "ADD", 0, 30, 0);
    assert_eq!(run.of(Monitor::Ebpf).len(), 1, "no log to wait for");
    let mut logs = Run::new();
    logs.line(0, CILIUM_LOG, &cilium_created(CONTAINER));
    assert_eq!(logs.events.len(), 1, "no transaction can come");
}

#[test]
fn a_held_line_keeps_its_sources_checkpoint_until_it_leaves() {
    let mut run = Run::new();
    // eBPF input, and no plugin running when the lines are read.
    run.record(0, &raw::exec(7, 1, MONO, MONO - 1, 2, 0, "x", "/x"));
    run.record(0, &raw::exit(7, 1, MONO, 0));
    let first = "level=info msg=\"agent up\" subsys=cilium-cni";
    run.line(1, CILIUM_LOG, first);
    let held_at = first.len() as u64 + 1;
    run.line(2, CILIUM_LOG, &cilium_created(OTHER));
    run.line(2, CILIUM_LOG, &cilium_created(TWIN));
    run.line(3, CILIUM_LOG, first);
    let last = run.checkpoints.last().cloned();
    assert_eq!(last, Some((CILIUM_LOG.to_owned(), held_at)));
    // Both held lines leave in one step; the checkpoint ends past them all.
    run.tick(1002);
    let end = run.offsets[CILIUM_LOG].1;
    assert_eq!(
        run.checkpoints.last().cloned(),
        Some((CILIUM_LOG.to_owned(), end))
    );
    assert_eq!(run.of(Monitor::Log).len(), 4);
}

#[test]
fn the_tables_are_bounded() {
    let config = Config {
        max_correlated_transactions: 2,
        max_held_log_events: 1,
        ..Config::default()
    };
    let mut run = Run::with(config);
    run.reading_logs();
    for (i, cid) in [CONTAINER, TWIN, OTHER].into_iter().enumerate() {
        run.plugin(100 + i as u32, cid, "ADD", 10, 20, 0);
    }
    let stats = &run.c.stats().correlation;
    assert_eq!(stats.evicted, 1);
    // The forgotten transaction's event left at once.
    assert_eq!(run.of(Monitor::Ebpf).len(), 1);
    let unknown = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    run.line(30, CILIUM_LOG, &cilium_created(unknown));
    run.line(31, CILIUM_LOG, &cilium_created(unknown));
    assert_eq!(run.c.stats().correlation.held_lines_overflow, 1);
    run.c.release_held();
    run.drain();
    assert_eq!(run.events.len(), 5, "{:#?}", run.events);
}

#[test]
fn ids_are_stable_w3c_hex() {
    // Fixed forever: a trace id must not change between builds.
    let t = trace_id(CONTAINER, Some(Operation::Add), at(15));
    assert_eq!(t, trace_id(CONTAINER, Some(Operation::Add), at(15)));
    assert_ne!(t, trace_id(CONTAINER, Some(Operation::Del), at(15)));
    assert_ne!(t, trace_id(CONTAINER, Some(Operation::Add), at(16)));
    assert_ne!(t, trace_id(TWIN, Some(Operation::Add), at(15)));
    assert!(is_hex(&t, 32) && is_hex(&span_id(&t, "e"), 16));
    // FNV-1a 64 of "a\0" and of "a\0bc\0", from the reference algorithm; the high half
    // starts from the high 64 bits of the FNV-128 offset basis.
    assert_eq!(
        super::fnv1a(super::FNV_OFFSET, &[b"a"]),
        0x089b_e207_b544_f1e4
    );
    assert_eq!(
        super::fnv1a(super::FNV_OFFSET, &[b"a", b"bc"]),
        0x4018_01fc_84f3_ca79
    );
    assert_eq!(
        super::fnv1a(super::FNV_OFFSET_HIGH, &[b"a", b"bc"]),
        0xcf1a_5903_aad2_f738
    );
}

#[test]
fn a_line_read_while_a_plugin_runs_waits_for_its_exit() {
    let mut run = Run::new();
    run.reading_logs();
    let vars = [
        "CNI_COMMAND=ADD".to_owned(),
        format!("CNI_CONTAINERID={CONTAINER}"),
    ];
    let block: Vec<u8> = vars.iter().flat_map(|v| v.bytes().chain([0])).collect();
    let len = block.len() as u32;
    let bridge = "/opt/cni/bin/bridge";
    run.record(
        0,
        &raw::exec(100, 1, MONO, MONO - 1, 2, len, "bridge", bridge),
    );
    run.record(0, &raw::env(100, MONO, len, 0, &block));
    // A slow ADD: its lines and another container's are read long before it exits.
    run.line(100, CILIUM_LOG, &cilium_created(CONTAINER));
    run.line(200, CILIUM_LOG, &cilium_created(OTHER));
    run.tick(2900);
    assert!(run.events.is_empty(), "{:#?}", run.events);
    assert_eq!(run.c.poll_timeout().map(|(t, _)| t), Some(at(30_100)));
    run.record(3000, &raw::exit(100, 1, MONO + 3000 * MS, 0));
    // The exit settles both: one joins, the other leaves unjoined at once.
    let lines = run.of(Monitor::Log);
    assert_eq!(lines.len(), 2, "{:#?}", run.events);
    assert!(lines[0].trace_context.is_some());
    assert_eq!(lines[1].trace_context, None);
    let joined = lines[0].trace_context.clone();
    run.tick(4000);
    let txn = run.transaction();
    assert_eq!(txn.attributes["endpoint_id"], "5436");
    assert_eq!(
        txn.trace_context.as_ref().map(|t| &t.trace_id),
        joined.as_ref().map(|t| &t.trace_id)
    );
}

#[test]
fn a_line_waits_for_a_running_plugin_no_longer_than_the_timeout() {
    let mut run = Run::new();
    run.record(0, &raw::exec(100, 1, MONO, MONO - 1, 2, 0, "bridge", "/x"));
    run.line(100, CILIUM_LOG, &cilium_created(OTHER));
    run.tick(30_099);
    assert!(run.of(Monitor::Log).is_empty());
    run.tick(30_100);
    assert_eq!(run.of(Monitor::Log).len(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Lines about the transaction read at any time around it, before and after its exit: the
    /// same inputs give the same events, and every line joins the transaction.
    #[test]
    fn any_arrival_order_is_deterministic(times in prop::collection::vec(1u64..3000, 0..8)) {
        let go = || {
            let mut run = Run::new();
            run.reading_logs();
            run.record(0, &raw::exec(7, 1, MONO, MONO - 1, 2, 0, "x", "/x"));
            let mut inputs: Vec<u64> = times.clone();
            inputs.push(500);
            inputs.sort_unstable();
            let mut ran = false;
            for t in inputs {
                if t >= 500 && !ran {
                    run.plugin(100, CONTAINER, "ADD", 400, 500, 0);
                    ran = true;
                } else {
                    run.line(t, CILIUM_LOG, &cilium_created(CONTAINER));
                }
            }
            run.c.release_held();
            run.drain();
            run.events
        };
        let (a, b) = (go(), go());
        prop_assert_eq!(&a, &b);
        let txn = a.iter().find(|e| e.origin.monitor == Monitor::Ebpf).expect("the transaction");
        let lines: Vec<&UnifiedEvent> = a.iter().filter(|e| e.origin.monitor == Monitor::Log).collect();
        prop_assert_eq!(lines.len(), times.len());
        for line in lines {
            prop_assert_eq!(Run::trace(line), Run::trace(txn), "{:#?}", line);
        }
        let early = times.iter().any(|&t| t < 1500);
        prop_assert_eq!(txn.attributes.contains_key("endpoint_id"), early);
    }
}
