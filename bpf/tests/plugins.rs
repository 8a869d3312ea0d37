//! Runs the reference CNI plugins (Debian's containernetworking-plugins, in
//! /usr/lib/cni) the way a container runtime does, with the probes loaded,
//! and checks what the kernel reported about them.
//!
//! Needs root, kernel BTF and the plugins; fails (never skips) without them.

mod common;

use std::os::unix::fs::MetadataExt;

use common::{
    load_probes, load_probes_with, run_plugin, serial, Capture, Record, Sandbox, BRIDGE, HOST_LOCAL,
};
use tapio_cni_bpf::record::{flag, ns_syscall};
use tapio_cni_bpf::Options;

fn exec_of(capture: &Capture, pid: u32) -> (String, u32) {
    match capture.exec(pid) {
        Some(Record::Exec { path, flags, .. }) => (path.clone(), *flags),
        _ => panic!("no EXEC record for {pid}: {:#?}", capture.summary()),
    }
}

#[test]
fn version_is_reported_with_env_stdout_and_exit() {
    let _serial = serial();
    let mut probes = load_probes();
    let config = br#"{"cniVersion":"1.0.0","name":"tapio-version","type":"bridge"}"#;
    let (pid, output) = run_plugin(
        BRIDGE,
        &[("CNI_COMMAND", "VERSION"), ("CNI_PATH", "/usr/lib/cni")],
        config,
    );
    assert!(output.status.success(), "bridge VERSION: {output:?}");

    let capture = Capture::until(&mut probes, |c| c.exited(pid).is_some());
    let (path, flags) = exec_of(&capture, pid);
    assert_eq!(path, BRIDGE);
    assert_eq!(flags & flag::PATH_MATCHED, flag::PATH_MATCHED);
    assert_eq!(
        flags & flag::PARENT_TRACKED,
        0,
        "the test process is not tracked"
    );
    let env = capture.env(pid);
    assert!(env.contains(&"CNI_COMMAND=VERSION".to_owned()), "{env:?}");
    assert!(env.contains(&"CNI_PATH=/usr/lib/cni".to_owned()), "{env:?}");
    // The plugin's skel does not read stdin for VERSION (strace shows no
    // read(0)); whatever it reads must be the config.
    let stdin = capture.stream(pid, 0);
    assert!(config.starts_with(&stdin), "stdin {stdin:?}");
    assert_eq!(capture.stream(pid, 1), output.stdout);
    assert_eq!(capture.stream(pid, 2), output.stderr);
    assert_eq!(capture.exited(pid), Some(0));
    assert_eq!(probes.dropped().expect("reading drops"), 0);
}

