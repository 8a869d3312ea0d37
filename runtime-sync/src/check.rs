//! `check`: preflight of this host. Says what works, what degrades and how to fix it; fails when
//! the main job, the process monitor, cannot run: neither the eBPF probes nor their /proc
//! fallback.

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::config::Config;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Works with less: a fallback, a missing optional part.
    Degraded,
    /// The main job cannot run.
    Failed,
    /// Facts worth knowing that neither help nor hurt.
    Info,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Ok => "ok",
            Status::Degraded => "degraded",
            Status::Failed => "FAILED",
            Status::Info => "info",
        })
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub status: Status,
    pub what: &'static str,
    pub detail: String,
    pub fix: Option<String>,
}

fn finding(status: Status, what: &'static str, detail: impl Into<String>) -> Finding {
    Finding {
        status,
        what,
        detail: detail.into(),
        fix: None,
    }
}

impl Finding {
    fn fix(mut self, fix: impl Into<String>) -> Finding {
        self.fix = Some(fix.into());
        self
    }
}

const BTF: &str = "/sys/kernel/btf/vmlinux";
const TRACEFS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;
const CAP_SYS_PTRACE: u32 = 19;
const SERVICE_ACCOUNT_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// What the process monitor is called in the report.
const PROCESS_MONITOR: &str = "process monitor";

/// Runs every check, in order.
pub fn run_checks(config: &Config) -> Vec<Finding> {
    let mut findings = vec![kernel(), btf(), tracefs(), privileges()];
    let probes = probes(config);
    let reason = match (config.use_ebpf, probes.status) {
        (false, _) => Some("use_ebpf is false".to_owned()),
        (true, Status::Failed) => Some(format!(
            "the eBPF probes {}",
            probes.detail.lines().next().unwrap_or_default()
        )),
        (true, _) => None,
    };
    findings.push(probes);
    if let Some(reason) = reason {
        let fallback = proc_fallback(config, &reason);
        if fallback.status != Status::Failed {
            // What only the probes need does not stop `run` any more: it degrades it.
            for f in &mut findings {
                if f.status == Status::Failed {
                    f.status = Status::Degraded;
                }
            }
        }
        findings.push(fallback);
    }
    findings.extend(plugin_dirs(config));
    findings.extend(conf_dirs(config));
    findings.push(inotify(config));
    findings.push(kubernetes());
    findings
}

/// Writes the report; `true` when the main job can run.
///
/// # Errors
/// When `out` cannot be written.
pub fn report(findings: &[Finding], out: &mut impl Write) -> std::io::Result<bool> {
    for f in findings {
        let detail = f.detail.trim_end().replace('\n', "\n         ");
        writeln!(out, "{:<9}{}: {detail}", f.status.to_string(), f.what)?;
        if let Some(fix) = &f.fix {
            writeln!(out, "         fix: {fix}")?;
        }
    }
    let ok = !findings.iter().any(|f| f.status == Status::Failed);
    let fallback = findings
        .iter()
        .any(|f| f.what == PROCESS_MONITOR && f.status == Status::Degraded);
    match (ok, fallback) {
        (true, false) => writeln!(out, "result: `run` can observe CNI plugin executions here")?,
        (true, true) => writeln!(
            out,
            "result: `run` works here on the /proc fallback only: it misses short plugin \
             executions and never sees their config, result or latency"
        )?,
        (false, _) => writeln!(
            out,
            "result: `run` cannot work here (neither the eBPF probes nor the /proc fallback)"
        )?,
    }
    Ok(ok)
}

fn kernel() -> Finding {
    match fs::read_to_string("/proc/sys/kernel/osrelease") {
        Ok(release) => finding(Status::Info, "kernel", format!("Linux {}", release.trim())),
        Err(e) => finding(
            Status::Degraded,
            "kernel",
            format!("version unknown (/proc/sys/kernel/osrelease: {e})"),
        ),
    }
}

fn btf() -> Finding {
    if Path::new(BTF).exists() {
        finding(
            Status::Ok,
            "BTF",
            format!("{BTF} present (CO-RE probes can load)"),
        )
    } else {
        finding(
            Status::Failed,
            "BTF",
            format!("{BTF} missing: the CO-RE probes cannot be relocated"),
        )
        .fix(
            "use a kernel built with CONFIG_DEBUG_INFO_BTF=y (most distribution kernels since 5.4)",
        )
    }
}

fn tracefs() -> Finding {
    // From the mount table rather than the directory: an unprivileged user cannot read it.
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mounted: Vec<&str> = mounts
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let fstype = right.split(' ').next()?;
            (fstype == "tracefs").then(|| left.split(' ').nth(4))?
        })
        .collect();
    match mounted
        .iter()
        .find(|m| TRACEFS.contains(m))
        .or(mounted.first())
    {
        Some(dir) => finding(Status::Ok, "tracefs", format!("mounted at {dir}")),
        None => finding(
            Status::Failed,
            "tracefs",
            "not mounted: the syscall tracepoints (stdin/stdout capture) cannot attach",
        )
        .fix("mount -t tracefs nodev /sys/kernel/tracing (in a container: mount the host's /sys/kernel/tracing)"),
    }
}

