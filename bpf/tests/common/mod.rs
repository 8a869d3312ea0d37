//! Helpers for the tests that load the probes into the running kernel.
//!
//! The records are parsed here with the hand-written constants of
//! `tapio_cni_bpf::record`, the same way the core parses them, so these tests
//! also check that the mirror reads what the kernel writes.

#![allow(dead_code)] // each test binary uses its own subset

pub mod live;

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tapio_cni_bpf::record::{self, data, env, exec, exit, header, kind, netns};
use tapio_cni_bpf::{Options, Probes};

/// Fails the test, loudly, where the probes cannot be loaded: these tests
/// exist to run against a real kernel and must never pass by skipping.
pub fn load_probes() -> Probes {
    load_probes_with(&Options::default())
}

/// [`load_probes`] with other options.
pub fn load_probes_with(options: &Options) -> Probes {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { geteuid() };
    assert_eq!(
        euid, 0,
        "these tests load BPF programs into the kernel and must run as root (euid is {euid})"
    );
    assert!(
        Path::new("/sys/kernel/btf/vmlinux").exists(),
        "kernel BTF (/sys/kernel/btf/vmlinux) is missing: the CO-RE probes cannot be loaded"
    );
    ensure_tracefs();
    let probes = Probes::load(options).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        probes.missing().is_empty(),
        "programs missing on this kernel: {:?}",
        probes.missing()
    );
    probes
}

extern "C" {
    fn geteuid() -> u32;
}

/// Syscall tracepoints attach through tracefs; mount it where the kernel
/// offers it but nobody mounted it.
fn ensure_tracefs() {
    if Path::new("/sys/kernel/tracing/events").exists()
        || Path::new("/sys/kernel/debug/tracing/events").exists()
    {
        return;
    }
    let status = Command::new("mount")
        .args(["-t", "tracefs", "nodev", "/sys/kernel/tracing"])
        .status()
        .expect("running mount");
    assert!(
        status.success(),
        "mounting tracefs at /sys/kernel/tracing failed"
    );
}

/// Tests of one binary share the kernel's attention: run them one at a time
/// so that timing-sensitive ones are not disturbed.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kind: u32,
    pub pid: u32,
    pub tid: u32,
    pub ppid: u32,
    pub ts_ns: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Exec {
        hdr: Header,
        start_ns: u64,
        cgroup_id: u64,
        netns_ino: u32,
        flags: u32,
        env_len: u32,
        comm: String,
        path: String,
    },
    Env {
        hdr: Header,
        env_len: u32,
        offset: u32,
        data: Vec<u8>,
    },
    Data {
        hdr: Header,
        fd: u32,
        stream_off: u64,
        total_len: u32,
        chunk_off: u32,
        data: Vec<u8>,
    },
    Netns {
        hdr: Header,
        syscall: u32,
        ns_flags: u32,
        ret: i32,
        fd: i32,
        prev_netns_ino: u32,
        netns_ino: u32,
    },
    Exit {
        hdr: Header,
        exit_code: i32,
        flags: u32,
        tracked_ns: u64,
    },
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().unwrap())
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_ne_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(b[at..at + 8].try_into().unwrap())
}

fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

impl Record {
    pub fn parse(b: &[u8]) -> Self {
        let hdr = Header {
            kind: u32_at(b, header::KIND),
            pid: u32_at(b, header::PID),
            tid: u32_at(b, header::TID),
            ppid: u32_at(b, header::PPID),
            ts_ns: u64_at(b, header::TS_NS),
        };
        let expected_size = match hdr.kind {
            kind::EXEC => exec::SIZE,
            kind::ENV => env::SIZE,
            kind::DATA => data::SIZE,
            kind::NETNS => netns::SIZE,
            kind::EXIT => exit::SIZE,
            other => panic!("unknown record kind {other}"),
        };
        assert_eq!(b.len(), expected_size, "size of a kind {} record", hdr.kind);
        match hdr.kind {
            kind::EXEC => {
                let path_len = u32_at(b, exec::PATH_LEN) as usize;
                let path = c_string(&b[exec::PATH..exec::PATH + record::PATH_LEN]);
                assert_eq!(path.len(), path_len, "exec path_len");
                Record::Exec {
                    hdr,
                    start_ns: u64_at(b, exec::START_NS),
                    cgroup_id: u64_at(b, exec::CGROUP_ID),
                    netns_ino: u32_at(b, exec::NETNS_INO),
                    flags: u32_at(b, exec::FLAGS),
                    env_len: u32_at(b, exec::ENV_LEN),
                    comm: c_string(&b[exec::COMM..exec::COMM + record::COMM_LEN]),
                    path,
                }
            }
            kind::ENV => {
                let len = u32_at(b, env::LEN) as usize;
                Record::Env {
                    hdr,
                    env_len: u32_at(b, env::ENV_LEN),
                    offset: u32_at(b, env::OFFSET),
                    data: b[env::DATA..env::DATA + len].to_vec(),
                }
            }
            kind::DATA => {
                let len = u32_at(b, data::LEN) as usize;
                Record::Data {
                    hdr,
                    fd: u32_at(b, data::FD),
                    stream_off: u64_at(b, data::STREAM_OFF),
                    total_len: u32_at(b, data::TOTAL_LEN),
                    chunk_off: u32_at(b, data::CHUNK_OFF),
                    data: b[data::DATA..data::DATA + len].to_vec(),
                }
            }
            kind::NETNS => Record::Netns {
                hdr,
                syscall: u32_at(b, netns::SYSCALL),
                ns_flags: u32_at(b, netns::NS_FLAGS),
                ret: i32_at(b, netns::RET),
                fd: i32_at(b, netns::FD),
                prev_netns_ino: u32_at(b, netns::PREV_NETNS_INO),
                netns_ino: u32_at(b, netns::NETNS_INO),
            },
            _ => Record::Exit {
                hdr,
                exit_code: i32_at(b, exit::EXIT_CODE),
                flags: u32_at(b, exit::FLAGS),
                tracked_ns: u64_at(b, exit::TRACKED_NS),
            },
        }
    }

