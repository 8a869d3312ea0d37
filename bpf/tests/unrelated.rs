//! Processes that are not CNI plugins cost a map lookup in the kernel and
//! never reach user space.
//!
//! Needs root and kernel BTF; fails (never skips) without them.

mod common;

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use common::{load_probes, Capture, Record};

#[test]
fn unrelated_execs_produce_no_records_and_no_drops() {
    let mut probes = load_probes();
    let mut pids = HashSet::new();
    for _ in 0..2_000 {
        let mut child = Command::new("/bin/true")
            .spawn()
            .expect("spawning /bin/true");
        pids.insert(child.id());
        assert!(child.wait().expect("waiting for /bin/true").success());
    }

    let capture = Capture::drain(&mut probes, Duration::from_millis(500));
    let ours: Vec<_> = capture
        .records
        .iter()
        .filter(|r| {
            pids.contains(&r.hdr().pid)
                || matches!(r, Record::Exec { path, .. } if path == "/bin/true")
        })
        .collect();
    assert!(ours.is_empty(), "records for /bin/true: {ours:#?}");
    assert_eq!(probes.dropped().expect("reading drops"), 0);
}