/// The effective capability set of this process, from /proc/self/status.
fn cap_eff() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))?
        .trim();
    u64::from_str_radix(hex, 16).ok()
}

fn privileges() -> Finding {
    let euid = nix::unistd::geteuid();
    let caps = cap_eff();
    let has = |cap: u32| caps.is_some_and(|c| c & (1 << cap) != 0);
    let what = "privileges";
    if euid.is_root() && caps.is_some_and(|c| c & (1 << 21) != 0) {
        // Root with CAP_SYS_ADMIN can do everything the probes need.
        return finding(Status::Ok, what, "running as root with CAP_SYS_ADMIN");
    }
    if has(CAP_BPF) && has(CAP_PERFMON) {
        return finding(
            Status::Ok,
            what,
            format!("CAP_BPF and CAP_PERFMON effective (euid {euid})"),
        );
    }
    let missing: Vec<&str> = [(CAP_BPF, "CAP_BPF"), (CAP_PERFMON, "CAP_PERFMON")]
        .into_iter()
        .filter(|(cap, _)| !has(*cap))
        .map(|(_, name)| name)
        .collect();
    finding(
        Status::Failed,
        what,
        format!(
            "euid {euid}, {} not effective: the probes cannot be loaded",
            missing.join(" and ")
        ),
    )
    .fix("run as root, or grant CAP_BPF and CAP_PERFMON (e.g. systemd AmbientCapabilities=CAP_BPF CAP_PERFMON, or a privileged DaemonSet pod)")
}

fn probes(config: &Config) -> Finding {
    let what = "eBPF probes";
    match tapio_cni_bpf::Probes::load(&config.probes()) {
        Ok(probes) if probes.missing().is_empty() => finding(
            Status::Ok,
            what,
            "loaded and attached: exec/fork/exit, read/write, setns/unshare",
        ),
        Ok(probes) => {
            let missing: Vec<String> = probes.missing().iter().map(ToString::to_string).collect();
            finding(
                Status::Degraded,
                what,
                format!("loaded, with parts missing: {}", missing.join("; ")),
            )
        }
        Err(e) => {
            let first_line = e.to_string();
            finding(
                Status::Failed,
                what,
                format!("cannot be loaded: {first_line}"),
            )
            .fix("see the BTF, tracefs and privileges lines above")
        }
    }
}

/// Whether the /proc fallback can run: /proc listed, and the plugins' environments readable
/// (their `CNI_*` request is there).
fn proc_fallback(config: &Config, reason: &str) -> Finding {
    if config.poll_interval.is_zero() {
        return finding(
            Status::Failed,
            PROCESS_MONITOR,
            "poll_interval is 0s: the /proc fallback cannot scan",
        )
        .fix("set poll_interval (e.g. 1s)");
    }
    if let Err(e) = fs::read_dir("/proc") {
        return finding(
            Status::Failed,
            PROCESS_MONITOR,
            format!("neither the eBPF probes nor the /proc fallback: /proc cannot be listed: {e}"),
        )
        .fix("mount proc at /proc (in a container: hostPID: true and the host's /proc)");
    }
    // The plugins run as root: reading their environment takes root's uid or CAP_SYS_PTRACE.
    let ptrace = cap_eff().is_some_and(|c| c & (1 << CAP_SYS_PTRACE) != 0);
    if !nix::unistd::geteuid().is_root() && !ptrace {
        return finding(
            Status::Failed,
            PROCESS_MONITOR,
            "neither the eBPF probes nor the /proc fallback: the plugins' environments (their \
             CNI_* request) cannot be read without root or CAP_SYS_PTRACE",
        )
        .fix("run as root (or with CAP_SYS_PTRACE)");
    }
    finding(
        Status::Degraded,
        PROCESS_MONITOR,
        format!(
            "/proc scans every {:?} (the fallback), because {reason}: plugin executions shorter \
             than a scan are missed; config, result and latency are not seen; events have \
             origin.monitor \"proc\" and confidence {}",
            config.poll_interval,
            proto::proc::PROC_CONFIDENCE
        ),
    )
    .fix(if config.use_ebpf {
        "see the BTF, tracefs, privileges and eBPF probes lines above".to_owned()
    } else {
        "set use_ebpf: true (TAPIO_CNI_USE_EBPF=true) to observe every execution exactly".to_owned()
    })
}