#[test]
fn failing_add_reports_error_json_and_exit_status() {
    let _serial = serial();
    let mut probes = load_probes();
    let config = b"{\"cniVersion\": \"1.0.0\", not json";
    let (pid, output) = run_plugin(
        BRIDGE,
        &[
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "tapio-bad-config"),
            ("CNI_NETNS", "/var/run/netns/tapio-does-not-exist"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", "/usr/lib/cni"),
        ],
        config,
    );
    assert!(
        !output.status.success(),
        "bridge accepted bad JSON: {output:?}"
    );

    let capture = Capture::until(&mut probes, |c| c.exited(pid).is_some());
    assert_eq!(exec_of(&capture, pid).0, BRIDGE);
    assert_eq!(capture.stream(pid, 0), config);
    let stdout = capture.stream(pid, 1);
    assert_eq!(stdout, output.stdout);
    let error: serde_json::Value = serde_json::from_slice(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not the error JSON ({e}): {stdout:?}"));
    assert!(error["code"].as_u64().is_some(), "{error}");
    assert!(
        error["msg"].as_str().is_some_and(|m| !m.is_empty()),
        "{error}"
    );
    let status = capture.exited(pid).expect("EXIT record");
    assert_eq!(
        status >> 8,
        output.status.code().expect("exited, not killed")
    );
    assert_ne!(status, 0);
}

#[test]
fn add_and_del_report_delegation_netns_and_result() {
    let _serial = serial();
    let mut probes = load_probes();
    let sandbox = Sandbox::new();
    let netns_ino = u32::try_from(
        std::fs::metadata(sandbox.netns_path())
            .expect("netns file")
            .ino(),
    )
    .expect("namespace inodes fit in 32 bits");
    let config = sandbox.config();

    let (pid, output) = sandbox.run("ADD");
    assert!(output.status.success(), "bridge ADD: {output:?}");
    let result: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("ADD prints the result JSON");
    let address = result["ips"][0]["address"]
        .as_str()
        .unwrap_or_else(|| panic!("no IP in {result}"))
        .to_owned();
    assert!(address.starts_with("192.0.2."), "{address}");

    let capture = Capture::until(&mut probes, |c| c.exited(pid).is_some());

    // The plugin itself.
    let (path, flags) = exec_of(&capture, pid);
    assert_eq!(path, BRIDGE);
    assert_eq!(flags & flag::PARENT_TRACKED, 0);
    let env = capture.env(pid);
    for expected in [
        "CNI_COMMAND=ADD",
        "CNI_CONTAINERID=tapio-test-container",
        "CNI_IFNAME=eth0",
        "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=tapio",
    ] {
        assert!(
            env.contains(&expected.to_owned()),
            "{expected} not in {env:?}"
        );
    }
    assert!(env.contains(&format!("CNI_NETNS={}", sandbox.netns_path())));
    assert_eq!(capture.stream(pid, 0), config);
    let stdout = capture.stream(pid, 1);
    assert_eq!(stdout, output.stdout);
    assert!(String::from_utf8_lossy(&stdout).contains(&address));
    assert_eq!(capture.exited(pid), Some(0));

    // It entered the pod's network namespace (from some thread of its own).
    let entered = capture.for_pid(pid).any(|r| {
        matches!(r, Record::Netns { syscall, ret: 0, netns_ino: ino, prev_netns_ino, .. }
            if *syscall == ns_syscall::SETNS && *ino == netns_ino && *prev_netns_ino != netns_ino)
    });
    assert!(
        entered,
        "no NETNS record into {netns_ino}: {:#?}",
        capture.summary()
    );

    // Its delegated IPAM plugin, tracked through its parent.
    let children = capture.children(pid);
    let ipam = children
        .iter()
        .copied()
        .find(|&child| exec_of(&capture, child).0 == HOST_LOCAL)
        .unwrap_or_else(|| panic!("no host-local child of {pid}: {:#?}", capture.summary()));
    let (_, ipam_flags) = exec_of(&capture, ipam);
    assert_eq!(
        ipam_flags & (flag::PARENT_TRACKED | flag::PATH_MATCHED),
        flag::PARENT_TRACKED | flag::PATH_MATCHED
    );
    assert!(capture.env(ipam).contains(&"CNI_COMMAND=ADD".to_owned()));
    assert_eq!(
        capture.stream(ipam, 0),
        config,
        "bridge hands its config to IPAM"
    );
    assert!(String::from_utf8_lossy(&capture.stream(ipam, 1)).contains(&address));
    assert_eq!(capture.exited(ipam), Some(0));

    // DEL: the same shape, and it succeeds.
    let (del_pid, del_output) = sandbox.run("DEL");
    assert!(del_output.status.success(), "bridge DEL: {del_output:?}");
    let capture = Capture::until(&mut probes, |c| c.exited(del_pid).is_some());
    assert_eq!(exec_of(&capture, del_pid).0, BRIDGE);
    assert!(capture.env(del_pid).contains(&"CNI_COMMAND=DEL".to_owned()));
    assert_eq!(capture.stream(del_pid, 0), config);
    let del_children = capture.children(del_pid);
    assert!(
        del_children
            .iter()
            .any(|&child| exec_of(&capture, child).0 == HOST_LOCAL
                && capture.exited(child) == Some(0)),
        "no host-local DEL: {:#?}",
        capture.summary()
    );
    assert_eq!(capture.exited(del_pid), Some(0));
    assert_eq!(probes.dropped().expect("reading drops"), 0);
}

#[test]
fn a_full_ring_buffer_counts_every_lost_record() {
    let _serial = serial();
    let env = [("CNI_COMMAND", "VERSION")];
    let config = br#"{"cniVersion":"1.0.0","name":"tapio-drops","type":"bridge"}"#;

    // How many records one run yields, measured with room to spare.
    let mut roomy = load_probes();
    let (pid, _) = run_plugin(BRIDGE, &env, config);
    let per_run = Capture::until(&mut roomy, |c| c.exited(pid).is_some())
        .for_pid(pid)
        .count() as u64;
    drop(roomy);

    // 16 KiB holds fewer than two runs' worth (ENV and DATA records take
    // 4 KiB each), and nothing reads the ring while the runs go on.
    let mut tight = load_probes_with(&Options {
        ring_buffer_bytes: 16 << 10,
        ..Options::default()
    });
    let runs = 5;
    let pids: Vec<u32> = (0..runs)
        .map(|_| {
            let (pid, output) = run_plugin(BRIDGE, &env, config);
            assert!(output.status.success());
            pid
        })
        .collect();
    let capture = Capture::drain(&mut tight, std::time::Duration::from_millis(200));
    let received = capture
        .records
        .iter()
        .filter(|r| pids.contains(&r.hdr().pid))
        .count() as u64;
    let dropped = tight.dropped().expect("reading drops");
    assert!(dropped > 0, "the ring buffer never filled up");
    assert_eq!(
        received + dropped,
        per_run * runs,
        "every record is received or counted as dropped"
    );
}
