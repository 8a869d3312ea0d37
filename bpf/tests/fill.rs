//! `Probes::ring_fill`: what the probes wrote and no poll took yet, read from the
//! ring's shared pages.
//!
//! Needs root and kernel BTF; fails (never skips) without them.

mod common;

use std::time::Duration;

use common::{load_probes_with, run_plugin, Record, HOST_LOCAL};
use tapio_cni_bpf::Options;

#[test]
fn the_fill_counts_records_not_yet_polled() {
    let ring = 1 << 20;
    let mut probes = load_probes_with(&Options {
        ring_buffer_bytes: ring,
        ..Options::default()
    });
    let (_, size) = probes.ring_fill();
    assert_eq!(size, ring);

    let (pid, output) = run_plugin(HOST_LOCAL, &[("CNI_COMMAND", "VERSION")], b"{}");
    assert!(output.status.success(), "{output:?}");
    let (pending, _) = probes.ring_fill();
    // At least its EXEC, an ENV chunk, the stdout write and its EXIT, each
    // with the ring's 8-byte record header.
    assert!(pending >= 4 * 8, "{pending} bytes pending");
    assert!(pending <= ring);

    let mut ours = 0;
    probes
        .poll(Duration::ZERO, |bytes| {
            if Record::parse(bytes).hdr().pid == pid {
                ours += 1;
            }
        })
        .expect("polling");
    assert!(ours >= 4, "{ours} records of the plugin");
    let (after, _) = probes.ring_fill();
    assert!(after < pending, "{after} bytes still pending of {pending}");
}
