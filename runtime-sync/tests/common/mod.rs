//! Real reference plugins in a network namespace, as a container runtime runs them (adapted from
//! `bpf/tests/common/mod.rs`): unique names, a temporary IPAM data directory, `ipMasq` off, and
//! everything removed on drop even when the test fails.

#![allow(dead_code)] // each test binary uses its own subset

pub mod daemon;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

pub const BRIDGE: &str = "/usr/lib/cni/bridge";

/// Fails loudly where the kernel tests cannot run: they must never pass by skipping.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests load BPF programs into the kernel and must run as root"
    );
    assert!(
        Path::new(BRIDGE).exists(),
        "{BRIDGE} is missing: apt-get install containernetworking-plugins"
    );
    if !Path::new("/sys/kernel/tracing/events").exists()
        && !Path::new("/sys/kernel/debug/tracing/events").exists()
    {
        let status = Command::new("mount")
            .args(["-t", "tracefs", "nodev", "/sys/kernel/tracing"])
            .status()
            .expect("running mount");
        assert!(status.success(), "mounting tracefs");
    }
}

/// Runs a plugin with `env` and `stdin`: a clean environment, the request in CNI_* variables.
pub fn run_plugin(plugin: &str, env: &[(&str, &str)], stdin: &[u8]) -> Output {
    let mut child = Command::new(plugin)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {plugin}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin)
        .expect("writing the config to the plugin");
    child.wait_with_output().expect("waiting for the plugin")
}

/// A network namespace, a unique bridge and an IPAM data directory.
pub struct Sandbox {
    pub netns: String,
    pub bridge: String,
    pub data_dir: PathBuf,
    pub container_id: String,
    pub cni_args: String,
}

impl Sandbox {
    pub fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let sandbox = Sandbox {
            netns: format!("tapio-rt-{pid}-{n}"),
            bridge: format!("tprt{}{n}", pid % 10_000_000),
            data_dir: std::env::temp_dir().join(format!("tapio-rt-test-{pid}-{n}")),
            container_id: format!("tapio-rt-container-{pid}-{n}"),
            cni_args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0".to_owned(),
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

    /// bridge + host-local in TEST-NET-1 (RFC 5737), never routed.
    pub fn config(&self) -> Vec<u8> {
        serde_json::json!({
            "cniVersion": "1.0.0",
            "name": "tapio-rt-test",
            "type": "bridge",
            "bridge": self.bridge,
            "isGateway": true,
            "ipMasq": false,
            "ipam": {
                "type": "host-local",
                "subnet": "192.0.2.0/24",
                "dataDir": self.data_dir,
            },
        })
        .to_string()
        .into_bytes()
    }

    pub fn run(&self, command: &str) -> Output {
        let netns = self.netns_path();
        run_plugin(
            BRIDGE,
            &[
                ("CNI_COMMAND", command),
                ("CNI_CONTAINERID", &self.container_id),
                ("CNI_NETNS", &netns),
                ("CNI_IFNAME", "eth0"),
                ("CNI_PATH", "/usr/lib/cni"),
                ("CNI_ARGS", &self.cni_args),
                ("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            ],
            &self.config(),
        )
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Best effort and quiet: a DEL that already ran makes these no-ops.
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
