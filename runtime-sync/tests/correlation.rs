//! End to end through the core: a real bridge ADD seen by the eBPF probes in the running kernel,
//! and log lines naming its container appended to a real log file and read back from it, go into
//! one `Collector` as a runtime feeds it. The transaction's event and the log events share one
//! trace id, and the lines read within the hold add their facts to the transaction's event.
//!
//! Needs root, kernel BTF and the reference plugins; fails (never skips) without them.

mod common;

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{require_root, Sandbox};
use proto::event::{Category, Monitor, Operation};
use proto::{Collector, Config, LogLine, Timestamp, UnifiedEvent};
use tapio_cni_bpf::{Options, Probes};
use tapio_cni_collector_lite::daemon::sample_clock;
use tapio_cni_collector_lite::lines::BoundedLines;

fn wall_now() -> Timestamp {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    Timestamp::from_unix_nanos(i64::try_from(since.as_nanos()).expect("before 2262"))
}

/// The time as Calico writes it: `2026-11-22 18:13:08.338` (UTC here).
fn calico_time(t: Timestamp) -> String {
    let text = t.to_rfc3339();
    format!("{} {}", &text[..10], &text[11..23])
}

/// A plugin log file, removed on drop.
struct LogFile {
    path: PathBuf,
}

impl LogFile {
    fn new() -> LogFile {
        let path = std::env::temp_dir().join(format!("tapio-corr-{}.log", std::process::id()));
        File::create(&path).expect("creating the log file");
        LogFile { path }
    }

    fn append(&self, line: &str) {
        let mut f = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .expect("opening the log file");
        writeln!(f, "{line}").expect("appending to the log file");
    }
}

impl Drop for LogFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The probes and the log file feeding one collector, as a runtime's loop does.
struct Live {
    probes: Probes,
    lines: BoundedLines<BufReader<File>>,
    source: String,
    line_no: u64,
    collector: Collector,
    events: Vec<UnifiedEvent>,
}

impl Live {
    fn step(&mut self) {
        let clock = sample_clock().expect("sampling the clocks");
        let Live {
            probes, collector, ..
        } = self;
        probes
            .poll(Duration::from_millis(50), |record| {
                collector
                    .handle_bpf_record(wall_now(), clock, record)
                    .unwrap_or_else(|e| panic!("the kernel's record is invalid: {e}"));
            })
            .expect("polling the ring buffer");
        while let Some(line) = self.lines.next_line().expect("reading the log file") {
            self.line_no += 1;
            self.collector.handle_log_line(
                wall_now(),
                LogLine {
                    source: &self.source,
                    line_no: self.line_no,
                    offset: line.offset,
                    bytes: &line.bytes,
                    format: None,
                },
            );
        }
        let now = wall_now();
        while self
            .collector
            .poll_timeout()
            .is_some_and(|(at, _)| at <= now)
        {
            self.collector.handle_timeout(now);
        }
        while let Some(e) = self.collector.poll_event() {
            self.events.push(e);
        }
    }

    /// Steps until `done` holds for the events, or fails after 10 s.
    fn until(&mut self, what: &str, done: impl Fn(&[UnifiedEvent]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done(&self.events) {
            assert!(
                Instant::now() < deadline,
                "{what} did not come within 10 s; events: {:#?}; stats: {:#?}",
                self.events,
                self.collector.stats()
            );
            self.step();
        }
    }
}

#[test]
fn a_real_add_and_the_log_lines_naming_its_container_share_one_trace() {
    require_root();
    let log = LogFile::new();
    log.append(&format!(
        "{} [INFO][1] felix/daemon.go 300: Calico node up",
        calico_time(wall_now())
    ));
    let probes = Probes::load(&Options {
        plugin_dirs: vec![PathBuf::from("/usr/lib/cni")],
        ..Options::default()
    })
    .unwrap_or_else(|e| panic!("loading the probes: {e}"));
    let reader = BufReader::new(File::open(&log.path).expect("opening the log file"));
    let mut live = Live {
        probes,
        lines: BoundedLines::new(reader, 1 << 20),
        source: log.path.display().to_string(),
        line_no: 0,
        collector: Collector::new(Config::default()),
        events: Vec::new(),
    };
    // The log is being read before the plugin runs, as a tailer does.
    live.step();

    let mut sandbox = Sandbox::new();
    // A 64-hex-digit id, as container runtimes make them, unique to this test process.
    sandbox.container_id = format!("c0ffee{:08x}{:050x}", std::process::id(), 0xadd);
    let id = sandbox.container_id.clone();
    let add = sandbox.run("ADD");
    assert!(add.status.success(), "bridge ADD: {add:?}");
    let now = calico_time(wall_now());
    log.append(&format!(
        "{now} [INFO][2] cni-plugin/k8s.go 73: Extracted identifiers for CmdAddK8s \
         ContainerID=\"{id}\" Namespace=\"shop\" Pod=\"web-0\" \
         WorkloadEndpoint=\"node1-k8s-web--0-eth0\""
    ));
    log.append(&format!(
        "{now} [INFO][2] cni-plugin/k8s.go 589: Wrote updated endpoint to datastore \
         ContainerID=\"{}\" Workload=\"shop/web-0\"",
        &id[..12]
    ));

    let is_txn = |e: &UnifiedEvent| {
        e.origin.monitor == Monitor::Ebpf
            && e.cni.as_ref().and_then(|c| c.container_id.as_deref()) == Some(id.as_str())
    };
    live.until("the ADD's event", |events| events.iter().any(is_txn));
    let txn = live.events.iter().find(|e| is_txn(e)).expect("the ADD");
    assert_eq!(txn.cni.as_ref().unwrap().operation, Some(Operation::Add));
    assert_eq!(txn.category, Category::NetworkSetup);
    let trace = txn.trace_context.as_ref().expect("a trace id");
    let lines: Vec<&UnifiedEvent> = live
        .events
        .iter()
        .filter(|e| e.origin.monitor == Monitor::Log)
        .collect();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert_eq!(lines[0].trace_context, None, "the unrelated line");
    for line in &lines[1..] {
        let t = line.trace_context.as_ref().expect("joined");
        assert_eq!(t.trace_id, trace.trace_id, "{line:#?}");
        assert_ne!(t.span_id, trace.span_id);
        assert_eq!(line.category, Category::PluginLog);
        assert_eq!(line.attributes["transaction_event_id"], txn.id);
    }
    assert_eq!(txn.attributes["workload_endpoint"], "node1-k8s-web--0-eth0");
    assert_eq!(txn.attributes["workload"], "shop/web-0");
    let stats = &live.collector.stats().correlation;
    assert_eq!((stats.correlated_lines, stats.enriching_lines), (2, 2));
    drop(sandbox);
}