fn plugin_dirs(config: &Config) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut any = false;
    for dir in &config.cni_bin_path {
        let Ok(entries) = fs::read_dir(dir) else {
            findings.push(finding(
                Status::Info,
                "plugin dir",
                format!("{} absent", dir.display()),
            ));
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| {
                e.metadata()
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        any |= !names.is_empty();
        let detail = if names.is_empty() {
            format!("{}: no plugin binaries", dir.display())
        } else {
            format!(
                "{}: {} plugins: {}",
                dir.display(),
                names.len(),
                names.join(" ")
            )
        };
        findings.push(finding(Status::Ok, "plugin dir", detail));
    }
    if !any {
        findings.push(
            finding(
                Status::Degraded,
                "plugin dirs",
                "no CNI plugin binaries in cni_bin_path: nothing to observe until some are installed",
            )
            .fix("set cni_bin_path (or TAPIO_CNI_BIN_PATH) to where your runtime's CNI plugins live"),
        );
    }
    findings
}

/// Each config directory the file monitor watches, and the config a container runtime would
/// load from it (libcni: the first file by name that loads).
fn conf_dirs(config: &Config) -> Vec<Finding> {
    let dirs = crate::files::FileSettings::from_config(config).conf_dirs;
    dirs.iter()
        .map(|dir| {
            let Ok(entries) = fs::read_dir(dir) else {
                return finding(
                    Status::Info,
                    "CNI config dir",
                    format!("{} absent (picked up when it appears)", dir.display()),
                );
            };
            let mut names: Vec<String> = entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| proto::conf::parse::is_config_name(n))
                .collect();
            names.sort();
            if names.is_empty() {
                return finding(
                    Status::Info,
                    "CNI config dir",
                    format!("{}: no network configs", dir.display()),
                );
            }
            let mut lines = vec![format!("{}: {}", dir.display(), names.join(" "))];
            let mut active = None;
            for name in &names {
                match load(&dir.join(name), name) {
                    Ok(()) => active = active.or(Some(name.as_str())),
                    Err(e) => lines.push(format!("{name} does not load: {e}")),
                }
            }
            match active {
                Some(a) => {
                    lines[0] = format!("{}: active {a}; all: {}", dir.display(), names.join(" "));
                    finding(Status::Info, "CNI config dir", lines.join("\n"))
                }
                None => finding(
                    Status::Info,
                    "CNI config dir",
                    format!(
                        "{}: no loadable network config\n{}",
                        dir.display(),
                        lines[1..].join("\n")
                    ),
                ),
            }
        })
        .collect()
}

/// Whether a config file loads, read with the monitor's bound.
fn load(path: &Path, name: &str) -> Result<(), String> {
    use std::io::Read;
    let Some(kind) = proto::conf::parse::kind_of_name(name) else {
        return Err("not a config name".to_owned());
    };
    let limit = crate::files::FileSettings::default().max_read_bytes;
    let mut bytes = Vec::new();
    fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
        .map_err(|e| e.to_string())?;
    let cut = bytes.len() as u64 > limit;
    proto::conf::parse::parse(kind, &bytes, cut, 0)
        .map(drop)
        .map_err(|e| e.to_string())
}

fn inotify(config: &Config) -> Finding {
    if !config.use_inotify {
        return finding(
            Status::Info,
            "inotify",
            format!(
                "off (use_inotify: false): config and plugin dirs are polled every {:?}",
                config.poll_interval
            ),
        );
    }
    if let Err(e) = inotify::Inotify::init() {
        return finding(
            Status::Degraded,
            "inotify",
            format!(
                "cannot start ({e}): config and plugin dirs will be polled every {:?}",
                config.poll_interval
            ),
        )
        .fix("raise fs.inotify.max_user_instances, or set use_inotify: false to poll on purpose");
    }
    let read = |name: &str| {
        fs::read_to_string(format!("/proc/sys/fs/inotify/{name}"))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
    };
    match (read("max_user_watches"), read("max_user_instances")) {
        (Some(watches), instances) => {
            let instances = instances.map_or_else(|| "?".to_owned(), |n| n.to_string());
            let f = finding(
                if watches < 1024 {
                    Status::Degraded
                } else {
                    Status::Ok
                },
                "inotify",
                format!("max_user_watches {watches}, max_user_instances {instances}"),
            );
            if watches < 1024 {
                f.fix("sysctl fs.inotify.max_user_watches=65536 (file watching falls back to polling)")
            } else {
                f
            }
        }
        (None, _) => finding(
            Status::Degraded,
            "inotify",
            "limits unreadable (/proc/sys/fs/inotify): file watching will poll",
        ),
    }
}

fn kubernetes() -> Finding {
    let host = std::env::var("KUBERNETES_SERVICE_HOST").ok();
    let token = Path::new(SERVICE_ACCOUNT_TOKEN).exists();
    match (host, token) {
        (Some(host), true) => finding(
            Status::Info,
            "Kubernetes",
            format!("in-cluster detected (API server {host}, service account token present); no Kubernetes client in this binary yet: pods are identified from CNI_ARGS"),
        ),
        (Some(host), false) => finding(
            Status::Degraded,
            "Kubernetes",
            format!("KUBERNETES_SERVICE_HOST={host} but no service account token at {SERVICE_ACCOUNT_TOKEN}"),
        )
        .fix("mount the service account token (automountServiceAccountToken: true)"),
        (None, _) => finding(
            Status::Info,
            "Kubernetes",
            "not in a cluster: enrichment off; pods are still identified from CNI_ARGS",
        ),
    }
}
