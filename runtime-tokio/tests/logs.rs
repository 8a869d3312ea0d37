//! Both daemons (`tapio-cni-collector run`, `tapio-cni-collector-lite run`) tailing a real plugin log while the probes see a real bridge ADD:
//! the transaction's event and the log lines naming its container share one trace id; the
//! offsets the daemon persisted let a restart read only what is new. Needs root, kernel BTF and
//! the reference plugins; fails (never skips) without them.

#[path = "../../runtime-sync/tests/common/mod.rs"]
mod common;
mod support;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use common::daemon::{Daemon, TempDir, TempFile};
use common::{require_root, Sandbox};
use nix::sys::signal::Signal;
use serde_json::Value;
use support::{lite_bin, TOKIO_BIN};

/// Now as Calico writes it: `2026-11-22 18:13:08.338` (UTC).
fn calico_now() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos();
    let t = proto::Timestamp::from_unix_nanos(i64::try_from(nanos).expect("before 2262"));
    let text = t.to_rfc3339();
    format!("{} {}", &text[..10], &text[11..23])
}

fn append(path: &Path, line: &str) {
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .expect("opening the log file");
    writeln!(f, "{line}").expect("appending to the log file");
}

#[test]
fn tokio_log_lines_join_the_transaction_and_a_restart_reads_only_what_is_new() {
    log_lines_join_the_transaction_and_a_restart_reads_only_what_is_new(Path::new(TOKIO_BIN), 1);
}

#[test]
fn threaded_log_lines_join_the_transaction_and_a_restart_reads_only_what_is_new() {
    log_lines_join_the_transaction_and_a_restart_reads_only_what_is_new(&lite_bin(), 2);
}

/// `tag` keeps the two tests' containers apart: they run at once, and each daemon sees every
/// plugin execution on the host.
fn log_lines_join_the_transaction_and_a_restart_reads_only_what_is_new(bin: &Path, tag: u8) {
    require_root();
    let dir = TempDir::new(&format!("logs-{tag}"));
    let log = dir.0.join("calico.log");
    let state = dir.0.join("state");
    append(
        &log,
        &format!(
            "{} [INFO][1] felix/daemon.go 300: Calico node up",
            calico_now()
        ),
    );
    let config = TempFile::new(
        &format!("logs-{tag}.yaml"),
        &format!(
            "name: runtime-tokio-test\n\
             preset: development\n\
             enable_file_monitoring: false\n\
             enable_log_monitoring: true\n\
             enable_trace_correlation: true\n\
             correlation_hold: 5s\n\
             cni_bin_path: [/usr/lib/cni]\n\
             log_paths: [{}]\n\
             state_dir: {}\n\
             log_level: info\n",
            log.display(),
            state.display()
        ),
    );
    let mut daemon = Daemon::start(bin, &config, &[]);
    daemon.wait_ready("log tailer running");
    let source = log.to_str().expect("UTF-8").to_owned();
    let from_log = |e: &Value| e["origin"]["file"] == source.as_str();
    let first = &daemon.events_where(1, from_log)[0];
    assert!(
        first["message"]
            .as_str()
            .is_some_and(|m| m.contains("Calico node up")),
        "{first:#}"
    );

    let mut sandbox = Sandbox::new();
    // A 64-hex-digit id, as container runtimes make them, unique to this test: the tag comes
    // first, so that the 12-digit prefixes the log lines print differ between the two tests.
    sandbox.container_id = format!("c0ffee{tag:02x}{:08x}{:048x}", std::process::id(), 0x70c);
    let id = sandbox.container_id.clone();
    let add = sandbox.run("ADD");
    assert!(add.status.success(), "bridge ADD: {add:?}");
    let now = calico_now();
    append(
        &log,
        &format!(
            "{now} [INFO][2] cni-plugin/k8s.go 73: Extracted identifiers for CmdAddK8s \
             ContainerID=\"{id}\" Namespace=\"shop\" Pod=\"web-0\" \
             WorkloadEndpoint=\"node1-k8s-web--0-eth0\""
        ),
    );
    append(
        &log,
        &format!(
            "{now} [INFO][2] cni-plugin/k8s.go 589: Wrote updated endpoint to datastore \
             ContainerID=\"{}\" Workload=\"shop/web-0\"",
            &id[..12]
        ),
    );
    let events = daemon.events_where(3, |e| {
        e["cni"]["container_id"] == id.as_str()
            || (from_log(e) && e.to_string().contains(&id[..12]))
    });
    let txn = events
        .iter()
        .find(|e| e["origin"]["monitor"] == "ebpf")
        .unwrap_or_else(|| panic!("the ADD's event among {events:#?}"));
    assert_eq!(txn["cni"]["operation"], "ADD");
    assert_eq!(
        txn["attributes"]["workload_endpoint"], "node1-k8s-web--0-eth0",
        "{txn:#}"
    );
    assert_eq!(txn["attributes"]["workload"], "shop/web-0");
    let trace = &txn["trace_context"]["trace_id"];
    assert!(trace.is_string(), "{txn:#}");
    let lines: Vec<&Value> = events.iter().filter(|e| from_log(e)).collect();
    assert_eq!(lines.len(), 2, "{events:#?}");
    for line in lines {
        assert_eq!(line["category"], "plugin_log", "{line:#}");
        assert_eq!(&line["trace_context"]["trace_id"], trace, "{line:#}");
        assert_eq!(line["attributes"]["transaction_event_id"], txn["id"]);
    }
    drop(sandbox);
    daemon.stop_cleanly();

    // The offsets were persisted at the stop: a new daemon reads only the line added since.
    let saved: Value = serde_json::from_slice(
        &std::fs::read(state.join("log-offsets.json")).expect("the state file"),
    )
    .expect("the state file is JSON");
    let length = std::fs::metadata(&log).expect("the log").len();
    assert_eq!(
        saved["files"][source.as_str()]["offset"],
        length,
        "{saved:#}"
    );
    append(
        &log,
        &format!(
            "{} [INFO][3] felix/daemon.go 301: Calico node still up",
            calico_now()
        ),
    );
    let mut again = Daemon::start(bin, &config, &[]);
    again.wait_ready("log tailer running");
    let next = &again.events_where(1, from_log)[0];
    assert!(
        next["message"]
            .as_str()
            .is_some_and(|m| m.contains("Calico node still up")),
        "the first line read after the restart is the new one: {next:#}"
    );
    let (status, rest) = again.stop(Signal::SIGTERM);
    assert!(status.success(), "{}", again.stderr());
    let repeated: Vec<&String> = rest.iter().filter(|l| l.contains(&source)).collect();
    assert!(repeated.is_empty(), "lines read again: {repeated:#?}");
}