    pub fn hdr(&self) -> &Header {
        match self {
            Record::Exec { hdr, .. }
            | Record::Env { hdr, .. }
            | Record::Data { hdr, .. }
            | Record::Netns { hdr, .. }
            | Record::Exit { hdr, .. } => hdr,
        }
    }
}

/// Everything the probes reported, in ring-buffer order.
#[derive(Debug, Default)]
pub struct Capture {
    pub records: Vec<Record>,
}

impl Capture {
    /// Polls until `done` holds for what was captured, or fails after 10 s.
    pub fn until(probes: &mut Probes, mut done: impl FnMut(&Capture) -> bool) -> Capture {
        let mut capture = Capture::default();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done(&capture) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for records; captured so far: {:#?}",
                capture.summary()
            );
            probes
                .poll(Duration::from_millis(100), |b| {
                    capture.records.push(Record::parse(b))
                })
                .expect("polling the ring buffer");
        }
        capture
    }

    /// Drains whatever is waiting, for up to `quiet` without a record.
    pub fn drain(probes: &mut Probes, quiet: Duration) -> Capture {
        let mut capture = Capture::default();
        loop {
            let n = probes
                .poll(quiet, |b| capture.records.push(Record::parse(b)))
                .expect("polling the ring buffer");
            if n == 0 {
                return capture;
            }
        }
    }

    pub fn summary(&self) -> Vec<String> {
        self.records
            .iter()
            .map(|r| match r {
                Record::Exec { hdr, path, .. } => format!("EXEC {} {path}", hdr.pid),
                Record::Env { hdr, offset, .. } => format!("ENV {} @{offset}", hdr.pid),
                Record::Data { hdr, fd, data, .. } => {
                    format!(
                        "DATA {} fd{fd} {:?}",
                        hdr.pid,
                        String::from_utf8_lossy(data)
                    )
                }
                Record::Netns { hdr, ret, .. } => format!("NETNS {} ret {ret}", hdr.pid),
                Record::Exit { hdr, exit_code, .. } => format!("EXIT {} {exit_code}", hdr.pid),
            })
            .collect()
    }

    pub fn for_pid(&self, pid: u32) -> impl Iterator<Item = &Record> {
        self.records.iter().filter(move |r| r.hdr().pid == pid)
    }

    pub fn exited(&self, pid: u32) -> Option<i32> {
        self.for_pid(pid).find_map(|r| match r {
            Record::Exit { exit_code, .. } => Some(*exit_code),
            _ => None,
        })
    }

    /// The process's EXEC record (the last, if it exec'd more than once).
    pub fn exec(&self, pid: u32) -> Option<&Record> {
        self.for_pid(pid)
            .filter(|r| matches!(r, Record::Exec { .. }))
            .last()
    }

    /// Pids of the tracked processes whose parent is `pid`.
    pub fn children(&self, pid: u32) -> Vec<u32> {
        let mut seen = HashSet::new();
        self.records
            .iter()
            .filter_map(|r| match r {
                Record::Exec { hdr, .. } if hdr.ppid == pid && seen.insert(hdr.pid) => {
                    Some(hdr.pid)
                }
                _ => None,
            })
            .collect()
    }

    /// The environment block, reassembled, as `KEY=value` strings.
    pub fn env(&self, pid: u32) -> Vec<String> {
        let mut block = Vec::new();
        let mut total = None;
        for r in self.for_pid(pid) {
            if let Record::Env {
                env_len,
                offset,
                data,
                ..
            } = r
            {
                assert_eq!(*offset as usize, block.len(), "ENV chunks in order, no gap");
                block.extend_from_slice(data);
                total = Some(*env_len as usize);
            }
        }
        if let Some(total) = total {
            assert_eq!(block.len(), total, "whole environment block captured");
        }
        block
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    }

    /// Everything the process read from (fd 0) or wrote to (1, 2) `fd`,
    /// checking that the stream offsets leave no gap.
    pub fn stream(&self, pid: u32, fd: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        for r in self.for_pid(pid) {
            if let Record::Data {
                fd: f,
                stream_off,
                total_len,
                chunk_off,
                data,
                ..
            } = r
            {
                if *f != fd {
                    continue;
                }
                assert_eq!(
                    *stream_off as usize,
                    bytes.len(),
                    "fd {fd} stream has a gap"
                );
                assert!(chunk_off + data.len() as u32 <= *total_len);
                bytes.extend_from_slice(data);
            }
        }
        bytes
    }
}

pub const BRIDGE: &str = "/usr/lib/cni/bridge";
pub const HOST_LOCAL: &str = "/usr/lib/cni/host-local";

/// Runs a plugin with `env` and `stdin`, as a runtime would: a clean
/// environment, the request in CNI_* variables, the config on stdin.
pub fn run_plugin(plugin: &str, env: &[(&str, &str)], stdin: &[u8]) -> (u32, Output) {
    assert!(
        Path::new(plugin).exists(),
        "{plugin} is missing: apt-get install containernetworking-plugins"
    );
    let mut child = Command::new(plugin)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {plugin}: {e}"));
    let pid = child.id();
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin)
        .expect("writing the config to the plugin");
    (
        pid,
        child.wait_with_output().expect("waiting for the plugin"),
    )
}

/// A network namespace, a unique bridge and an IPAM data directory, removed
/// on drop even when the test fails.
pub struct Sandbox {
    pub netns: String,
    pub bridge: String,
    pub data_dir: PathBuf,
    /// `CNI_ARGS` of every run.
    pub cni_args: String,
}

/// The container id of [`Sandbox::run`].
pub const CONTAINER_ID: &str = "tapio-test-container";

impl Sandbox {
    pub fn new() -> Self {
        // Unique per sandbox of this process, and within IFNAMSIZ for the bridge.
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let sandbox = Sandbox {
            netns: format!("tapio-test-{pid}-{n}"),
            bridge: format!("tpbr{}{n}", pid % 10_000_000),
            data_dir: std::env::temp_dir().join(format!("tapio-cni-bpf-test-{pid}-{n}")),
            cni_args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=tapio".to_owned(),
        };
        let status = Command::new("ip")
            .args(["netns", "add", &sandbox.netns])
            .status()
            .expect("running ip (apt-get install iproute2)");
        assert!(status.success(), "ip netns add {}", sandbox.netns);
        sandbox
    }

    pub fn netns_path(&self) -> String {
        format!("/var/run/netns/{}", self.netns)
    }

    pub fn config(&self) -> Vec<u8> {
        self.config_with(serde_json::json!({}))
    }

    /// The bridge + host-local config, with `ipam` members added to (or
    /// replacing) the IPAM section's.
    pub fn config_with(&self, ipam: serde_json::Value) -> Vec<u8> {
        // TEST-NET-1 (RFC 5737): never routed, so it clashes with nothing.
        let mut config = serde_json::json!({
            "cniVersion": "1.0.0",
            "name": "tapio-test",
            "type": "bridge",
            "bridge": self.bridge,
            "isGateway": true,
            "ipMasq": false,
            "ipam": {
                "type": "host-local",
                "subnet": "192.0.2.0/24",
                "dataDir": self.data_dir,
            },
        });
        if let (Some(to), Some(from)) = (config["ipam"].as_object_mut(), ipam.as_object()) {
            to.extend(from.clone());
        }
        config.to_string().into_bytes()
    }

    pub fn run(&self, command: &str) -> (u32, Output) {
        self.run_with(command, CONTAINER_ID, "eth0", &self.config())
    }

    /// Runs bridge for another container or interface, or with another config.
    pub fn run_with(
        &self,
        command: &str,
        container_id: &str,
        if_name: &str,
        config: &[u8],
    ) -> (u32, Output) {
        let netns = self.netns_path();
        run_plugin(
            BRIDGE,
            &[
                ("CNI_COMMAND", command),
                ("CNI_CONTAINERID", container_id),
                ("CNI_NETNS", &netns),
                ("CNI_IFNAME", if_name),
                ("CNI_PATH", "/usr/lib/cni"),
                ("CNI_ARGS", &self.cni_args),
                ("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            ],
            config,
        )
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Best effort, and quiet: a DEL that already ran makes these no-ops.
        let _ = self.run("DEL");
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}
